"""Quotas and noisy-neighbour limits, per tenant, with defaults from the ini:

    tenantapp.quota.requests_per_second = 0     # all processes together; 0: no limit
    tenantapp.quota.burst = 0                   # bucket size (the rate when 0)
    tenantapp.quota.requests_in_flight = 0      # at once, all processes together; 0: no limit
    tenantapp.quota.paced_requests_per_second = 0   # taken at most this often, the rest held
    tenantapp.quota.max_users = 0               # 0: no limit
    tenantapp.quota.statement_timeout_ms = 0    # SET LOCAL statement_timeout; 0: the server's
    tenantapp.quota.work_mem_kb = 0             # SET LOCAL work_mem; 0: the server's
    tenantapp.quota.jobs_at_once = 2            # the tenant's jobs running at once; 0: no cap
    tenantapp.quota.max_storage_mb = 0          # as last measured (``storage``); 0: no limit

Each is also an operator-only per-tenant setting (``quota_requests_per_second``, …), so a
tenant's plan overrides it through ``PATCH /-/tenants/{slug}/settings`` or ``tenant-settings``.
Over the rate: 429; over the requests in flight: 503; both with ``Retry-After``. Over its pace,
a tenant's requests are not refused but held in its queue in the server (``tenantapp.server``),
which costs nothing while they wait: the app hands the server the pace with every request (its
share of it: the pace over the serving processes alive). Every limit holds across processes
(``limits``). Over its
storage, a tenant's writes are refused (403) but for deletions and logging in, until a
measurement finds it back under. The database
limits travel in the BEGIN query the binding sends anyway: no round trip.
"""

import atexit
from functools import cached_property

from pyramid.events import ContextFound
from pyramid.interfaces import ISecurityPolicy

from ..config import setting
from ..errors import APIError
from ..interfaces import (
    ISchemaRevisions,
    IServers,
    IServingProcesses,
    ITenantKeys,
    ITenantSessions,
    provide_factory,
    service,
    when_assembled,
)
from ..tenancy.binding import LOCAL_SETTINGS_KEY
from .limits import (
    MOST_IN_FLIGHT,
    ServingProcesses,
    SharedRates,
    retry_after,
    take_place_in_flight,
)

QUOTAS = (
    "requests_per_second",
    "burst",
    "requests_in_flight",
    "paced_requests_per_second",
    "max_users",
    "statement_timeout_ms",
    "work_mem_kb",
    "jobs_at_once",
    "max_storage_mb",
)
WRITES = frozenset({"POST", "PUT", "PATCH"})  # DELETE frees storage: never refused for it
MB = 1024 * 1024
PACE_KEY = "tenantapp.pace"  # in the environ: the tenant's pace, for the server's queue
TENANT_KEY = "tenantapp.tenant"  # in the environ: the tenant's slug, the server's queue key
DEFAULT_LOCK_TIMEOUT_MS = 2000
DEFAULTS = {"jobs_at_once": 2}  # every other quota: 0, no limit
PG_INT = 2**31 - 1  # PostgreSQL's bound for statement_timeout (ms) and work_mem (kB)
# what each quota may be: 0 is "none" (the server's, for the two PostgreSQL settings)
RANGES = {
    "requests_per_second": "0..1000000",
    "burst": "0..1000000",
    "requests_in_flight": f"0..{MOST_IN_FLIGHT}",
    "paced_requests_per_second": "0..1000000",
    "max_users": "0..1000000000",
    "statement_timeout_ms": f"0..{PG_INT}",
    "work_mem_kb": f"0,64..{PG_INT}",  # PostgreSQL's least work_mem is 64 kB
    "jobs_at_once": "0..10000",
    "max_storage_mb": "0..1000000000",
}


class TooManyRequests(APIError):
    status = 429
    code = "rate_limited"


class TooBusy(APIError):
    status = 503
    code = "busy"


class QuotaExceeded(APIError):
    status = 403
    code = "quota_exceeded"


def quotas(request) -> dict[str, int]:
    """The request's tenant's limits (0: none)."""
    values = request.tenant.settings
    return {name: values[f"quota_{name}"] for name in QUOTAS}


def session_settings(tenant, lock_timeout: str) -> dict[str, str]:
    """What the tenant's transactions set locally, from its limits."""
    values = tenant.settings
    # no request waits long on a lock (a move's pause, a mover that died holding it): past
    # this, 503 busy with Retry-After
    local = {"lock_timeout": lock_timeout}
    if values["quota_statement_timeout_ms"] > 0:
        local["statement_timeout"] = f"{values['quota_statement_timeout_ms']}ms"
    if values["quota_work_mem_kb"] > 0:
        local["work_mem"] = f"{values['quota_work_mem_kb']}kB"
    return local


