"""The usage ledger by the hour, exported for billing: a CSV file per closed hour and a signed
event per tenant and hour to a webhook that deduplicates; an exporter killed mid-run and run
again leaves the receiver's totals equal to the ledger, exactly once."""

import csv
import hashlib
import hmac
import itertools
import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from tenantapp.interfaces import IJobQueue, IUsageLedger, service
from tenantapp.metrics import export
from tenantapp.webhooks import WebhookFailed
from tests.conftest import write_ini

SECRET = "s" * 40
COLUMNS = export.COLUMNS
_hours = itertools.count()


BASE = datetime(1990, 1, 1, tzinfo=UTC)


def a_past_hour() -> datetime:
    """An hour long past that no earlier test used: the exports are recorded in the suite's
    registry, and each test exports what it put there, up to its own hour."""
    return BASE + timedelta(hours=next(_hours))


def put_usage(engine, hour: datetime, tenants: int = 5) -> dict[int, dict]:
    """The ledger's rows of ``hour`` for ``tenants`` tenants that are no longer there (purged:
    their usage is billed all the same)."""
    rows = {}
    for n in range(tenants):
        tenant_id = 10**9 + int(hour.timestamp()) % 10**6 * 10 + n
        rows[tenant_id] = {c: (n + 1) * (i + 3) for i, c in enumerate(COLUMNS)}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tenantapp.tenant_usage_hours"
                " (tenant_id, hour, requests, errors, db_ms, rows, bytes, jobs)"
                " VALUES (:tenant_id, :hour, :requests, :errors, :db_ms, :rows, :bytes, :jobs)"
            ),
            [{"tenant_id": t, "hour": hour, **counts} for t, counts in rows.items()],
        )
    return rows


class Receiver:
    """A billing system's webhook on 127.0.0.1: checks each signature, keeps one event per
    Idempotency-Key (counting repeats), answers 503 to the first ``failing`` requests, and holds
    the ``hold``-th request's answer until ``release`` is set."""

    def __init__(self, failing: int = 0, hold: int | None = None):
        self.events: dict[str, dict] = {}
        self.repeats = 0
        self.requests = 0
        self.failing = failing
        self.hold = hold
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    number = receiver.requests
                if number <= receiver.failing:
                    return self._answer(503)
                stamp, _, given = self.headers["Tenantapp-Signature"].partition(",v1=")
                at = stamp.removeprefix("t=")
                wanted = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256)
                if not hmac.compare_digest(wanted.hexdigest(), given):
                    return self._answer(400)
                key = self.headers["Idempotency-Key"]
                with receiver.lock:
                    if key in receiver.events:
                        receiver.repeats += 1
                    receiver.events[key] = json.loads(body)
                if number == receiver.hold:
                    receiver.holding.set()
                    receiver.release.wait()
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/usage"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def totals(self, tenant_ids) -> dict[int, dict]:
        return {
            e["tenant_id"]: {c: e[c] for c in COLUMNS}
            for e in self.events.values()
            if e["tenant_id"] in tenant_ids
        }

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(**kw) -> Receiver:
        made.append(Receiver(**kw))
        return made[-1]

    yield make
    for one in made:
        one.stop()


def sinks(receiver: Receiver | None = None, directory: Path | None = None) -> export.Sinks:
    return export.Sinks(
        directory=directory,
        webhook_url=receiver.url if receiver else "",
        webhook_secret=SECRET,
        backoff_seconds=0.001,
    )


def test_each_flush_adds_to_its_hour_with_the_jobs_that_ran(app, testapp, engine, tenant):
    ledger = service(app.registry, IUsageLedger)
    ledger.flush()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def hourly() -> dict:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT * FROM tenantapp.tenant_usage_hours WHERE tenant_id = :t"),
                {"t": tenant.id},
            ).first()
        return {} if row is None else dict(row._mapping)

    before = hourly()
    user = testapp.post_json(
        f"/{tenant.slug}/users",
        {"email": "invited@example.com", "name": "Invited"},
        headers=tenant.auth,
    ).json["id"]
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=tenant.auth, status=202)
    service(app.registry, IJobQueue).drain(concurrency=1, install_signal_handlers=False)
    ledger.flush()
    after = hourly()
    assert after["hour"] >= hour  # the flush's hour (it may just have turned)
    assert after["requests"] - before.get("requests", 0) == 3
    assert after["jobs"] - before.get("jobs", 0) == 1
    assert after["db_ms"] >= before.get("db_ms", 0)


