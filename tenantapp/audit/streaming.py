"""Each tenant's audit entries sent on to where the operator collects them (a SIEM): in order,
at least once, each with its tenant's sequence number, so a receiver sees a gap or a repeat.

    tenantapp.audit_stream.url = syslog+tcp://siem.internal:6514    # RFC 5424 over TCP
    tenantapp.audit_stream.url = https://collector.example/audit    # JSON batches

A job per tenant (``audit.stream``, every minute) first numbers the entries that became visible
since it last ran (``stream_seq``, t016, in its own transaction, one streamer a tenant at a
time), then sends the entries after the last one the sink acknowledged
(``tenantapp.audit_stream_cursors``), a batch at a time, and moves the cursor only after an
acknowledgement. What is sent and not acknowledged is sent again: a repeat, never a gap.

- syslog over TCP: RFC 5424 messages framed by octet counting (RFC 6587), the sequence number
  in structured data (``[tenantapp@32473 tenant="acme" seq="42"]``); one connection a batch,
  closed by us for writing, and the batch counts as taken when the receiver, having read to
  the end, closes its side.
- HTTP: a POST of ``{"tenant", "entries": [...]}``, signed and retried as
  ``tenantapp.webhooks`` does it; a 2xx takes the batch.
"""

import json
import socket
from dataclasses import dataclass
from datetime import UTC
from functools import cached_property
from urllib.parse import urlsplit

from sqlalchemy import func, select, text, update

from .. import webhooks
from ..interfaces import IServers, service
from .models import AuditEntry

BATCH = 500
APP_NAME = "tenantapp"
ENTERPRISE_ID = 32473  # IANA's example enterprise number (RFC 5612), for our structured data
ADVANCE = text(
    "INSERT INTO tenantapp.audit_stream_cursors (tenant_id, delivered_seq, delivered_at)"
    " VALUES (:tenant_id, :seq, now()) ON CONFLICT (tenant_id) DO UPDATE SET"
    " delivered_seq = greatest(audit_stream_cursors.delivered_seq, EXCLUDED.delivered_seq),"
    " delivered_at = now()"
)
CURSOR = text("SELECT delivered_seq FROM tenantapp.audit_stream_cursors WHERE tenant_id = :t")


class StreamFailed(Exception):
    """The sink did not take a batch; the cursor stays where it was."""


def number_entries(session, tenant_id: int) -> int:
    """Give the tenant's unnumbered entries the next sequence numbers, in id order; how many.
    In the session's own transaction (commit it): the numbers are kept once given."""
    session.execute(select(func.pg_advisory_xact_lock(ENTERPRISE_ID, tenant_id)))  # one at a time
    last = session.scalar(select(func.coalesce(func.max(AuditEntry.stream_seq), 0)))
    waiting = session.scalars(
        select(AuditEntry.id).where(AuditEntry.stream_seq.is_(None)).order_by(AuditEntry.id)
    ).all()
    for offset, entry_id in enumerate(waiting, start=1):
        session.execute(
            update(AuditEntry).where(AuditEntry.id == entry_id).values(stream_seq=last + offset)
        )
    return len(waiting)


def stream(session, registry, tenant_id: int, slug: str, sink, batch: int = BATCH) -> int:
    """Send the tenant's numbered entries past its cursor, batch by batch; how many were
    taken. ``StreamFailed`` when the sink stops taking them (what it took stays taken)."""
    with registry.connect() as connection:
        cursor = connection.scalar(CURSOR, {"t": tenant_id}) or 0
    sent = 0
    while True:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.stream_seq > cursor)
            .order_by(AuditEntry.stream_seq)
            .limit(batch)
        ).all()
        if not entries:
            return sent
        sink.send(slug, [entry_record(entry) for entry in entries])
        cursor = entries[-1].stream_seq
        with registry.begin() as connection:
            connection.execute(ADVANCE, {"tenant_id": tenant_id, "seq": cursor})
        sent += len(entries)


def entry_record(entry: AuditEntry) -> dict:
    return {
        "seq": entry.stream_seq,
        "id": entry.id,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "request_id": entry.request_id,
        "detail": entry.detail,
    }


@dataclass(frozen=True)
class SyslogTcpSink:
    host: str
    port: int
    timeout: float = 10.0

    def send(self, slug: str, records: list[dict]) -> None:
        frames = b"".join(_framed(syslog_message(slug, record)) for record in records)
        try:
            with socket.create_connection((self.host, self.port), self.timeout) as connection:
                connection.sendall(frames)
                connection.shutdown(socket.SHUT_WR)  # the end of the batch
                while connection.recv(4096):  # the receiver closes once it read all of it
                    pass
        except OSError as error:
            raise StreamFailed(f"syslog {self.host}:{self.port}: {error}") from None


def _framed(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def syslog_message(slug: str, record: dict) -> bytes:
    """RFC 5424: facility 13 (log audit), severity 5 (notice); the entry as JSON after the
    structured data that carries the tenant and the sequence number."""
    priority = 13 * 8 + 5
    data = f'[tenantapp@{ENTERPRISE_ID} tenant="{_sd(slug)}" seq="{record["seq"]}"]'
    body = json.dumps(record, separators=(",", ":"), sort_keys=True)
    header = f"<{priority}>1 {record['occurred_at']} {socket.gethostname()} {APP_NAME} - audit"
    return f"{header} {data} {body}".encode()


def _sd(value: str) -> str:
    """A structured-data parameter value: ``"``, ``\\`` and ``]`` escaped (RFC 5424, 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@dataclass(frozen=True)
class HttpSink:
    url: str
    secret: str

    def send(self, slug: str, records: list[dict]) -> None:
        # a batch sent again has the same first number: a collector may drop repeats by it
        key = f"audit:{slug}:{records[0]['seq']}-{records[-1]['seq']}"
        try:
            webhooks.post(
                self.sender, self.url, self.secret, {"tenant": slug, "entries": records}, key
            )
        except webhooks.WebhookFailed as error:
            raise StreamFailed(str(error)) from None

    @cached_property
    def sender(self):
        return webhooks.session()


def sink_from(settings: dict):
    """The sink ``tenantapp.audit_stream.url`` names, or None."""
    from pyramid.exceptions import ConfigurationError

    from ..config import setting

    url = setting(settings, "tenantapp.audit_stream.url", str, "")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "syslog+tcp" and parts.hostname and parts.port:
        return SyslogTcpSink(parts.hostname, parts.port)
    if parts.scheme in ("http", "https") and parts.hostname:
        secret = setting(settings, "tenantapp.audit_stream.secret", str, "")
        if len(secret) < webhooks.MIN_SECRET:
            raise ConfigurationError(
                "an HTTP audit stream needs tenantapp.audit_stream.secret (32+ characters)"
            )
        return HttpSink(url, secret)
    raise ConfigurationError(
        f"tenantapp.audit_stream.url = {url!r}: syslog+tcp://HOST:PORT or an http(s) URL"
    )


def stream_tenant(request, sink) -> int:
    """Number, then send, the request's tenant's entries (the job's work)."""
    record = request.tenant.record
    number_entries(request.dbsession, record.id)
    request.tm.commit()  # the numbers are kept, whatever the sending does
    request.tm.begin()
    registry = service(request.registry, IServers).default.owner
    return stream(request.dbsession, registry, record.id, record.slug, sink)
