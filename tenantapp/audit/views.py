"""``GET /{tenant}/audit``: newest first, for owners and admins."""

from pydantic import BaseModel, ConfigDict
from pyramid.view import view_config

from ..openapi import PAGE, TENANT, Operation
from ..pagination import Page, keyset_page
from ..validation import Timestamp
from .models import AuditEntry
from .resources import AuditLog


class AuditEntryOut(BaseModel):
    """An entry as the API shows it (read from the row's attributes)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: Timestamp
    actor: str
    action: str
    target: str | None
    request_id: str | None
    client_request_id: str | None = None
    detail: dict | None


class AuditPage(Page[AuditEntryOut]):
    """``GET /{tenant}/audit``."""


def entry_json(entry: AuditEntry) -> dict:
    return AuditEntryOut.model_validate(entry).model_dump()


@view_config(context=AuditLog, request_method="GET", renderer="json", permission="view-audit")
def list_audit(context: AuditLog, request):
    return keyset_page(request, context, AuditEntry.id, entry_json, newest_first=True)


OPERATIONS = (
    Operation(
        AuditLog,
        "",
        "GET",
        "/{tenant}/audit",
        "The audit log",
        params=(TENANT, *PAGE),
        returns=AuditPage,
    ),
)
