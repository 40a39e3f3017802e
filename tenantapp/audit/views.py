"""``GET /{tenant}/audit``: newest first, for owners and admins."""

from pyramid.view import view_config

from ..pagination import keyset_page
from .models import AuditEntry, entry_json
from .resources import AuditLog


@view_config(context=AuditLog, request_method="GET", renderer="json", permission="view-audit")
def list_audit(context: AuditLog, request):
    return keyset_page(request, context, AuditEntry.id, entry_json, newest_first=True)
