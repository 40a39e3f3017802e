"""A user's own second factors. TOTP: ``POST /{tenant}/users/{id}/totp`` (a new secret,
pending), ``PUT`` (its first code turns it on: recovery codes, once), ``DELETE`` (off).
Passkeys: ``POST …/passkey-options`` (a registration for ``navigator.credentials.create``),
``POST …/passkeys`` (its answer, checked and kept), ``GET …/passkeys``, ``DELETE
…/passkeys?id=``. Only the user adds their own; an admin may remove a member's lost factor,
as they may set a member's password."""

from functools import partial
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from .. import audit
from ..errors import Forbidden, InvalidInput
from ..openapi import TENANT, USER_ID, Operation
from ..users.resources import UserResource
from ..validation import PlainText, Timestamp, query_params, validated_body
from . import login, mfa, passkeys
from .views import Enrolment


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="each works once; shown only now")


class PasskeyRegistration(BaseModel):
    registration: str = Field(description="for POST …/passkeys, with the browser's answer")
    options: dict = Field(description="for navigator.credentials.create (as JSON)")


class NewPasskey(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    registration: Annotated[str, StringConstraints(max_length=200)]
    credential: dict = Field(description="what navigator.credentials.create answered (toJSON())")
    name: Annotated[PlainText, StringConstraints(min_length=1, max_length=100)] = "passkey"


class PasskeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None


class PasskeyList(BaseModel):
    items: list[PasskeyOut]


totp_view = partial(
    view_config, context=UserResource, name="totp", renderer="json", permission="set-password"
)


def _own(context: UserResource, request) -> None:
    if request.identity.userid != f"user:{context.user.id}" or request.identity.impersonator:
        raise Forbidden("only the user sets up their own second factor")


@totp_view(request_method="POST")
def begin(context: UserResource, request):
    _own(context, request)
    return mfa.begin_enrolment(context.user, context.user.email)


@totp_view(request_method="PUT")
def confirm(context: UserResource, request):
    _own(context, request)
    codes = mfa.confirm(request.dbsession, context.user, validated_body(request, CodeIn).code)
    audit.record(request, "mfa.enabled", f"user:{context.user.id}")
    return RecoveryCodes(recovery_codes=codes).model_dump()


@totp_view(request_method="DELETE", renderer=None)
def turn_off(context: UserResource, request):
    mfa.turn_off(request.dbsession, context.user)
    audit.record(request, "mfa.disabled", f"user:{context.user.id}")
    return HTTPNoContent()


passkey_view = partial(view_config, context=UserResource, renderer="json")


@passkey_view(name="passkey-options", request_method="POST", permission="set-password")
def passkey_options(context: UserResource, request):
    _own(context, request)
    registration = passkeys.registration_options(request, context.user)
    return PasskeyRegistration(**registration).model_dump()


@passkey_view(name="passkeys", request_method="POST", permission="set-password")
def add_passkey(context: UserResource, request):
    _own(context, request)
    given = validated_body(request, NewPasskey)
    made = login.add_passkey(
        request, context.user, given.registration, given.credential, given.name
    )
    request.response.status_int = 201
    return PasskeyOut.model_validate(made).model_dump()


@passkey_view(name="passkeys", request_method="GET", permission="set-password")
def list_passkeys(context: UserResource, request):
    found = passkeys.of_user(request.dbsession, context.user.id)
    return PasskeyList(items=[PasskeyOut.model_validate(p) for p in found]).model_dump()


@passkey_view(name="passkeys", request_method="DELETE", renderer=None, permission="set-password")
def remove_passkey(context: UserResource, request):
    given = query_params(request).get("id", "")
    if not given.isdigit() or len(given) > 18:
        raise InvalidInput("which passkey?", {"id": "the id of one of the user's passkeys"})
    login.remove_passkey(request, context.user, int(given))
    return HTTPNoContent()


TOTP = "/{tenant}/users/{user_id}/totp"
PASSKEYS = "/{tenant}/users/{user_id}/passkeys"
OPERATIONS = (
    Operation(
        UserResource,
        "totp",
        "POST",
        TOTP,
        "Set up a TOTP factor",
        params=(TENANT, USER_ID),
        returns=Enrolment,
    ),
    Operation(
        UserResource,
        "totp",
        "PUT",
        TOTP,
        "Turn it on with a code",
        200,
        CodeIn,
        params=(TENANT, USER_ID),
        returns=RecoveryCodes,
    ),
    Operation(
        UserResource,
        "totp",
        "DELETE",
        TOTP,
        "Turn it off",
        204,
        params=(TENANT, USER_ID),
    ),
    Operation(
        UserResource,
        "passkey-options",
        "POST",
        "/{tenant}/users/{user_id}/passkey-options",
        "Begin adding a passkey",
        params=(TENANT, USER_ID),
        returns=PasskeyRegistration,
    ),
    Operation(
        UserResource,
        "passkeys",
        "POST",
        PASSKEYS,
        "Add a passkey",
        201,
        NewPasskey,
        params=(TENANT, USER_ID),
        returns=PasskeyOut,
    ),
    Operation(
        UserResource,
        "passkeys",
        "GET",
        PASSKEYS,
        "The user's passkeys",
        params=(TENANT, USER_ID),
        returns=PasskeyList,
    ),
    Operation(
        UserResource,
        "passkeys",
        "DELETE",
        PASSKEYS,
        "Remove a passkey",
        204,
        params=(
            TENANT,
            USER_ID,
            {"name": "id", "in": "query", "required": True, "schema": {"type": "integer"}},
        ),
    ),
)
