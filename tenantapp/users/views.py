"""JSON views of a tenant's users. They act on the context traversal hands them."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, InvalidInput
from ..validation import validated_body
from .models import User
from .resources import MAX_ID, UserResource, Users
from .schemas import UserCreate, UserUpdate, user_json

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _int_param(request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidInput(
            f"invalid query parameter {name!r}",
            {name: f"must be a whole number from {low} to {high}"},
        )
    return int(raw)


def _flush_unique(request, email: str) -> None:
    """Flush in a savepoint so a duplicate email becomes a 409, not a failed transaction."""
    try:
        with request.dbsession.begin_nested():
            request.dbsession.flush()
    except IntegrityError:
        raise Conflict(
            "a user with this email already exists", {"email": f"{email} is taken"}
        ) from None


@view_config(context=Users, request_method="GET", renderer="json")
def list_users(context: Users, request):
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    after = _int_param(request, "after", 0, 0, MAX_ID)
    rows = request.dbsession.scalars(
        select(User).where(User.id > after).order_by(User.id).limit(limit + 1)
    ).all()
    page = rows[:limit]
    next_url = None
    if len(rows) > limit:
        next_url = request.resource_url(context, query={"limit": limit, "after": page[-1].id})
    return {"items": [user_json(user) for user in page], "limit": limit, "next": next_url}


@view_config(context=Users, request_method="POST", renderer="json")
def create_user(context: Users, request):
    data = validated_body(request, UserCreate)
    user = User(email=data.email, name=data.name)
    request.dbsession.add(user)
    _flush_unique(request, data.email)
    request.response.status_int = 201
    request.response.location = request.resource_url(context.child(user))
    return user_json(user)


@view_config(context=UserResource, request_method="GET", renderer="json")
def get_user(context: UserResource, request):
    return user_json(context.user)


@view_config(context=UserResource, request_method="PATCH", renderer="json")
def update_user(context: UserResource, request):
    changes = validated_body(request, UserUpdate).model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send email and/or name")
    for name, value in changes.items():
        setattr(context.user, name, value)
    _flush_unique(request, context.user.email)
    return user_json(context.user)


@view_config(context=UserResource, request_method="DELETE")
def delete_user(context: UserResource, request):
    request.dbsession.delete(context.user)
    request.dbsession.flush()
    return HTTPNoContent()
