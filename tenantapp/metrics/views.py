"""``/-/metrics`` for Prometheus; from the ledger, ``/-/tenants/{slug}/usage``, a tenant's
top statements (``…/statements``) and the tenants that take the most database time
(``/-/insight``)."""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pyramid.response import Response
from pyramid.view import view_config

from ..errors import InvalidInput
from ..interfaces import IInstruments, ITenancy, IUsageLedger, service
from ..openapi import MANAGED, SLUG, Operation
from ..pagination import int_params
from ..platform.resources import ManagedTenant
from ..validation import query_params
from .resources import Insight, Metrics
from .statements import ORDERS, top_statements
from .usage import busiest_tenants, usage_of

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


@view_config(
    context=ManagedTenant,
    name="statements",
    request_method="GET",
    renderer="json",
    permission="operate",
)
def tenant_statements(context: ManagedTenant, request):
    """The statements the tenant's requests ran, the top ``limit`` by ``order`` (total_ms,
    calls, rows, mean_ms, max_ms) over the last ``days`` days."""
    asked = int_params(request, days=(1, 1, MAX_DAYS), limit=(20, 1, 200))
    order = _order(request)
    service(request.registry, IUsageLedger).flush()
    registry = context.tenancy.registry
    found = top_statements(registry, context.info.id, asked["days"], order, asked["limit"])
    return {"order": order, "days": asked["days"], "items": found}


@view_config(context=Insight, request_method="GET", renderer="json", permission="operate")
def insight(context: Insight, request):
    """The tenants that took the most database time over the last ``days`` days."""
    asked = int_params(request, days=(1, 1, MAX_DAYS), limit=(20, 1, 1000))
    service(request.registry, IUsageLedger).flush()
    registry = service(request.registry, ITenancy).registry
    return {"days": asked["days"], "items": busiest_tenants(registry, **asked)}


def _order(request) -> str:
    order = query_params(request).get("order", "total_ms")
    if order not in ORDERS:
        raise InvalidInput(
            f"order by one of {', '.join(ORDERS)}", {"order": f"one of {', '.join(ORDERS)}"}
        )
    return order


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
DAYS = {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1}}
LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
ORDER = {"name": "order", "in": "query", "schema": {"type": "string", "enum": list(ORDERS)}}
STATEMENTS = {
    "type": "object",
    "required": ["order", "days", "items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["query_id", "query", "calls", "total_ms", "mean_ms", "rows"],
            },
        }
    },
}
BUSIEST = {
    "type": "object",
    "required": ["days", "items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "required": ["tenant", "db_ms", "requests", "mean_db_ms"]},
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
    Operation(
        ManagedTenant,
        "statements",
        "GET",
        MANAGED + "/statements",
        "The tenant's top statements",
        auth="operator",
        params=(SLUG, DAYS, LIMIT, ORDER),
        returns=STATEMENTS,
    ),
    Operation(
        Insight,
        "",
        "GET",
        "/-/insight",
        "The tenants that take the most database time",
        auth="operator",
        params=(DAYS, LIMIT),
        returns=BUSIEST,
    ),
)
