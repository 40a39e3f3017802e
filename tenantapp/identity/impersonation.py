"""Impersonation for support: an operator gets a short-lived token acting as one of a tenant's
users, unless the tenant forbids it (its owner-editable setting ``allow_impersonation``).

``POST /-/tenants/{slug}/impersonation`` with the user, the operator's own name and a reason
writes ``impersonation.started`` to the tenant's audit log and answers the token (at most an
hour). Every request made with it is written there too (``impersonation.used``, before it is
served) and every change it makes names ``operator:NAME as user:ID``. Turning the setting off
revokes the tokens already given out (turning it back on does not bring them back), by the
owner or the operator. It never touches credentials: no
password set (``CREDENTIALS``), no user created with one.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pyramid.view import view_config

from ..audit.models import AuditEntry
from ..errors import APIError, NotFound
from ..interfaces import ISettingsCatalog, service
from ..openapi import MANAGED, SLUG, Operation
from ..pagination import MAX_ID
from ..platform.resources import ManagedTenant
from ..tenancy.directory import find_tenant
from ..tenancy.sessions import tenant_session
from ..users.models import User
from ..users.schemas import user_out
from ..validation import PlainText, Text, validated_body
from .tokens import issue_token, revoke_impersonations
from .views import TokenOut

SETTING = "allow_impersonation"
DECLARATION = "bool true owner"  # tenantapp.setting.allow_impersonation: the owner decides
MAX_MINUTES = 60
# what an impersonation may never do: change how the user proves who they are (a password it
# chose would outlive the token and its audit trail)
CREDENTIALS = frozenset({"set-password"})


class ImpersonationOut(TokenOut):
    operator: str  # who acts as the user


class ImpersonationForbidden(APIError):
    status = 403
    code = "impersonation_forbidden"


class ImpersonationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    operator: Annotated[
        PlainText, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    reason: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    minutes: Annotated[int, Field(ge=1, le=MAX_MINUTES)] = 15


def refuse_credentials(request, what: str) -> None:
    """Refuse ``what`` (a credential being set) to a request made with an impersonation."""
    identity = request.identity
    if identity is not None and identity.impersonator:
        raise ImpersonationForbidden(f"an impersonation cannot {what}")


def withdrawn(settings: dict) -> bool:
    """Whether a change of settings turns impersonation off."""
    return settings.get(SETTING) is False


def revoke_all(session) -> int:
    """The tenant no longer allows impersonation: every impersonation token goes."""
    return revoke_impersonations(session)


def allowed(registry, entry) -> bool:
    return bool(service(registry, ISettingsCatalog).values(entry)[SETTING])


def impersonating(request, identity, operator: str):
    """``identity`` with its impersonator, once this use is in the tenant's audit log (in a
    transaction of its own: a read is recorded too); None while the tenant forbids it."""
    tenant = request.tenant
    if not tenant.settings[SETTING]:
        return None
    acting = replace(identity, impersonator=operator)
    session = tenant_session(request.registry, tenant.record)
    try:
        session.add(
            AuditEntry(
                actor=acting.actor,
                action="impersonation.used",
                target=f"{request.method} {request.path}"[:300],
                request_id=request.request_id,
                client_request_id=request.client_request_id,
            )
        )
        session.commit()
    finally:
        session.close()
    return acting


def start(request, entry, data: ImpersonationRequest) -> dict:
    """Issue the token and write ``impersonation.started``, together."""
    if not allowed(request.registry, entry):
        raise ImpersonationForbidden(f"tenant {entry.slug!r} does not allow impersonation")
    operator = f"operator:{data.operator}"
    expires_at = datetime.now(UTC) + timedelta(minutes=data.minutes)
    session = tenant_session(request.registry, entry)
    try:
        user = session.get(User, data.user_id)
        if user is None:
            raise NotFound(f"tenant {entry.slug!r} has no user {data.user_id}")
        token, _ = issue_token(session, user, expires_at, impersonated_by=operator)
        session.add(
            AuditEntry(
                actor=operator,
                action="impersonation.started",
                target=f"user:{user.id}",
                request_id=request.request_id,
                detail={"reason": data.reason, "expires_at": expires_at.isoformat()},
            )
        )
        body = ImpersonationOut(
            token=token,
            expires_at=expires_at,
            user=user_out(user),
            operator=operator,
        ).model_dump()
        session.commit()
    finally:
        session.close()
    return body


def includeme(config):
    config.get_settings().setdefault(f"tenantapp.setting.{SETTING}", DECLARATION)


@view_config(
    context=ManagedTenant,
    name="impersonation",
    request_method="POST",
    renderer="json",
    permission="operate",
)
def impersonate(context: ManagedTenant, request):
    data = validated_body(request, ImpersonationRequest)
    entry = find_tenant(context.tenancy.registry, context.info.slug)
    if entry is None:
        raise NotFound(f"no tenant {context.info.slug!r}")
    body = start(request, entry, data)
    request.response.status_int = 201
    return body


OPERATIONS = (
    Operation(
        ManagedTenant,
        "impersonation",
        "POST",
        MANAGED + "/impersonation",
        "A token acting as a user",
        201,
        ImpersonationRequest,
        "operator",
        (SLUG,),
        returns=ImpersonationOut,
    ),
)
