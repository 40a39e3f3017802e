"""Logging in (``POST /{tenant}/tokens``), logging out (``DELETE``), and 401 versus 403."""

from functools import partial
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
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
from . import mfa
from .login import Login, log_in, second_step
from .resources import Tokens
from .tokens import revoke_token

BEARER_CHALLENGE = 'Bearer realm="tenantapp"'


class TokenOut(BaseModel):
    """A token issued: by a login, or to an operator acting as a user."""

    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_at: Timestamp
    user: UserOut


# a login's steps: before any token, so open to anyone
login_step = partial(
    view_config,
    context=Tokens,
    request_method="POST",
    renderer="json",
    permission=NO_PERMISSION_REQUIRED,
)


@login_step()
def issue(context: Tokens, request):
    session = log_in(request, validated_body(request, Login))
    if session is None:
        # Returned, not raised: pyramid_tm must commit the failure count and the audit entry.
        request.response.status_int = 401
        request.response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
        return error_body("invalid_credentials", "email or password is wrong")
    if isinstance(session, mfa.SecondStep):
        return SecondStepOut(
            second_factor=session.kind,
            challenge=session.challenge,
            expires_at=session.expires_at,
            passkey=session.passkey,
        ).model_dump(exclude_none=True)
    token, expires_at, user = session
    request.response.status_int = 201
    return TokenOut(token=token, expires_at=expires_at, user=user_out(user)).model_dump()


class SecondStepOut(BaseModel):
    """A password login whose second factor is due: no token yet."""

    second_factor: Literal["verify", "enrol"]
    challenge: str = Field(description="for POST /{tenant}/tokens/second-factor (and /enrolment)")
    expires_at: Timestamp
    passkey: dict | None = Field(
        None, description="options for navigator.credentials.get, when the user has passkeys"
    )


class SecondFactor(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    challenge: Annotated[str, StringConstraints(max_length=200)]
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    recovery_code: Annotated[str, StringConstraints(max_length=40)] | None = None
    passkey: dict | None = Field(
        None, description="the assertion navigator.credentials.get answered (its toJSON())"
    )


class Challenged(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    challenge: Annotated[str, StringConstraints(max_length=200)]


class Enrolment(BaseModel):
    secret: str = Field(description="base32, for an authenticator app")
    uri: str = Field(description="otpauth:// URI (for a QR code)")


class TokenWithCodes(TokenOut):
    recovery_codes: list[str] | None = Field(None, description="shown once, at enrolment")


@login_step(name="second-factor")
def second_factor(context: Tokens, request):
    """The token, for a challenge and a code of the user's factor (or a recovery code); for
    an enrolment challenge, the first code of the new factor turns it on. A wrong code is
    answered, not raised: its attempt must be counted."""
    data = validated_body(request, SecondFactor)
    done = second_step(request, data.challenge, data.code, data.recovery_code, data.passkey)
    if isinstance(done, mfa.WrongCode):
        request.response.status_int = done.status
        return error_body(done.code, done.message)
    token, expires_at, user, codes = done
    request.response.status_int = 201
    body = TokenWithCodes(token=token, expires_at=expires_at, user=user_out(user))
    body.recovery_codes = codes
    return body.model_dump(exclude_none=True)


@login_step(name="enrolment")
def enrolment(context: Tokens, request):
    """The secret of a factor the tenant requires, for an enrolment challenge."""
    _, user = mfa.challenged(request.dbsession, validated_body(request, Challenged).challenge)
    if user.totp_enabled:
        raise mfa.ChallengeRefused("this user has a factor already: log in with it")
    return mfa.begin_enrolment(user, user.email)


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
        more=((200, SecondStepOut),),
    ),
    Operation(
        Tokens,
        "second-factor",
        "POST",
        "/{tenant}/tokens/second-factor",
        "Log in: the second factor",
        201,
        SecondFactor,
        None,
        (TENANT,),
        (400, 401, 403, 404, 413, 415, 429, 503),
        returns=TokenWithCodes,
    ),
    Operation(
        Tokens,
        "enrolment",
        "POST",
        "/{tenant}/tokens/enrolment",
        "Log in: set up the factor the tenant requires",
        200,
        Challenged,
        None,
        (TENANT,),
        (400, 401, 403, 404, 413, 415, 429, 503),
        returns=Enrolment,
    ),
    Operation(Tokens, "", "DELETE", "/{tenant}/tokens", "Log out", 204, params=(TENANT,)),
)