def test_a_closed_hour_is_one_file_written_once(engine, tmp_path):
    hour = a_past_hour()
    rows = put_usage(engine, hour)
    first = export.export(engine, sinks(directory=tmp_path), until=hour + timedelta(hours=1))
    assert first.files >= 1
    path = tmp_path / export.file_name(hour)
    with path.open() as file:
        found = {
            int(r["tenant_id"]): r
            for r in csv.DictReader(file)
            if r["hour"].startswith(hour.strftime("%Y-%m-%dT%H"))
        }
    assert {t: {c: int(found[t][c]) for c in COLUMNS} for t in rows} == rows
    assert {found[t]["tenant"] for t in rows} == {""}  # purged tenants: billed all the same
    assert not list(tmp_path.glob(".usage-*"))  # no temporary file left
    again = export.export(engine, sinks(directory=tmp_path), until=hour + timedelta(hours=1))
    assert again.files == 0


def test_events_are_signed_retried_and_sent_once(engine, receiver):
    hook = receiver(failing=2)  # the first two answers are 503: retried with backoff
    hour = a_past_hour()
    rows = put_usage(engine, hour)
    done = export.export(engine, sinks(hook), until=hour + timedelta(hours=1))
    assert done.events >= len(rows)
    assert hook.totals(rows.keys()) == rows
    assert hook.repeats == 0
    key = export.idempotency_key(hour, next(iter(rows)))
    assert hook.events[key]["hour"] == hour.strftime("%Y-%m-%dT%H:00:00Z")
    again = export.export(engine, sinks(hook), until=hour + timedelta(hours=1))
    assert again.events == 0


def test_a_receiver_that_keeps_failing_stops_the_export_to_go_on_later(engine, receiver):
    hour = a_past_hour()
    rows = put_usage(engine, hour, tenants=2)
    down = receiver(failing=10**6)
    with pytest.raises(WebhookFailed, match="503"):
        export.export(engine, sinks(down), until=hour + timedelta(hours=1))
    up = receiver()
    export.export(engine, sinks(up), until=hour + timedelta(hours=1))
    assert up.totals(rows.keys()) == rows


def test_an_exporter_killed_mid_run_and_run_again_delivers_exactly_once(
    engine, receiver, tmp_path, settings
):
    hour = a_past_hour()
    export.export(engine, sinks(receiver()), until=hour)  # earlier tests' hours: sent first
    rows = put_usage(engine, hour, tenants=6)
    hook = receiver(hold=3)  # the third event is taken, and its answer never comes
    ini = write_ini(
        tmp_path / "export.ini",
        settings["sqlalchemy.url"],
        {
            **settings,
            "tenantapp.usage_export.webhook_url": hook.url,
            "tenantapp.usage_export.webhook_secret": SECRET,
        },
    )
    admin = Path(sys.executable).with_name("tenantapp-admin")
    until = (hour + timedelta(hours=1)).isoformat()
    exporter = subprocess.Popen([str(admin), ini, "export-usage", "--until", until])  # noqa: S603
    try:
        assert hook.holding.wait(120), "the exporter never reached the third event"
        exporter.send_signal(signal.SIGKILL)  # after the receiver took it, before it is recorded
        exporter.wait(60)
    finally:
        if exporter.poll() is None:
            exporter.kill()
    hook.release.set()
    assert len(hook.totals(rows.keys())) == 3

    done = subprocess.run(  # noqa: S603 (our own command)
        [str(admin), ini, "export-usage", "--until", until],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert hook.totals(rows.keys()) == rows  # the ledger's, each tenant once
    assert hook.repeats == 1  # the third, sent again: its key made it count once
    with engine.connect() as connection:
        recorded = connection.scalar(
            text(
                "SELECT count(*) FROM tenantapp.usage_exports"
                " WHERE sink = 'webhook' AND hour = :hour"
            ),
            {"hour": hour},
        )
    assert recorded == len(rows)
