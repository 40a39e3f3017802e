"""Several serving processes, as production runs them: a tenant's limits hold for all of them
together, not per process (three pserve processes on one database, one tenant driven past its
limits through all three)."""

import http.client
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tenantapp.testing import OPERATOR_TOKEN
from tests.caching.test_caching import serving_ini
from tests.quotas.test_quotas import blocked, set_quota
from tests.server.test_pserve import Pserve, free_port

PROCESSES = 3


@pytest.fixture
def processes(tmp_path, database_url):
    ini = serving_ini(
        tmp_path / "serving.ini",
        database_url,
        app="tenantapp.lock_timeout = 60s\n",  # requests held in flight wait on a lock that long
        server="threads = 8\n",
    )
    started = [Pserve(ini, free_port()) for _ in range(PROCESSES)]
    try:
        yield [server.start() for server in started]
    finally:
        for server in started:
            server.stop()


def get(server: Pserve, path: str, token: str) -> tuple[int, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=90)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_request_rate_holds_across_processes(testapp, tenant, processes):
    rate, burst = 2, 6
    set_quota(testapp, tenant, requests_per_second=rate, burst=burst)
    path = f"/{tenant.slug}/users?limit=1"
    started = time.monotonic()
    statuses = [get(processes[i % PROCESSES], path, tenant.token)[0] for i in range(60)]
    elapsed = time.monotonic() - started
    served = statuses.count(200)
    assert set(statuses) == {200, 429}
    # the burst, what the rate refilled meanwhile, and at most one more per process
    assert burst <= served <= burst + rate * elapsed + PROCESSES
    # per process, each would have let its own burst through: three times as many
    assert served < PROCESSES * burst


def test_requests_in_flight_hold_across_processes(testapp, tenancy, tenant, processes):
    """Two places for the tenant, six requests at once over three processes: two are held in
    flight (on a lock), the four others refused at once, whichever process they reached."""
    set_quota(testapp, tenant, requests_in_flight=2)
    path = f"/{tenant.slug}/users?limit=1"
    for server in processes:  # each has resolved the tenant and its settings
        assert get(server, path, tenant.token)[0] == 200
    table = f'"{tenant.schema_name}".users' if tenant.mode != "shared" else "tenant_shared.users"
    locker = tenant.owner_engine(tenancy).connect()
    locker.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    pool = ThreadPoolExecutor(6)
    try:
        asked = [pool.submit(get, processes[i % PROCESSES], path, tenant.token) for i in range(6)]
        deadline = time.monotonic() + 30
        while sum(f.done() for f in asked) < 4 or not blocked(locker):
            assert time.monotonic() < deadline, "the requests never settled"
        refused = [f.result() for f in asked if f.done()]
        assert len(refused) == 4
        assert all(status == 503 and b"2 requests in progress" in body for status, body in refused)
    finally:
        locker.rollback()
        locker.close()
    held = [f.result(timeout=60) for f in asked if (f.result(timeout=60)[0] == 200)]
    assert len(held) == 2
    pool.shutdown()


@pytest.mark.slow
def test_a_pace_is_shared_by_the_processes(testapp, tenant, processes):
    """Paced at 6 a second, flooded through three processes: about 6 a second go in all (each
    process takes its third), not 6 a second each."""
    pace = 6
    set_quota(testapp, tenant, paced_requests_per_second=pace)
    path = f"/{tenant.slug}/users?limit=1"
    deadline = time.monotonic() + 30
    for server in processes:  # from its first request on, a process beats
        assert get(server, path, tenant.token)[0] == 200
    while not all(
        # (this test's own in-process app serves tenant requests too: it may count)
        server.call("/-/stats", token=OPERATOR_TOKEN)["serving_processes"] >= PROCESSES
        for server in processes
    ):
        assert time.monotonic() < deadline, "the processes never saw each other"
    for server in processes:  # each has been told the pace over three (with an answer)
        assert get(server, path, tenant.token)[0] == 200

    def flood(server: Pserve, until: float) -> int:
        served = 0
        while time.monotonic() < until:
            served += get(server, path, tenant.token)[0] == 200
        return served

    started = time.monotonic()
    until = started + 3
    with ThreadPoolExecutor(4 * PROCESSES) as pool:
        served = sum(pool.map(flood, [processes[i % PROCESSES] for i in range(12)], [until] * 12))
    elapsed = time.monotonic() - started
    # the pace over the flood, each process's burst (its share: 2), one more per process, and
    # what was already taken when the window closed (at most a request per thread)
    assert served <= pace * elapsed + pace + PROCESSES + 12
    assert served >= pace  # not held for good either
