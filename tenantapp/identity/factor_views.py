"""A user's own second factor: ``POST /{tenant}/users/{id}/totp`` (a new secret, pending),
``PUT`` (its first code turns it on: recovery codes, once), ``DELETE`` (off; an admin may turn
off a member's lost factor, as they may set a member's password)."""

from functools import partial
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from .. import audit
from ..errors import Forbidden
from ..openapi import TENANT, USER_ID, Operation
from ..users.resources import UserResource
from ..validation import validated_body
from . import mfa
from .views import Enrolment


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="each works once; shown only now")


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


TOTP = "/{tenant}/users/{user_id}/totp"
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
)
