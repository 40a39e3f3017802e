"""``/-/metrics`` for Prometheus and ``/-/tenants/{slug}/usage`` from the ledger."""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pyramid.response import Response
from pyramid.view import view_config

from ..interfaces import IInstruments, IUsageLedger, service
from ..openapi import MANAGED, SLUG, Operation
from ..pagination import int_params
from ..platform.resources import ManagedTenant
from .resources import Metrics
from .usage import usage_of

MAX_DAYS = 366


@view_config(context=Metrics, request_method="GET", permission="operate")
def metrics(context: Metrics, request):
    service(request.registry, IUsageLedger).flush()  # a scrape also brings the ledger up to date
    body = generate_latest(service(request.registry, IInstruments).registry)
    return Response(body=body, headerlist=[("Content-Type", CONTENT_TYPE_LATEST)])


@view_config(
    context=ManagedTenant, name="usage", request_method="GET", renderer="json", permission="operate"
)
def tenant_usage(context: ManagedTenant, request):
    """The tenant's daily usage, newest first (``?days=30``, at most a year)."""
    days = int_params(request, days=(30, 1, MAX_DAYS))["days"]
    service(request.registry, IUsageLedger).flush()
    return {"items": usage_of(context.tenancy.registry, context.info.id, days)}


USAGE = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["day", "requests", "errors", "db_ms", "rows", "bytes"],
            },
        }
    },
}
OPERATIONS = (
    Operation(
        Metrics,
        "",
        "GET",
        "/-/metrics",
        "Prometheus metrics",
        auth="operator",
        content="text/plain",
    ),
    Operation(
        ManagedTenant,
        "usage",
        "GET",
        MANAGED + "/usage",
        "Usage by day",
        auth="operator",
        params=(SLUG, {"name": "days", "in": "query", "schema": {"type": "integer"}}),
        returns=USAGE,
    ),
)
