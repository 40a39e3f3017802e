"""Audit entries streamed to a SIEM's syslog (TCP) and to an HTTP collector: in order, each with
its tenant's sequence number, at least once; a receiver stopped and started again mid-stream,
or one that drops a batch half read, sees no gap, and the repeats carry numbers it has seen."""

import json
import re
import socket
import socketserver
import threading

import pytest

from tenantapp.audit.streaming import (
    HttpSink,
    StreamFailed,
    SyslogTcpSink,
    sink_from,
    stream_tenant,
)
from tests.jobs.test_jobs import tenant_request
from tests.metrics.test_usage_export import SECRET, Receiver

FRAME = re.compile(rb"(\d+) ")
SD = re.compile(r'\[tenantapp@32473 tenant="([^"]*)" seq="(\d+)"\]')


class SyslogReceiver:
    """A syslog collector on 127.0.0.1 (RFC 6587 octet counting): reads a connection to its
    end, keeps each message's (tenant, seq), then closes; ``drop_after`` messages into a
    connection it resets the connection instead (a collector that dies mid-batch)."""

    def __init__(self, port: int = 0):
        self.messages: list[tuple[str, int, dict]] = []
        self.drop_after: int | None = None
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data, taken = b"", 0
                while chunk := self.request.recv(65536):
                    data += chunk
                    while match := FRAME.match(data):
                        length = int(match.group(1))
                        end = match.end() + length
                        if len(data) < end:
                            break
                        receiver._keep(data[match.end() : end].decode())
                        data, taken = data[end:], taken + 1
                        if receiver.drop_after is not None and taken >= receiver.drop_after:
                            receiver.drop_after = None
                            linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # on, 0 s: a reset
                            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                            self.request.close()  # now, before socketserver's polite shutdown
                            return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _keep(self, message: str) -> None:
        tenant, seq = SD.search(message).groups()
        self.messages.append((tenant, int(seq), json.loads(message[message.index("] {") + 2 :])))

    def seqs(self, slug: str) -> list[int]:
        return [seq for tenant, seq, _ in self.messages if tenant == slug]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def syslog():
    made = []

    def start(port: int = 0) -> SyslogReceiver:
        made.append(SyslogReceiver(port))
        return made[-1]

    yield start
    for receiver in made:
        receiver.stop()


def audited(testapp, tenant, count: int, start: int = 0) -> None:
    """``count`` audit entries (a user made is one)."""
    for n in range(start, start + count):
        body = {"email": f"person{n}@example.com", "name": f"Person {n}"}
        testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth, status=201)


def streamed(app, tenant, sink) -> int:
    with tenant_request(app, tenant.slug) as request, request.tm:
        return stream_tenant(request, sink)


def test_entries_reach_syslog_in_order_numbered_and_nothing_is_lost(app, testapp, tenant, syslog):
    collector = syslog()
    sink = SyslogTcpSink("127.0.0.1", collector.port)
    audited(testapp, tenant, 3)
    first = streamed(app, tenant, sink)
    assert first >= 3
    assert collector.seqs(tenant.slug) == list(range(1, first + 1))
    actions = [m["action"] for t, _, m in collector.messages if t == tenant.slug]
    assert actions[-3:] == ["user.created"] * 3

    port = collector.port
    collector.stop()  # the collector goes away mid-stream
    audited(testapp, tenant, 2, start=3)
    with pytest.raises(StreamFailed):
        streamed(app, tenant, sink)

    again = syslog(port)  # and comes back on its port
    resumed = streamed(app, tenant, sink)
    assert resumed == 2
    assert again.seqs(tenant.slug) == [first + 1, first + 2]  # from where it was: no gap
    assert streamed(app, tenant, sink) == 0  # nothing twice when nothing failed


def test_a_batch_dropped_half_read_is_sent_again_and_the_repeats_are_known(
    app, testapp, tenant, syslog
):
    collector = syslog()
    sink = SyslogTcpSink("127.0.0.1", collector.port)
    audited(testapp, tenant, 6)
    collector.drop_after = 3  # reads three messages, then resets the connection
    with pytest.raises(StreamFailed):
        streamed(app, tenant, sink)
    total = streamed(app, tenant, sink)
    seqs = collector.seqs(tenant.slug)
    assert sorted(set(seqs)) == list(range(1, total + 1))  # every number: no gap
    assert len(seqs) - len(set(seqs)) == 3  # the three read before the reset, seen twice
    assert seqs[3:] == list(range(1, total + 1))  # the batch again, in order


def test_an_entry_that_commits_late_gets_the_next_number_not_a_gap(app, testapp, engine, tenant):
    from tenantapp.audit import record

    collector = Receiver()
    try:
        sink = HttpSink(collector.url, SECRET)
        audited(testapp, tenant, 1)
        with tenant_request(app, tenant.slug) as late, late.tm:
            record(late, "test.late", "thing:1")  # inserted first: the smaller id …
            late.dbsession.flush()
            audited(testapp, tenant, 1, start=1)  # … this one commits before it
            assert streamed(app, tenant, sink) >= 2
        streamed(app, tenant, sink)  # the late one, now committed
        entries = [entry for batch in collector.events.values() for entry in batch["entries"]]
        by_seq = sorted(entries, key=lambda e: e["seq"])
        assert [e["seq"] for e in by_seq] == list(range(1, len(by_seq) + 1))
        assert by_seq[-1]["action"] == "test.late"
        assert by_seq[-1]["id"] < by_seq[-2]["id"]  # numbered when it was seen, not by id
    finally:
        collector.stop()


def test_the_sink_is_named_by_a_url_and_a_bad_one_is_refused():
    from pyramid.exceptions import ConfigurationError

    assert sink_from({}) is None
    assert sink_from({"tenantapp.audit_stream.url": "syslog+tcp://siem:6514"}) == SyslogTcpSink(
        "siem", 6514
    )
    for bad in ("syslog+udp://siem:514", "ftp://x", "syslog+tcp://siem"):
        with pytest.raises(ConfigurationError):
            sink_from({"tenantapp.audit_stream.url": bad})
    with pytest.raises(ConfigurationError, match="secret"):
        sink_from({"tenantapp.audit_stream.url": "https://collector.example/audit"})
