"""JSON views of a tenant's users. They act on the context traversal hands them."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from .. import audit
from ..identity.tokens import revoke_user_tokens
from ..interfaces import IPasswordHasher, service
from ..openapi import PAGE, TENANT, USER_ID, Operation
from ..pagination import keyset_page
from ..validation import validated_body
from . import actions
from .actions import add_user, change_role, remove_user, visible_users
from .custom import custom_filters
from .models import User
from .resources import UserResource, Users
from .schemas import (
    PasswordChange,
    RoleChange,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
    user_json,
)


@view_config(context=Users, request_method="GET", renderer="json", permission="view")
def list_users(context: Users, request):
    """``?custom.NAME=VALUE`` keeps the users whose custom field has that value."""
    where, carry = custom_filters(request)
    where, keep = visible_users(request, where)
    return keyset_page(request, context, User.id, user_json, where=where, carry=carry, keep=keep)


@view_config(context=Users, request_method="POST", renderer="json", permission="create")
def create_user(context: Users, request):
    user = add_user(request, validated_body(request, UserCreate))
    request.response.status_int = 201
    request.response.location = request.link(context.child(user))
    return user_json(user)


@view_config(context=UserResource, request_method="GET", renderer="json", permission="view")
def get_user(context: UserResource, request):
    return user_json(context.user)


@view_config(context=UserResource, request_method="PATCH", renderer="json", permission="update")
def update_user(context: UserResource, request):
    actions.update_user(request, context.user, validated_body(request, UserUpdate))
    return user_json(context.user)


@view_config(context=UserResource, request_method="DELETE", permission="delete")
def delete_user(context: UserResource, request):
    remove_user(request, context.user)
    return HTTPNoContent()


@view_config(
    context=UserResource, name="role", request_method="PUT", renderer="json", permission="set-role"
)
def set_role(context: UserResource, request):
    change_role(request, context.user, validated_body(request, RoleChange).role)
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
    context.user.password_hash = service(request.registry, IPasswordHasher).hash(password)
    request.dbsession.flush()
    keep = request.identity.token if request.identity.userid == f"user:{context.user.id}" else None
    revoked = revoke_user_tokens(request.dbsession, context.user.id, keep=keep)
    audit.record(
        request, "user.password_changed", f"user:{context.user.id}", tokens_revoked=revoked
    )
    return HTTPNoContent()


USERS = "/{tenant}/users"
USER = "/{tenant}/users/{user_id}"
OPERATIONS = (
    Operation(Users, "", "GET", USERS, "List users", params=(TENANT, *PAGE), returns=UserPage),
    Operation(
        Users, "", "POST", USERS, "Add a user", 201, UserCreate, params=(TENANT,), returns=UserOut
    ),
    Operation(UserResource, "", "GET", USER, "A user", params=(TENANT, USER_ID), returns=UserOut),
    Operation(
        UserResource,
        "",
        "PATCH",
        USER,
        "Change a user",
        body=UserUpdate,
        params=(TENANT, USER_ID),
        returns=UserOut,
    ),
    Operation(UserResource, "", "DELETE", USER, "Remove a user", 204, params=(TENANT, USER_ID)),
    Operation(
        UserResource,
        "role",
        "PUT",
        USER + "/role",
        "Set a role",
        200,
        RoleChange,
        params=(TENANT, USER_ID),
        returns=UserOut,
    ),
    Operation(
        UserResource,
        "password",
        "PUT",
        USER + "/password",
        "Set a password",
        204,
        PasswordChange,
        params=(TENANT, USER_ID),
    ),
)
