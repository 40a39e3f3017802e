"""Metrics: ``/-/metrics`` in Prometheus's format, and the per-tenant usage ledger.

A tween outside everything else times each request and counts it under its tenant (see
``instruments`` for how the tenant label stays bounded); statement hooks on every engine add up
the database time and rows of the request; the ledger (``usage``) keeps exact per-tenant,
per-day sums in the registry database.
"""

import atexit
import time

from pyramid.events import ApplicationCreated
from pyramid.tweens import INGRESS
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..config import setting
from ..identity.tokens import CHANNEL as TOKEN_OWNERS
from ..interfaces import (
    ICompiledCacheStats,
    IInstruments,
    IPlaceListeners,
    IServers,
    ITenantDirectory,
    IUsageLedger,
    provide,
    provide_factory,
    service,
)
from .instruments import Instruments
from .usage import CURRENT, RequestUsage, UsageLedger

STARTED = "_tenantapp_started"


@event.listens_for(Engine, "before_cursor_execute")
def _statement_started(conn, cursor, statement, parameters, context, executemany):
    if CURRENT.get() is not None:
        conn.info[STARTED] = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _statement_done(conn, cursor, statement, parameters, context, executemany):
    usage = CURRENT.get()
    started = conn.info.pop(STARTED, None)
    if usage is not None and started is not None:
        seconds, rows = time.perf_counter() - started, max(cursor.rowcount, 0)
        usage.db_seconds += seconds
        usage.rows += rows
        usage.statements.append((statement, seconds, rows))


def metrics_tween_factory(handler, registry):
    instruments = service(registry, IInstruments)
    ledger = service(registry, IUsageLedger)

    def metrics_tween(request):
        usage = RequestUsage()
        token = CURRENT.set(usage)
        started = time.perf_counter()
        status = 500
        response = None
        try:
            response = handler(request)
            status = response.status_int
            return response
        finally:
            CURRENT.reset(token)
            elapsed = time.perf_counter() - started
            tenant = request.__dict__.get("tenant")
            record = None if tenant is None else tenant.record
            slug = None if record is None else record.slug
            instruments.observe(slug, request.method, status, elapsed, usage.db_seconds)
            if record is not None:
                size = 0 if response is None else (response.content_length or 0)
                ledger.add(record, status >= 500, usage, size)

    return metrics_tween


def includeme(config):
    settings = config.get_settings()
    registry = config.registry

    def caches() -> dict:
        return {
            "tenants": service(registry, ITenantDirectory).stats(),
            "token_owners": service(registry, IPlaceListeners).stats(TOKEN_OWNERS),
            "sql_compiled": service(registry, ICompiledCacheStats).stats(),
        }

    top = setting(settings, "tenantapp.metrics.top_tenants", int, 20, minimum=0)
    provide(config, Instruments(top, caches), IInstruments)
    interval = setting(settings, "tenantapp.metrics.usage_flush_seconds", float, 10, minimum=0.01)

    def usage_ledger(registry) -> UsageLedger:
        ledger = UsageLedger(service(registry, IServers).default.owner, interval)
        atexit.register(ledger.stop)
        return ledger

    provide_factory(config, usage_ledger, IUsageLedger)
    config.add_tween("tenantapp.metrics.metrics_tween_factory", under=INGRESS)
    config.add_subscriber(
        lambda event: service(event.app.registry, IUsageLedger).start(), ApplicationCreated
    )
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
