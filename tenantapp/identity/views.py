"""Logging in (``POST /{tenant}/tokens``), logging out (``DELETE``), and 401 versus 403."""

from typing import Literal

from pydantic import BaseModel
from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.traversal import find_interface
from pyramid.view import forbidden_view_config, view_config

from .. import audit
from ..errors import error_body
from ..interfaces import IPlatform
from ..openapi import TENANT, Operation
from ..users.schemas import UserOut, user_out
from ..validation import Timestamp, validated_body
from .login import Login, log_in
from .resources import Tokens
from .tokens import revoke_token

BEARER_CHALLENGE = 'Bearer realm="tenantapp"'


class TokenOut(BaseModel):
    """A token issued: by a login, or to an operator acting as a user."""

    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_at: Timestamp
    user: UserOut


@view_config(
    context=Tokens, request_method="POST", renderer="json", permission=NO_PERMISSION_REQUIRED
)
def issue(context: Tokens, request):
    session = log_in(request, validated_body(request, Login))
    if session is None:
        # Returned, not raised: pyramid_tm must commit the failure count and the audit entry.
        request.response.status_int = 401
        request.response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        return error_body("invalid_credentials", "email or password is wrong")
    token, expires_at, user = session
    request.response.status_int = 201
    return TokenOut(token=token, expires_at=expires_at, user=user_out(user)).model_dump()


@view_config(context=Tokens, request_method="DELETE", permission="logout")
def revoke(context: Tokens, request):
    revoke_token(request.dbsession, request.identity.token)
    audit.record(request, "token.revoked", request.identity.userid)
    return HTTPNoContent()


@forbidden_view_config(renderer="json")
def forbidden(exc, request):
    """No identity: 401, so the client knows to authenticate. An identity: 403."""
    if request.identity is None:
        request.response.status_int = 401
        request.response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        if find_interface(request.context, IPlatform) is not None:
            return error_body("unauthorized", "a valid operator token is required")
        return error_body("unauthorized", "a valid bearer token for this tenant is required")
    request.response.status_int = 403
    return error_body("forbidden", "your role does not allow this")


OPERATIONS = (
    Operation(
        Tokens,
        "",
        "POST",
        "/{tenant}/tokens",
        "Log in",
        201,
        Login,
        None,
        (TENANT,),
        (400, 401, 403, 404, 413, 415, 429, 503),
        returns=TokenOut,
    ),
    Operation(Tokens, "", "DELETE", "/{tenant}/tokens", "Log out", 204, params=(TENANT,)),
)
