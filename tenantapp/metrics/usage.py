"""The per-tenant usage ledger: counted in memory per request, added to
``tenantapp.tenant_usage`` (one row per tenant and day) every few seconds by one thread."""

import logging
import threading
from collections import defaultdict
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..tenancy.models import TenantUsage
from . import statements

log = logging.getLogger(__name__)

FIELDS = ("requests", "errors", "db_ms", "rows", "bytes")
UPSERT = text(
    "INSERT INTO tenantapp.tenant_usage (tenant_id, day, requests, errors, db_ms, rows, bytes)"
    " SELECT :tenant_id, :day, :requests, :errors, :db_ms, :rows, :bytes"
    " WHERE EXISTS (SELECT 1 FROM tenantapp.tenants WHERE id = :tenant_id)"
    " ON CONFLICT (tenant_id, day) DO UPDATE SET"
    " requests = tenant_usage.requests + EXCLUDED.requests,"
    " errors = tenant_usage.errors + EXCLUDED.errors,"
    " db_ms = tenant_usage.db_ms + EXCLUDED.db_ms,"
    " rows = tenant_usage.rows + EXCLUDED.rows,"
    " bytes = tenant_usage.bytes + EXCLUDED.bytes"
)
# by the hour of the flush (its transaction's start, in UTC): a closed hour gets no more rows
# once its last flush committed, so an export of it is final (``metrics.export``)
UPSERT_HOUR = text(
    "INSERT INTO tenantapp.tenant_usage_hours"
    " (tenant_id, hour, requests, errors, db_ms, rows, bytes, jobs)"
    " VALUES (:tenant_id, date_trunc('hour', now(), 'UTC'),"
    " :requests, :errors, :db_ms, :rows, :bytes, :jobs)"
    " ON CONFLICT (tenant_id, hour) DO UPDATE SET"
    " requests = tenant_usage_hours.requests + EXCLUDED.requests,"
    " errors = tenant_usage_hours.errors + EXCLUDED.errors,"
    " db_ms = tenant_usage_hours.db_ms + EXCLUDED.db_ms,"
    " rows = tenant_usage_hours.rows + EXCLUDED.rows,"
    " bytes = tenant_usage_hours.bytes + EXCLUDED.bytes,"
    " jobs = tenant_usage_hours.jobs + EXCLUDED.jobs"
)


@dataclass
class RequestUsage:
    """What one request used, filled by the database event hooks while it runs."""

    db_seconds: float = 0.0
    rows: int = 0
    statements: list = field(default_factory=list)  # (SQL text, seconds, rows) of each


CURRENT: ContextVar[RequestUsage | None] = ContextVar("tenantapp_request_usage", default=None)


class UsageLedger:
    def __init__(self, engine: Engine, interval: float):
        self.engine = engine  # the registry's, as the owner
        self.interval = interval
        self._pending: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0] * len(FIELDS))
        self._statements = statements.StatementTally()
        self._jobs: dict[int, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, record, error: bool, usage: RequestUsage, size: int) -> None:
        """What a request of the tenant ``record`` used."""
        tenant_id, day = record.id, datetime.now(UTC).date()
        with self._lock:
            self._statements.add(tenant_id, record.schema_name, usage.statements)
            counts = self._pending[(tenant_id, day)]
            counts[0] += 1
            counts[1] += int(error)
            counts[2] += round(usage.db_seconds * 1000)
            counts[3] += usage.rows
            counts[4] += size

    def add_job(self, tenant_id: int) -> None:
        """A job of the tenant ran (``jobs.queue``), whatever its outcome."""
        with self._lock:
            self._jobs[tenant_id] += 1

    def flush(self, final: bool = False) -> int:
        """Add what was counted to the ledger; returns the rows written. What cannot be written
        (the database is away) is kept for the next flush (``final``: there is none, so it is
        only logged, quietly: a process stopping after its database is expected in tests)."""
        with self._lock:
            pending, self._pending = self._pending, defaultdict(lambda: [0] * len(FIELDS))
            ran = self._statements.take()
            jobs, self._jobs = self._jobs, defaultdict(int)
        if not pending and not ran and not jobs:
            return 0
        rows = [
            {"tenant_id": tenant_id, "day": day, **dict(zip(FIELDS, counts, strict=True))}
            for (tenant_id, day), counts in pending.items()
        ]
        try:
            with self.engine.begin() as connection:
                if rows:
                    connection.execute(UPSERT, rows)
                if rows or jobs:
                    connection.execute(UPSERT_HOUR, _by_tenant(pending, jobs))
                statements.write(connection, ran)
        except SQLAlchemyError as error:
            if final:
                log.info("usage ledger: %d row(s) not written at exit: %s", len(rows), error)
                return 0
            log.warning("usage ledger: keeping %d row(s) for later: %s", len(rows), error)
            with self._lock:
                self._statements.keep(ran)
                for tenant_id, count in jobs.items():
                    self._jobs[tenant_id] += count
                for key, counts in pending.items():
                    kept = self._pending[key]
                    for i, value in enumerate(counts):
                        kept[i] += value
            return 0
        return len(rows)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="usage-ledger", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self.flush(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()


def _by_tenant(pending: dict, jobs: dict) -> list[dict]:
    """The hour's rows: the counts of every day summed per tenant, with its jobs, in tenant
    order (processes flushing at once lock rows in one order)."""
    summed: dict[int, list[int]] = defaultdict(lambda: [0] * len(FIELDS))
    for (tenant_id, _day), counts in pending.items():
        for i, value in enumerate(counts):
            summed[tenant_id][i] += value
    rows = []
    for tenant_id in sorted(summed.keys() | jobs.keys()):
        counts = dict(zip(FIELDS, summed[tenant_id], strict=True))
        rows.append({"tenant_id": tenant_id, **counts, "jobs": jobs.get(tenant_id, 0)})
    return rows


def usage_of(engine: Engine, tenant_id: int, days: int) -> list[dict]:
    """The tenant's ledger, newest day first."""
    table = TenantUsage.__table__
    query = (
        select(table).where(table.c.tenant_id == tenant_id).order_by(table.c.day.desc()).limit(days)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [{"day": row.day.isoformat(), **{f: getattr(row, f) for f in FIELDS}} for row in rows]


def busiest_tenants(engine, days: int, limit: int) -> list[dict]:
    """The tenants that took the most database time over the last ``days`` days (the usage
    ledger's sums), with their requests and the mean per request."""
    query = text(
        "SELECT t.slug, sum(u.db_ms) AS db_ms, sum(u.requests) AS requests, sum(u.rows) AS rows"
        " FROM tenantapp.tenant_usage u JOIN tenantapp.tenants t ON t.id = u.tenant_id"
        " WHERE u.day > current_date - :days"
        " GROUP BY t.slug ORDER BY sum(u.db_ms) DESC, t.slug LIMIT :limit"
    )
    with engine.connect() as connection:
        rows = connection.execute(query, {"days": days, "limit": limit}).all()
    return [
        {
            "tenant": row.slug,
            "db_ms": int(row.db_ms),
            "requests": int(row.requests),
            "mean_db_ms": round(int(row.db_ms) / max(int(row.requests), 1), 3),
            "rows": int(row.rows),
        }
        for row in rows
    ]
