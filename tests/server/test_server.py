"""Requests waitress refuses before the app sees them still get the API's answer."""

import json
import socket
import threading
from types import SimpleNamespace

import pytest

from tenantapp.interfaces import IServingProcesses, service
from tenantapp.server import create_api_server
from tests.tenancy.test_hostile import SECURITY_HEADERS


@pytest.fixture
def server(app):
    server = create_api_server(app, listen="127.0.0.1:0", max_request_body_size=1024, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.close()
    thread.join(timeout=10)


def exchange(server, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.effective_port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (
            b"POST /acme/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n" + b"x" * 5000,
            413,
            "body_too_large",
        ),
        (
            b"POST /acme/users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            400,
            "bad_request",
        ),
        (
            b"POST /acme/users HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            b"Content-Length: 2\r\n\r\nab",
            400,
            "bad_request",
        ),
        (b"GET /acme/users HTTP/1.1\r\nHost: x\nAccept: */*\r\n\r\n", 400, "bad_request"),
        (b"GET /acme/users HTTP/1.1\r\nHost: x\rAccept: */*\r\n\r\n", 400, "bad_request"),
    ],
)
def test_refusals_by_waitress_are_api_json(server, raw, status, code):
    got, headers, body = exchange(server, raw)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"] == code
    assert len(headers["X-Request-Id"]) == 32
    for name in SECURITY_HEADERS:
        assert name in headers


def test_requests_waitress_accepts_reach_the_app(server):
    status, headers, body = exchange(
        server, b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200
    assert json.loads(body)["status"] == "ready"
    assert len(headers["X-Request-Id"]) == 32


def test_the_server_paces_a_tenant_as_its_plan_says(app, server, testapp, tenant, other_tenant):
    from tests.quotas.test_quotas import set_quota

    set_quota(testapp, tenant, paced_requests_per_second=3)
    paces = server.task_dispatcher.queue._paces
    for handle in (tenant, other_tenant):
        request = (
            f"GET /{handle.slug}/users HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {handle.token}\r\nConnection: close\r\n\r\n"
        )
        assert exchange(server, request.encode())[0] == 200
    # the channel finished before the dispatcher's done(): wait for that, not for time
    dispatcher = server.task_dispatcher
    with dispatcher.lock:
        assert dispatcher.queue_cv.wait_for(lambda: not dispatcher.queue._running, timeout=10)
    serving = service(app.registry, IServingProcesses).count()  # the pace is shared by them
    assert paces.get(f"/{tenant.slug}") in {3 / n for n in (serving - 1, serving, serving + 1) if n}
    assert f"/{other_tenant.slug}" not in paces


@pytest.mark.slow
def test_keep_alive_connections_serve_thousands_and_book_each_turn_once(app, testapp, tenant):
    """5,000 requests on one keep-alive connection, then 5,000 over 8 at once: every answer
    2xx, the tenant never on more threads than leave one idle (alone, it may pass its cap of
    2; never all 4), and nothing left booked at the end (each turn of a connection is counted
    once, however many it had)."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    from tests.quotas.test_quotas import set_quota

    cap, lock, running, most = 2, threading.Lock(), [0], [0]

    def counting(environ, start_response):  # how many of the tenant's requests run at once
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return app(environ, start_response)
        finally:
            with lock:
                running[0] -= 1

    set_quota(testapp, tenant, paced_requests_per_second=100_000)
    server = create_api_server(counting, listen="127.0.0.1:0", threads=4, threads_per_tenant=cap)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    path = f"/{tenant.slug}/users?limit=1"
    headers = {"Authorization": f"Bearer {tenant.token}"}

    def ask(count: int) -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)
        statuses = []
        for _ in range(count):
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            assert not response.will_close  # one connection throughout
        connection.close()
        return statuses

    try:
        assert set(ask(5000)) == {200}
        with ThreadPoolExecutor(8) as pool:
            statuses = [s for part in pool.map(ask, [625] * 8) for s in part]
        assert len(statuses) == 5000 and set(statuses) == {200}
        dispatcher = server.task_dispatcher
        with dispatcher.lock:  # the last channel's turn ends just after its answer is sent
            assert dispatcher.queue_cv.wait_for(lambda: not dispatcher.queue.running(), 10)
            assert len(dispatcher.queue) == 0
            (key, share), *others = dispatcher.queue._paces.items()
            # the pace, shared by the processes serving on this database (other tests' apps)
            assert key == f"/{tenant.slug}" and not others
            processes = 100_000 / share
            assert abs(processes - round(processes)) < 1e-6 and 1 <= round(processes) <= 50
        assert 1 < most[0] <= 3
    finally:
        server.close()
        thread.join(timeout=10)


@pytest.mark.slow
def test_the_queue_keys_a_tenant_as_the_app_resolved_it_whatever_the_host(
    app, server, testapp, tenant
):
    """Made-up Host headers and first segments name no queue of their own: the pace and the
    thread cap are the tenant's, not the client's choosing."""
    from tests.quotas.test_quotas import set_quota

    set_quota(testapp, tenant, paced_requests_per_second=1000)
    for i in range(10):
        request = (
            f"GET /{tenant.slug}/users HTTP/1.1\r\nHost: h{i}.example\r\n"
            f"Authorization: Bearer {tenant.token}\r\nConnection: close\r\n\r\n"
        )
        assert exchange(server, request.encode())[0] == 200
        request = f"GET /nobody-{i}/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert exchange(server, request.encode())[0] == 404
    dispatcher = server.task_dispatcher
    with dispatcher.lock:
        assert dispatcher.queue_cv.wait_for(lambda: not dispatcher.queue._running, timeout=10)
        queue = dispatcher.queue
        assert set(queue._paces) == {f"/{tenant.slug}"}
        assert (
            queue.key(
                SimpleNamespace(
                    requests=[
                        SimpleNamespace(
                            path=f"/{tenant.slug}/users", headers={"HOST": "h99.example"}
                        )
                    ]
                )
            )
            == f"/{tenant.slug}"
        )
        assert not any(key.startswith("/nobody") for key in queue._tenants)
