"""Requests wait for a thread in turn per tenant: one tenant's backlog is not everyone's."""

from types import SimpleNamespace

import pytest

from tenantapp.server import FairQueue, FairTaskDispatcher, tenant_key


def task(path: str, host: str = "api.example.com"):
    return SimpleNamespace(
        request=SimpleNamespace(path=path, headers={"HOST": host}), path=path, service=lambda: None
    )


def test_a_backlog_of_one_tenant_lets_the_others_through_in_turn():
    queue = FairQueue()
    for i in range(30):
        queue.append(task(f"/hot/users/{i}"))
    queue.append(task("/quiet/users/1"))
    queue.append(task("/calm/users/1"))
    served = [queue.popleft().path for _ in range(4)]
    assert served == ["/hot/users/0", "/quiet/users/1", "/calm/users/1", "/hot/users/1"]
    assert len(queue) == 28
    rest = [queue.popleft().path for _ in range(28)]
    assert rest == [f"/hot/users/{i}" for i in range(2, 30)]  # in order within a tenant
    assert not queue
    with pytest.raises(IndexError):
        queue.popleft()


def test_tenants_are_told_apart_by_path_and_by_host():
    assert tenant_key(task("/acme/users")) == ("api.example.com", "acme")
    assert tenant_key(task("/users/1", "Acme.Example.com")) == ("acme.example.com", "users")
    assert tenant_key(SimpleNamespace()) == ("", "")


def test_the_server_uses_it(app):
    from tenantapp.server import create_api_server

    server = create_api_server(app, listen="127.0.0.1:0", threads=2)
    try:
        assert isinstance(server.task_dispatcher, FairTaskDispatcher)
        assert len(server.task_dispatcher.threads) == 2
    finally:
        server.close()


def test_the_server_sets_how_long_a_thread_holds_the_gil(app):
    import sys

    from tenantapp.server import create_api_server

    before = sys.getswitchinterval()
    server = create_api_server(app, listen="127.0.0.1:0", threads=1, switch_interval_ms="1")
    try:
        assert sys.getswitchinterval() == 0.001
    finally:
        server.close()
        sys.setswitchinterval(before)


def test_a_tenant_at_its_thread_cap_waits_while_others_go():
    done = []
    queue = FairQueue(per_key=2, on_done=lambda key, pace: done.append(key))
    for i in range(5):
        queue.append(task(f"/hot/users/{i}"))
    first, second = queue.popleft(), queue.popleft()
    assert not queue  # hot has two running: nothing can be taken
    assert len(queue) == 3
    queue.append(task("/quiet/users/1"))
    assert queue.popleft().path == "/quiet/users/1"
    first.service()  # a hot task finishes: one more hot may go
    assert done == [("api.example.com", "hot")]
    queue.done(done[0])
    assert queue.popleft().path == "/hot/users/2"
    assert not queue
    second.service()
    queue.done(done[1])
    assert queue.popleft().path == "/hot/users/3"


def test_a_tenant_over_its_rate_is_held_not_refused():
    now = [100.0]
    queue = FairQueue(rate=2, clock=lambda: now[0])
    for i in range(5):
        queue.append(task(f"/hot/users/{i}"))
    assert [queue.popleft().path for _ in range(2)] == ["/hot/users/0", "/hot/users/1"]
    assert not queue and len(queue) == 3  # held: a burst of a second's worth went
    assert queue.next_ready_in() == pytest.approx(0.5)
    queue.append(task("/quiet/users/1"))
    assert queue.popleft().path == "/quiet/users/1"  # others are not held
    now[0] += 0.5
    assert queue and queue.popleft().path == "/hot/users/2"
    assert not queue
    now[0] += 10  # a long pause refills no more than the burst
    assert [queue.popleft().path for _ in range(2)] == ["/hot/users/3", "/hot/users/4"]


def test_a_tenant_is_paced_as_its_last_request_said():
    now = [100.0]
    queue = FairQueue(clock=lambda: now[0])
    for i in range(4):
        queue.append(task(f"/hot/users/{i}"))
    first = queue.popleft()
    first.pace = 1  # the app: this tenant's plan paces it at 1 a second
    first.service()
    queue.popleft()  # its burst: one second's worth
    assert not queue and len(queue) == 2  # the rest are held
    queue.append(task("/quiet/users/1"))
    assert queue.popleft().path == "/quiet/users/1"  # others are not paced
    now[0] += 1
    second = queue.popleft()
    assert second.path == "/hot/users/2" and not queue
    second.pace = 0  # its plan changed: no pace
    second.service()
    assert queue.popleft().path == "/hot/users/3"
