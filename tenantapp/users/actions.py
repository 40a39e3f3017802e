"""What can be done to a tenant's users, for the JSON API and the console alike: each takes an
already validated input and raises ``APIError`` for what the caller must be told."""

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..errors import Conflict, InvalidInput
from ..identity import mfa
from ..identity.impersonation import refuse_credentials
from ..interfaces import IPasswordHasher, IRowFilters, service
from ..quotas import check_max_users, quotas
from . import custom_indexes
from .custom import MAX_FIELDS, CustomField, FieldDefinition, checked_custom, field_json
from .models import User
from .schemas import UserCreate, UserUpdate

MAX_USERS_LOCK = 1953853283  # the advisory lock namespace of user-limit checks


def flush_unique(request, email: str) -> None:
    """Flush in a savepoint so a duplicate email becomes a 409, not a failed transaction."""
    try:
        with request.dbsession.begin_nested():
            request.dbsession.flush()
    except IntegrityError:
        raise Conflict(
            "a user with this email already exists", {"email": f"{email} is taken"}
        ) from None


def within_max_users(request, session=None) -> None:
    """The plan's user limit, counted under a per-tenant lock so that two creations at once
    cannot both take the last place (in ``session``, where the user is made, if not the
    request's)."""
    if quotas(request)["max_users"] <= 0:
        return
    session = session or request.dbsession
    session.execute(
        select(func.pg_advisory_xact_lock(MAX_USERS_LOCK, request.tenant.record.id % 2**31))
    )
    check_max_users(request, session.scalar(select(func.count()).select_from(User)))


def keep_an_owner(request, user: User) -> None:
    """A tenant never loses its last owner: someone must be able to manage roles. The owners'
    rows stay locked until the change commits, so two owners removing each other at once
    queue here, and the second sees the first's change."""
    if user.role != "owner":
        return
    owners = request.dbsession.scalars(
        select(User.id).where(User.role == "owner").with_for_update()
    ).all()
    if user.id not in owners or len(owners) <= 1:
        raise Conflict("a tenant must keep at least one owner")


def visible_users(request, where=()) -> tuple[list, object]:
    """The conditions (and a row test, where SQL cannot say it) every list of users applies:
    what features narrow (``authz``: the tenant's policies), the API's and the console's."""
    keep = None
    for rows in service(request.registry, IRowFilters):
        conditions, test = rows(request, User, "view")
        where = [*where, *conditions]
        keep = test if keep is None else (lambda row, a=keep, b=test: a(row) and b(row))
    return where, keep


def add_user(request, data: UserCreate) -> User:
    within_max_users(request)
    user = User(email=data.email, name=data.name, custom=checked_custom(request, data.custom))
    if data.password is not None:
        refuse_credentials(request, "create a user with a password")
        user.password_hash = service(request.registry, IPasswordHasher).hash(data.password)
    request.dbsession.add(user)
    flush_unique(request, data.email)
    audit.record(request, "user.created", f"user:{user.id}", email=user.email)
    return user


def update_user(request, user: User, data: UserUpdate) -> None:
    """Email, name and custom values, as given (left out: unchanged)."""
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send email, name and/or custom")
    if "custom" in changes:
        changes["custom"] = checked_custom(request, changes["custom"], user.custom)
    for name, value in changes.items():
        setattr(user, name, value)
    flush_unique(request, user.email)
    audit.record(request, "user.updated", f"user:{user.id}", fields=sorted(changes))


def remove_user(request, user: User) -> None:
    keep_an_owner(request, user)
    mfa.forget_user(request.dbsession, user.id)
    request.dbsession.delete(user)
    request.dbsession.flush()
    audit.record(request, "user.deleted", f"user:{user.id}", email=user.email)


def change_role(request, user: User, role: str, **how) -> None:
    """``how``: the audit entry's actor and details, where the request's user is not the one
    acting (a directory's token)."""
    before = user.role
    if role != before:
        keep_an_owner(request, user)
        user.role = role
        request.dbsession.flush()
        audit.record(request, "user.role_changed", f"user:{user.id}", old=before, new=role, **how)


def add_field(request, data: FieldDefinition) -> CustomField:
    session = request.dbsession
    if session.get(CustomField, data.name) is not None:
        raise Conflict(f"a custom field {data.name!r} exists", {"name": "taken"})
    if session.scalar(select(func.count()).select_from(CustomField)) >= MAX_FIELDS:
        raise Conflict(f"a tenant has at most {MAX_FIELDS} custom fields")
    if data.indexed:
        _room_for_index(session)
    field = CustomField(**data.model_dump())
    session.add(field)
    session.flush()
    audit.record(request, "field.created", f"field:{field.name}", **field_json(field))
    if field.indexed:
        request.defer(custom_indexes.TASK)
    return field


def set_indexed(request, field: CustomField, indexed: bool) -> None:
    """Mark a field indexed or not; a job builds or drops its index (``custom_indexes``)."""
    if field.sealed and indexed:
        raise InvalidInput("a sealed field is not indexed", {"indexed": "the field is sealed"})
    if indexed and not field.indexed:
        _room_for_index(request.dbsession)
    field.indexed, field.index_error = indexed, None
    request.dbsession.flush()
    audit.record(request, "field.indexed", f"field:{field.name}", indexed=indexed)
    request.defer(custom_indexes.TASK)  # also when unchanged: a failed build is tried again


def _room_for_index(session) -> None:
    indexed = select(func.count()).select_from(CustomField).where(CustomField.indexed)
    if session.scalar(indexed) >= custom_indexes.MAX_INDEXED:
        raise Conflict(f"a tenant has at most {custom_indexes.MAX_INDEXED} indexed fields")


def remove_field(request, field: CustomField) -> None:
    """The definition and every user's value of it."""
    name = field.name
    session = request.dbsession
    session.execute(
        update(User).where(User.custom.has_key(name)).values(custom=User.custom.op("-")(name))
    )
    if field.indexed:
        request.defer(custom_indexes.TASK)  # its index goes too
    session.delete(field)
    audit.record(request, "field.removed", f"field:{name}")
