"""JSON views of a tenant's users. They act on the context traversal hands them."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..errors import Conflict, InvalidInput
from ..identity.tokens import revoke_user_tokens
from ..pagination import keyset_page
from ..quotas import check_max_users, quotas
from ..validation import validated_body
from .custom import checked_custom, custom_filters
from .models import User
from .resources import UserResource, Users
from .schemas import PasswordChange, RoleChange, UserCreate, UserUpdate, user_json

MAX_USERS_LOCK = 1953853283  # the advisory lock namespace of user-limit checks


def _flush_unique(request, email: str) -> None:
    """Flush in a savepoint so a duplicate email becomes a 409, not a failed transaction."""
    try:
        with request.dbsession.begin_nested():
            request.dbsession.flush()
    except IntegrityError:
        raise Conflict(
            "a user with this email already exists", {"email": f"{email} is taken"}
        ) from None


def _within_max_users(request) -> None:
    """The plan's user limit, counted under a per-tenant lock so that two creations at once
    cannot both take the last place."""
    if quotas(request)["max_users"] <= 0:
        return
    request.dbsession.execute(
        select(func.pg_advisory_xact_lock(MAX_USERS_LOCK, request.tenant.record.id % 2**31))
    )
    check_max_users(request, request.dbsession.scalar(select(func.count()).select_from(User)))


def _keep_an_owner(request, user: User) -> None:
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


@view_config(context=Users, request_method="GET", renderer="json", permission="view")
def list_users(context: Users, request):
    """``?custom.NAME=VALUE`` keeps the users whose custom field has that value."""
    where, carry = custom_filters(request)
    return keyset_page(request, context, User.id, user_json, where=where, carry=carry)


@view_config(context=Users, request_method="POST", renderer="json", permission="create")
def create_user(context: Users, request):
    data = validated_body(request, UserCreate)
    _within_max_users(request)
    user = User(email=data.email, name=data.name, custom=checked_custom(request, data.custom))
    if data.password is not None:
        user.password_hash = request.registry["password_hasher"].hash(data.password)
    request.dbsession.add(user)
    _flush_unique(request, data.email)
    audit.record(request, "user.created", f"user:{user.id}", email=user.email)
    request.response.status_int = 201
    request.response.location = request.link(context.child(user))
    return user_json(user)


@view_config(context=UserResource, request_method="GET", renderer="json", permission="view")
def get_user(context: UserResource, request):
    return user_json(context.user)


@view_config(context=UserResource, request_method="PATCH", renderer="json", permission="update")
def update_user(context: UserResource, request):
    changes = validated_body(request, UserUpdate).model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send email, name and/or custom")
    if "custom" in changes:
        changes["custom"] = checked_custom(request, changes["custom"], context.user.custom)
    for name, value in changes.items():
        setattr(context.user, name, value)
    _flush_unique(request, context.user.email)
    audit.record(request, "user.updated", f"user:{context.user.id}", fields=sorted(changes))
    return user_json(context.user)


@view_config(context=UserResource, request_method="DELETE", permission="delete")
def delete_user(context: UserResource, request):
    _keep_an_owner(request, context.user)
    request.dbsession.delete(context.user)
    request.dbsession.flush()
    audit.record(request, "user.deleted", f"user:{context.user.id}", email=context.user.email)
    return HTTPNoContent()


@view_config(
    context=UserResource, name="role", request_method="PUT", renderer="json", permission="set-role"
)
def set_role(context: UserResource, request):
    role = validated_body(request, RoleChange).role
    before = context.user.role
    if role != before:
        _keep_an_owner(request, context.user)
        context.user.role = role
        request.dbsession.flush()
        audit.record(request, "user.role_changed", f"user:{context.user.id}", old=before, new=role)
    return user_json(context.user)


@view_config(
    context=UserResource,
    name="password",
    request_method="PUT",
    permission="set-password",
)
def set_password(context: UserResource, request):
    """A new password ends every session made with the old one: all of the user's tokens are
    revoked, except the one making this request when users change their own."""
    password = validated_body(request, PasswordChange).password
    context.user.password_hash = request.registry["password_hasher"].hash(password)
    request.dbsession.flush()
    keep = request.identity.token if request.identity.userid == f"user:{context.user.id}" else None
    revoked = revoke_user_tokens(request.dbsession, context.user.id, keep=keep)
    audit.record(
        request, "user.password_changed", f"user:{context.user.id}", tokens_revoked=revoked
    )
    return HTTPNoContent()
