"""Logging in (``POST /{tenant}/tokens``), logging out (``DELETE``), and 401 versus 403."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.traversal import find_interface
from pyramid.view import forbidden_view_config, view_config

from .. import audit
from ..errors import error_body
from ..interfaces import IPlatform
from ..users.schemas import user_json
from ..validation import validated_body
from .login import Login, log_in
from .resources import Tokens
from .tokens import revoke_token

BEARER_CHALLENGE = 'Bearer realm="tenantapp"'


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
    return {
        "token": token,
        "token_type": "Bearer",
        "expires_at": expires_at.isoformat(),
        "user": user_json(user),
    }


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
