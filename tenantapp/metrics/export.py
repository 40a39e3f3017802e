"""The usage ledger, exported by the hour for billing: a CSV file per hour, and an event per
tenant and hour to a webhook (Stripe's meter events, Lago, a billing system of one's own).

    tenantapp-admin production.ini export-usage        # hourly, from cron or a systemd timer

An hour is exported once it is closed: the ledger's hourly rows are filed by the hour their
process flushed them (``tenant_usage_hours``), so once the hour is over and ``MARGIN`` more has
passed, no flush can add to it. Each delivery is recorded (``usage_exports``) when it is done,
and an export sends only what is not recorded:

- a file is written to a temporary name and renamed: there is the whole hour or nothing;
- an event carries ``Idempotency-Key: usage:<tenant id>:<hour>``: an export killed after the
  receiver took an event and before it was recorded sends it again, and the receiver, keeping
  the keys it has seen, counts it once. Killing the exporter and running it again therefore
  gives totals equal to the ledger, exactly once at a receiver that deduplicates.

Events are signed, and retried with backoff, as ``tenantapp.webhooks`` does it; one that still
fails stops the export, to go on from there next time.
"""

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from .. import webhooks

MARGIN = timedelta(minutes=5)  # past an hour's end: any flush of that hour has committed
COLUMNS = ("requests", "errors", "db_ms", "rows", "bytes", "jobs")
GAUGES = ("storage_bytes", "users")  # as last measured, when the hour is exported
FILE, WEBHOOK = "file", "webhook"
WHOLE_HOUR = 0  # a file's ``usage_exports`` row is for all tenants

HOURS = text(
    "SELECT DISTINCT u.hour FROM tenantapp.tenant_usage_hours u WHERE u.hour < :until"
    " AND NOT EXISTS (SELECT 1 FROM tenantapp.usage_exports e WHERE e.sink = :sink"
    " AND e.hour = u.hour AND e.tenant_id IN (0, u.tenant_id)) ORDER BY u.hour"
)
ROWS = text(
    "SELECT u.tenant_id, t.slug, u.requests, u.errors, u.db_ms, u.rows, u.bytes, u.jobs,"
    " t.storage_bytes, t.users_count AS users"
    " FROM tenantapp.tenant_usage_hours u LEFT JOIN tenantapp.tenants t ON t.id = u.tenant_id"
    " WHERE u.hour = :hour AND NOT EXISTS (SELECT 1 FROM tenantapp.usage_exports e"
    " WHERE e.sink = :sink AND e.hour = u.hour AND e.tenant_id = u.tenant_id)"
    " ORDER BY u.tenant_id"
)
DONE = text(
    "INSERT INTO tenantapp.usage_exports (sink, hour, tenant_id) VALUES (:sink, :hour, :tenant)"
    " ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True)
class Sinks:
    """Where the usage goes (``tenantapp.usage_export.*``)."""

    directory: Path | None = None
    webhook_url: str = ""
    webhook_secret: str = ""
    retries: int = 5
    backoff_seconds: float = 1.0  # the first retry's wait; each next one doubles it
    timeout_seconds: float = 10.0


@dataclass
class Exported:
    files: int = 0
    events: int = 0


def export(engine, sinks: Sinks, until: datetime | None = None, delivered=None) -> Exported:
    """Export every closed hour (before ``until``: now less ``MARGIN``) not yet delivered to
    each configured sink. ``delivered(sink, hour, tenant_id)`` is called after each delivery
    is recorded (for progress)."""
    until = until or datetime.now(UTC) - MARGIN
    done = Exported()
    if sinks.directory is not None:
        for hour in _hours(engine, FILE, until):
            _write_file(engine, sinks.directory, hour)
            _record(engine, FILE, hour, WHOLE_HOUR)
            done.files += 1
            if delivered:
                delivered(FILE, hour, WHOLE_HOUR)
    if sinks.webhook_url:
        sender = webhooks.session(sinks.retries, sinks.backoff_seconds)
        for hour in _hours(engine, WEBHOOK, until):
            for row in _rows(engine, WEBHOOK, hour):
                key = idempotency_key(hour, row["tenant_id"])
                webhooks.post(
                    sender,
                    sinks.webhook_url,
                    sinks.webhook_secret,
                    event(hour, row),
                    key,
                    sinks.timeout_seconds,
                )  # a failure (``webhooks.WebhookFailed``) stops the export there
                _record(engine, WEBHOOK, hour, row["tenant_id"])
                done.events += 1
                if delivered:
                    delivered(WEBHOOK, hour, row["tenant_id"])
    return done


def _hours(engine, sink: str, until: datetime) -> list[datetime]:
    with engine.connect() as connection:
        return list(connection.scalars(HOURS, {"sink": sink, "until": until}))


def _rows(engine, sink: str, hour: datetime) -> list[dict]:
    with engine.connect() as connection:
        found = connection.execute(ROWS, {"hour": hour, "sink": sink}).mappings().all()
    return [dict(row) for row in found]


def _record(engine, sink: str, hour: datetime, tenant_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(DONE, {"sink": sink, "hour": hour, "tenant": tenant_id})


def file_name(hour: datetime) -> str:
    return f"usage-{hour.astimezone(UTC):%Y-%m-%dT%H}Z.csv"


def _write_file(engine, directory: Path, hour: datetime) -> Path:
    """The hour's rows as CSV, in tenant order; renamed into place whole."""
    rows = _rows(engine, FILE, hour)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("hour", "tenant_id", "tenant", *COLUMNS, *GAUGES))
    for row in rows:
        writer.writerow(
            (
                _iso(hour),
                row["tenant_id"],
                row["slug"] or "",
                *(row[c] for c in COLUMNS),
                *("" if row[g] is None else row[g] for g in GAUGES),
            )
        )
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / file_name(hour)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".usage-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(out.getvalue())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _iso(hour: datetime) -> str:
    return hour.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z")


def event(hour: datetime, row: dict) -> dict:
    """One tenant's hour, as the webhook receives it."""
    return {
        "id": idempotency_key(hour, row["tenant_id"]),
        "type": "tenantapp.usage.hour",
        "hour": _iso(hour),
        "tenant_id": row["tenant_id"],
        "tenant": row["slug"],
        **{c: row[c] for c in COLUMNS},
        **{g: row[g] for g in GAUGES},
    }


def idempotency_key(hour: datetime, tenant_id: int) -> str:
    return f"usage:{tenant_id}:{_iso(hour)}"


def sinks_from(settings: dict) -> Sinks:
    from pyramid.exceptions import ConfigurationError

    from ..config import setting

    directory = setting(settings, "tenantapp.usage_export.dir", str, "")
    url = setting(settings, "tenantapp.usage_export.webhook_url", str, "")
    secret = setting(settings, "tenantapp.usage_export.webhook_secret", str, "")
    if url and len(secret) < webhooks.MIN_SECRET:
        raise ConfigurationError(
            "tenantapp.usage_export.webhook_url needs tenantapp.usage_export.webhook_secret"
            " (at least 32 characters): the receiver checks each event's signature with it"
        )
    return Sinks(
        directory=Path(directory) if directory else None,
        webhook_url=url,
        webhook_secret=secret,
        retries=setting(settings, "tenantapp.usage_export.retries", int, 5, minimum=0),
        backoff_seconds=setting(
            settings, "tenantapp.usage_export.backoff_seconds", float, 1.0, minimum=0
        ),
    )
