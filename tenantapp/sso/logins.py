"""A login through the tenant's provider: started with a ``state`` kept in the registry (used
once, for ten minutes, by this tenant only), finished by checking the ID token and the email's
domain, then the user found or made (a member unless the owner's rules map a group to a role),
and the same token a password login gives. Every login and every refusal is audited with the
provider's subject."""

import secrets
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select, text

from .. import audit
from ..errors import APIError, InvalidInput, NotFound
from ..identity.tokens import issue_token
from ..interfaces import IIdentitySettings, service
from ..tenancy.servers import registry_owner
from ..tenancy.sessions import tenant_session
from ..users.actions import within_max_users
from ..users.models import ROLES, User
from . import domains, oidc, providers

LOGIN_MINUTES = 10
KEEP = text(
    "WITH gone AS (DELETE FROM tenantapp.sso_logins"
    " WHERE created_at < now() - make_interval(mins => :minutes))"
    " INSERT INTO tenantapp.sso_logins (state, tenant_id, nonce, code_verifier, next)"
    " VALUES (:state, :tenant_id, :nonce, :verifier, :next)"
)
TAKE = text(
    "DELETE FROM tenantapp.sso_logins WHERE state = :state AND tenant_id = :tenant_id"
    " AND created_at > now() - make_interval(mins => :minutes)"
    " RETURNING nonce, code_verifier, next"
)


class SsoRequired(APIError):
    status = 403
    code = "sso_required"


def provider_of(request):
    found = providers.load(request.registry, request.tenant.record.id)
    if found is None:
        raise NotFound("this tenant has no identity provider")
    return found


def checked_next(request, value: str | None) -> str | None:
    """Where the browser goes after: a path inside this tenant, never another site."""
    if value is None:
        return None
    parts = urlsplit(value)
    prefix = request.resource_path(request.tenant) + "/"
    if parts.scheme or parts.netloc or not value.startswith(prefix) or "\\" in value:
        raise InvalidInput("invalid next", {"next": f"must be a path under {prefix}"})
    return value


def start(request, callback_url: str, next_path: str | None) -> str:
    """The provider's authorization URL for a new login of this tenant."""
    provider = provider_of(request)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    with registry_owner(request.registry).begin() as connection:
        connection.execute(
            KEEP,
            {
                "minutes": LOGIN_MINUTES,
                "state": state,
                "tenant_id": request.tenant.record.id,
                "nonce": nonce,
                "verifier": verifier,
                "next": next_path,
            },
        )
    return oidc.authorization_url(provider, callback_url, state, nonce, verifier)


def finish(request, callback_url: str, state: str, code: str):
    """``(token, expires_at, user, next)``; a refusal raises ``oidc.Refused``, audited. The
    provider comes back with a GET, whose request session only reads: the login writes (the
    user, the token, the audit) in a session of its own, committed here."""
    session = tenant_session(request.registry, request.tenant.record)
    try:
        done = _finish(request, session, callback_url, state, code)
    except oidc.Refused as refusal:
        session.rollback()
        audit.record(
            request,
            "sso.refused",
            refusal.subject,
            actor=f"sso:{refusal.subject or 'unknown'}",
            session=session,
            why=refusal.message,
        )
        session.commit()
        raise
    else:
        session.commit()
        return done
    finally:
        session.close()


def _finish(request, session, callback_url: str, state: str, code: str):
    tenant_id = request.tenant.record.id
    with registry_owner(request.registry).begin() as connection:
        found = connection.execute(
            TAKE, {"state": state, "tenant_id": tenant_id, "minutes": LOGIN_MINUTES}
        ).first()
    if found is None:
        raise oidc.Refused("unknown, used or expired state")
    provider = provider_of(request)
    claims = oidc.identity(provider, callback_url, code, found.code_verifier, found.nonce)
    subject = f"{provider.issuer}#{claims['sub']}"
    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email or claims.get("email_verified") is False:
        raise oidc.Refused("the provider vouched for no email", subject=subject)
    with registry_owner(request.registry).connect() as connection:
        in_domain = domains.proven(connection, tenant_id, email.rsplit("@", 1)[1])
    if not in_domain:
        raise oidc.Refused("the email is not in a domain this tenant has verified", subject=subject)
    user = _member(request, session, provider, claims, email, subject)
    expires_at = datetime.now(UTC) + service(request.registry, IIdentitySettings).token_ttl
    token, _ = issue_token(session, user, expires_at)
    audit.record(
        request,
        "sso.login",
        f"user:{user.id}",
        actor=f"user:{user.id}",
        session=session,
        subject=subject,
    )
    return token, expires_at, user, found.next


def _member(request, session, provider, claims: dict, email: str, subject: str) -> User:
    """The user with this email, or a new one: a member unless a rule maps a group to a role."""
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and not user.active:
        raise oidc.Refused("this user is deactivated", subject=subject)
    if user is not None:
        return user
    within_max_users(request, session)
    name = str(claims.get("name") or email)[:200]
    user = User(email=email, name=name, role=_role(provider, claims))
    session.add(user)
    session.flush()
    audit.record(
        request,
        "user.created",
        f"user:{user.id}",
        actor=f"sso:{subject}",
        session=session,
        email=email,
        via="sso",
    )
    return user


def _role(provider, claims: dict) -> str:
    """The highest role a rule maps one of the user's groups to; member without one."""
    groups = claims.get(provider.role_claim) if provider.role_claim else None
    if isinstance(groups, str):
        groups = [groups]
    mapped = {provider.role_map.get(str(group)) for group in groups or ()} & set(ROLES)
    return next((role for role in ROLES if role in mapped), "member")


def password_gate(request, user: User | None) -> None:
    """Password logins are off where SSO is required, but for the break-glass owner."""
    required, break_glass = providers.requirement(request.registry, request.tenant.record.id)
    if not required:
        return
    if user is not None and user.role == "owner" and user.email == break_glass:
        return
    raise SsoRequired("this tenant signs in through its identity provider only")


def route(request, email: str, next_path: str | None) -> str | None:
    """Identifier first: an email in a domain this tenant proved, where it has a provider,
    signs in there (the console's login asks no password for it)."""
    if "@" not in email:
        return None
    tenant_id = request.tenant.record.id
    with registry_owner(request.registry).connect() as connection:
        in_domain = domains.proven(connection, tenant_id, email.rsplit("@", 1)[1].lower())
    if not in_domain or providers.load(request.registry, tenant_id) is None:
        return None
    query = urlencode({"next": next_path}) if next_path else ""
    return request.link(request.tenant) + "/sso/oidc/login" + (f"?{query}" if query else "")
