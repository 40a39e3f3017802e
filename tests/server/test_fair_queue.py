"""Requests wait for a thread in turn per tenant: one tenant's backlog is not everyone's."""

from types import SimpleNamespace

import pytest

from tenantapp.server import FairQueue, FairTaskDispatcher


def task(path: str, host: str = "api.example.com"):
    """A channel as waitress queues it: its next request first in ``requests``."""
    return SimpleNamespace(requests=[SimpleNamespace(path=path, headers={"HOST": host})], path=path)


def known(queue: FairQueue, *tenants: str) -> FairQueue:
    """The queue, having served these tenants before (the app said so)."""
    for tenant in tenants:
        queue.learn(tenant)
    return queue


def test_a_backlog_of_one_tenant_lets_the_others_through_in_turn():
    queue = known(FairQueue(), "hot", "quiet", "calm")
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


def test_tenants_are_told_apart_as_the_app_resolved_them_on_any_host():
    queue = FairQueue()
    assert queue.key(task("/acme/users")) == ""  # not known yet: the shared key
    first = task("/acme/users")
    queue.append(first)
    queue.popleft()
    queue.finished(first.queue_key, 0, "acme")  # the app: that was tenant acme
    assert queue.key(task("/acme/users")) == "/acme"
    assert queue.key(task("/acme/users/1", "127.0.0.1:6543")) == "/acme"
    assert queue.key(task("/-/ready")) == "/-"
    assert queue.key(SimpleNamespace(requests=[])) == ""
    assert queue.running() == {}


def test_made_up_hosts_and_segments_get_no_queue_of_their_own():
    queue = known(FairQueue(), "acme")
    keys = {queue.key(task(f"/acme/users/{i}", f"h{i}.example")) for i in range(10)}
    assert keys == {"/acme"}
    keys = {queue.key(task(f"/nobody{i}/users")) for i in range(10)}
    assert keys == {""}


def test_a_request_waitress_could_not_parse_has_the_shared_key():
    """Its parser has no path (a header line ending in a bare LF): waitress's error task."""
    broken = SimpleNamespace(requests=[], request=SimpleNamespace(headers={}))
    assert FairQueue().key(broken) == ""


def test_a_tenant_reached_by_its_host_is_one_tenant_whatever_its_paths():
    queue = FairQueue()
    first = task("/users/1", "Acme.Example.com")
    queue.append(first)
    assert queue.popleft() is first
    queue.finished(first.queue_key, 0, "acme", "Acme.Example.com")  # the host named acme
    for path in ("/users/1", "/audit", "/console/users"):
        assert queue.key(task(path, "acme.example.com")) == "/acme"
    assert queue.key(task("/acme/users/1", "api.example.com")) == "/acme"  # its path: the same
    assert queue.key(task("/users/1", "api.example.com")) == ""  # not a tenant's host
    assert queue.running() == {}


def test_a_channel_serving_many_requests_is_booked_once_per_turn():
    """waitress queues one channel per connection again and again (keep-alive): each turn
    ends once, and nothing is left over however many turns it had."""
    queue = known(FairQueue(per_key=1), "acme")
    channel = task("/acme/users/1")
    for _ in range(5000):
        queue.append(channel)
        assert queue.popleft() is channel
        assert queue.running() == {"/acme": 1}
        assert not queue  # at its cap of one
        queue.finished(channel.queue_key, 0)
    assert queue.running() == {} and len(queue) == 0


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
    queue = known(FairQueue(per_key=2), "hot", "quiet")
    for i in range(5):
        queue.append(task(f"/hot/users/{i}"))
    first, second = queue.popleft(), queue.popleft()
    assert not queue  # hot has two running: nothing can be taken
    assert len(queue) == 3
    queue.append(task("/quiet/users/1"))
    quiet = queue.popleft()
    assert quiet.path == "/quiet/users/1"
    assert queue.running() == {"/hot": 2, "/quiet": 1}
    queue.finished(first.queue_key)  # a hot task finishes: one more hot may go
    assert queue.popleft().path == "/hot/users/2"
    assert not queue
    queue.finished(second.queue_key)
    assert queue.popleft().path == "/hot/users/3"


def test_a_tenant_over_its_rate_is_held_not_refused():
    now = [100.0]
    queue = known(FairQueue(rate=2, clock=lambda: now[0]), "hot", "quiet")
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
    queue = known(FairQueue(clock=lambda: now[0]), "hot", "quiet")
    for i in range(4):
        queue.append(task(f"/hot/users/{i}"))
    first = queue.popleft()
    queue.finished(first.queue_key, 1)  # the app: this tenant's plan paces it at 1 a second
    queue.popleft()  # its burst: one second's worth
    assert not queue and len(queue) == 2  # the rest are held
    queue.append(task("/quiet/users/1"))
    assert queue.popleft().path == "/quiet/users/1"  # others are not paced
    now[0] += 1
    second = queue.popleft()
    assert second.path == "/hot/users/2" and not queue
    queue.finished(second.queue_key, 0)  # its plan changed: no pace
    assert queue.popleft().path == "/hot/users/3"


def test_a_capped_tenant_takes_idle_threads_while_nobody_else_waits_but_leaves_one():
    idle = [3]
    queue = known(FairQueue(per_key=2, spare=lambda: idle[0]), "hot", "quiet")
    for i in range(6):
        queue.append(task(f"/hot/users/{i}"))
    assert [queue.popleft().path for _ in range(2)] == ["/hot/users/0", "/hot/users/1"]
    idle[0] = 1  # one more thread would still be idle: over the cap, since nobody waits
    assert queue and queue.popleft().path == "/hot/users/2"
    queue.append(task("/quiet/users/1"))
    assert queue.popleft().path == "/quiet/users/1"  # others first, whatever the cap
    idle[0] = 0  # the asking thread is the last one idle: the cap binds
    assert not queue
    assert queue.running() == {"/hot": 3, "/quiet": 1}
