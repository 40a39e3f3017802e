"""Logging in (``POST /{tenant}/tokens``), logging out (``DELETE``), and 401 versus 403."""

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.traversal import find_interface
from pyramid.view import forbidden_view_config, view_config
from sqlalchemy import select
from sqlalchemy.orm import undefer

from .. import audit
from ..errors import APIError, error_body
from ..interfaces import IPlatform
from ..users.models import User
from ..users.schemas import user_json
from ..validation import PlainText, lowercase_email, validated_body
from .passwords import verify_password
from .resources import Tokens
from .throttle import clear_failures, lock_and_check, record_failure
from .tokens import issue_token, revoke_token

BEARER_CHALLENGE = 'Bearer realm="tenantapp"'


class TooManyAttempts(APIError):
    status = 429
    code = "too_many_attempts"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: Annotated[
        PlainText,
        StringConstraints(strip_whitespace=True, min_length=1),
        AfterValidator(lowercase_email),
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


@view_config(
    context=Tokens, request_method="POST", renderer="json", permission=NO_PERMISSION_REQUIRED
)
def issue(context: Tokens, request):
    data = validated_body(request, Login)
    email = data.email
    session = request.dbsession
    policy = request.registry["login_throttle"]
    wait = lock_and_check(session, email, policy)
    if wait is not None:
        raise TooManyAttempts(
            f"too many failed logins: try again in {wait} s", headers={"Retry-After": str(wait)}
        )
    user = session.scalar(
        select(User).where(User.email == email).options(undefer(User.password_hash))
    )
    hasher = request.registry["password_hasher"]
    if not verify_password(hasher, user.password_hash if user else None, data.password):
        record_failure(session, email, policy)
        audit.record(request, "login.failed", f"email:{email}", actor=f"email:{email}")
        # Returned, not raised: pyramid_tm must commit the failure count and the audit entry.
        request.response.status_int = 401
        request.response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        return error_body("invalid_credentials", "email or password is wrong")
    clear_failures(session, email)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(data.password)
    expires_at = datetime.now(timezone.utc) + request.registry["token_ttl"]
    token, _ = issue_token(session, user, expires_at)
    audit.record(request, "token.issued", f"user:{user.id}", actor=f"user:{user.id}")
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
