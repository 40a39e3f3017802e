"""What tenantapp's own tables hold about a user, and how it is erased.

Erasing removes the person's row and everything hanging on it (tokens, factors, challenges,
group memberships, the files their fields name, the login throttle of their email) and
pseudonymises what others' records keep of them: audit entries keep their opaque id
(``user:ID``) and lose the email and name; files they uploaded for the tenant stay, without
the uploader.
"""

from sqlalchemy import delete, or_, select, update

from ..audit.models import AuditEntry
from ..files import actions as files
from ..files.models import StoredFile
from ..identity import mfa
from ..identity.models import LoginChallenge, LoginThrottle, Passkey, RecoveryCode, Token
from ..identity.tokens import revoke_user_tokens
from ..jobs.models import JobTicket
from ..scim.models import DirectoryGroup, GroupMember
from ..users.custom import CustomField, opened
from ..users.models import User
from ..users.schemas import user_json
from .declarations import Hooks

ERASED = "[erased]"
PERSONAL_KEYS = {"email", "name", "user_name", "display"}  # in the details of entries about them


def _user(request, user: User) -> dict:
    return {
        **user_json(user),
        "user_name": user.user_name,
        "external_id": user.external_id,
        "second_factor": "totp" if user.totp_enabled else None,
    }


def _erase_user(request, user: User) -> None:
    mfa.forget_user(request.dbsession, user.id)
    request.dbsession.delete(user)
    request.dbsession.flush()


def _tokens(request, user: User) -> list[dict]:
    rows = request.dbsession.scalars(select(Token).where(Token.user_id == user.id))
    return [
        {
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat(),
            "made_by_an_operator": t.impersonated_by,
        }
        for t in rows
    ]


def _erase_tokens(request, user: User) -> None:
    revoke_user_tokens(request.dbsession, user.id)  # the caches hear it from the trigger


def _throttle(request, user: User) -> list[dict]:
    row = request.dbsession.get(LoginThrottle, user.email)
    return [] if row is None else [{"failed_logins": row.failures}]


def _erase_throttle(request, user: User) -> None:
    request.dbsession.execute(delete(LoginThrottle).where(LoginThrottle.email == user.email))


def _passkeys(request, user: User) -> list[dict]:
    rows = request.dbsession.scalars(select(Passkey).where(Passkey.user_id == user.id))
    return [
        {
            "name": p.name,
            "created_at": p.created_at.isoformat(),
            "last_used_at": p.last_used_at and p.last_used_at.isoformat(),
        }
        for p in rows
    ]


def _recovery_codes(request, user: User) -> dict:
    codes = request.dbsession.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id)
    ).all()
    return {"issued": len(codes), "used": sum(code.used_at is not None for code in codes)}


def _groups(request, user: User) -> list[dict]:
    rows = request.dbsession.execute(
        select(DirectoryGroup.display_name, GroupMember.display)
        .join(GroupMember, GroupMember.group_id == DirectoryGroup.id)
        .where(GroupMember.user_id == user.id)
    )
    return [{"group": group, "listed_as": shown} for group, shown in rows]


def _erase_groups(request, user: User) -> None:
    request.dbsession.execute(delete(GroupMember).where(GroupMember.user_id == user.id))


def _names(user: User) -> list[str]:
    """How entries name the person: their id, their email (a login tried with it)."""
    return [f"user:{user.id}", user.email, f"email:{user.email}"]


def _naming(user: User):
    return or_(
        AuditEntry.actor.in_(_names(user)),
        AuditEntry.target.in_(_names(user)),
        AuditEntry.detail.contains({"email": user.email}),
    )


def _audit(request, user: User) -> list[dict]:
    query = select(AuditEntry).where(_naming(user)).order_by(AuditEntry.id)
    rows = request.dbsession.scalars(query)
    return [
        {
            "occurred_at": e.occurred_at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
        }
        for e in rows
    ]


def _erase_audit(request, user: User) -> None:
    """The entries stay (who did what, when): the person in them becomes ``user:ID``."""
    known = {user.email, user.name} - {None, ""}
    opaque = f"user:{user.id}"
    for entry in request.dbsession.scalars(select(AuditEntry).where(_naming(user))):
        about = entry.target in _names(user)  # its details are theirs, whatever they were called
        if entry.actor in _names(user):
            entry.actor = opaque
        if about:
            entry.target = opaque
        if entry.detail:
            entry.detail = {
                key: ERASED
                if isinstance(value, str) and (value in known or (about and key in PERSONAL_KEYS))
                else value
                for key, value in entry.detail.items()
            }
    request.dbsession.flush()


def _their_files(request, user: User) -> list[StoredFile]:
    """Files the person uploaded, and files their own fields name (a photo of them)."""
    custom = opened(request.dbsession, user.custom)
    fields = request.dbsession.scalars(select(CustomField.name).where(CustomField.type == "file"))
    named = {custom[name] for name in fields if isinstance(custom.get(name), int)}
    return list(
        request.dbsession.scalars(
            select(StoredFile)
            .where(or_(StoredFile.uploaded_by == user.id, StoredFile.id.in_(named)))
            .order_by(StoredFile.id)
        )
    )


def _files(request, user: User) -> list[dict]:
    return [
        {"id": f.id, "name": f.name, "size": f.size, "uploaded_by_them": f.uploaded_by == user.id}
        for f in _their_files(request, user)
    ]


def _file_contents(request, user: User):
    for stored in _their_files(request, user):
        yield f"files/{stored.id}-{stored.name}", files.read_file(request, stored.id)


def _erase_files(request, user: User) -> None:
    """Files their fields name are about them: removed. Files they uploaded are the tenant's:
    kept, without the uploader."""
    for stored in _their_files(request, user):
        if stored.uploaded_by != user.id:
            files.quarantine(request, stored.id, "the person it is about was erased")
    request.dbsession.execute(
        update(StoredFile).where(StoredFile.uploaded_by == user.id).values(uploaded_by=None)
    )


def _challenges_erase(request, user: User) -> None:
    request.dbsession.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user.id))


DECLARATIONS = {
    User: Hooks("user", _user, _erase_user),
    Token: Hooks("tokens", _tokens, _erase_tokens),
    LoginThrottle: Hooks("login_throttle", _throttle, _erase_throttle),
    LoginChallenge: Hooks("login_challenges", None, _challenges_erase),  # minutes-long
    RecoveryCode: Hooks("recovery_codes", _recovery_codes, None),  # with the user's row
    Passkey: Hooks("passkeys", _passkeys, None),  # with the user's row
    DirectoryGroup: Hooks("scim_groups", holds_none=True),  # the directory's group names
    GroupMember: Hooks("groups", _groups, _erase_groups),
    AuditEntry: Hooks("audit", _audit, _erase_audit),
    StoredFile: Hooks("files", _files, _erase_files, _file_contents),
    CustomField: Hooks("custom_fields", holds_none=True),  # definitions; values: ``user``
    JobTicket: Hooks("job_tickets", holds_none=True),  # jobs queued; their effects are rows
}