def check_storage(request, entry, limit_mb: int) -> None:
    """Refuse a write while the tenant's last measured size is over its limit; logging in
    (``POST /{tenant}/tokens``) stays open, so its people can come in and delete."""
    from ..identity.resources import Tokens

    if (entry.storage_bytes or 0) > limit_mb * MB and not isinstance(request.context, Tokens):
        raise QuotaExceeded(
            f"this tenant's plan allows {limit_mb} MB of storage and it holds"
            f" {entry.storage_bytes / MB:.1f} MB: delete data to write again"
        )


def check_max_users(request, current: int) -> None:
    limit = quotas(request)["max_users"]
    if limit > 0 and current >= limit:
        raise QuotaExceeded(f"this tenant's plan allows {limit} users")


class Limits:
    """Each tenant request's limits, checked once its tenant is found (a ``ContextFound``
    subscriber): the shared rate counters and the serving processes are found at first use."""

    def __init__(self, registry):
        self.registry = registry

    @cached_property
    def rates(self) -> SharedRates:
        return SharedRates(service(self.registry, IServers).default.serving)

    @cached_property
    def processes(self) -> ServingProcesses:
        return service(self.registry, IServingProcesses)

    def __call__(self, event) -> None:
        request = event.request
        tenant = request.__dict__.get("tenant")
        if tenant is None:
            return
        request.environ[TENANT_KEY] = tenant.record.slug
        values = quotas(request)
        pace = values["paced_requests_per_second"]
        serving = self.processes.count()  # from a process's first request on, it beats
        request.environ[PACE_KEY] = pace / serving if pace > 0 else 0
        rate = values["requests_per_second"]
        if rate > 0:
            # a token not known valid (a stranger's): counted per address, apart; asked of
            # memory only, before the request's transaction (which holds a connection)
            if not request.registry.getUtility(ISecurityPolicy).known_token(request):
                address = request.remote_addr or ""
                wait = self.rates.take_for_client(tenant.record.id, address, rate, values["burst"])
            else:
                wait = self.rates.take(tenant.record.id, rate, values["burst"])
            if wait:
                raise TooManyRequests(
                    f"over this tenant's {rate} requests a second",
                    headers={"Retry-After": retry_after(wait)},
                )
        most = values["requests_in_flight"]
        if most > 0 and not take_place_in_flight(request.dbsession, tenant.record.id, most):
            raise TooBusy(
                f"this tenant already has {most} requests in progress",
                headers={"Retry-After": "1"},
            )
        storage = values["max_storage_mb"]
        if storage > 0 and request.method in WRITES:
            check_storage(request, tenant.record, storage)


def includeme(config):
    settings = config.get_settings()
    config.scan(".storage")  # the storage-measuring job
    for name in QUOTAS:  # declared as operator-only per-tenant settings, within their ranges
        default = setting(
            settings, f"tenantapp.quota.{name}", int, DEFAULTS.get(name, 0), minimum=0
        )
        settings.setdefault(f"tenantapp.setting.quota_{name}", f"int({RANGES[name]}) {default}")
    lock_ms = setting(
        settings, "tenantapp.request_lock_timeout_ms", int, DEFAULT_LOCK_TIMEOUT_MS, minimum=0
    )
    lock_timeout = f"{max(1, lock_ms)}ms"

    def local_settings(entry, tenant) -> dict:
        """A request's tenant session sets its tenant's limits locally in every transaction."""
        return (
            {} if tenant is None else {LOCAL_SETTINGS_KEY: session_settings(tenant, lock_timeout)}
        )

    when_assembled(
        config, lambda registry: service(registry, ITenantSessions).add_hook(local_settings)
    )

    def serving_processes(registry) -> ServingProcesses:
        engine = service(registry, IServers).default.serving
        keys = list(service(registry, ITenantKeys).ring.keys)
        head = service(registry, ISchemaRevisions).head()  # what its code knows
        made = ServingProcesses(engine, keys, head)
        atexit.register(made.stop)  # a process that ends says so: it no longer counts
        return made

    provide_factory(config, serving_processes, IServingProcesses)
    config.add_subscriber(Limits(config.registry), ContextFound)
