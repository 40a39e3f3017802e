"""The tenant-aware cache for app code, in process and in Redis: each tenant's keys are its
own, sealed values are unreadable where they are stored, a tenant's entries go when it is
purged and are void once it moves, and jobs have the same cache."""

import os
import threading
import uuid

import pytest
import webtest

from tenantapp import main
from tenantapp.interfaces import (
    ICacheListener,
    IJobQueue,
    IServers,
    ITenantCaches,
    IUsageLedger,
    service,
)
from tests.files.test_files import free_port

from . import cached_views

RUN_PREFIX = f"tenantapp-test:{uuid.uuid4().hex}:"


@pytest.fixture(scope="module")
def redis_url():
    """The Redis server TENANTAPP_TEST_REDIS_URL names (CI: the machine's), else fakeredis's
    server on 127.0.0.1 (Redis's protocol over a socket, through the same client)."""
    named = os.environ.get("TENANTAPP_TEST_REDIS_URL")
    if named:
        yield named
        return
    from fakeredis import TcpFakeServer

    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{port}/0"
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["memory", "redis"])
def backend(request, settings):
    if request.param == "memory":
        return {}
    return {  # a prefix of the run's own: a Redis server may hold an earlier run's tenant ids
        "tenantapp.cache.url": request.getfixturevalue("redis_url"),
        "tenantapp.cache.prefix": RUN_PREFIX,
    }


@pytest.fixture
def cached(app, settings, backend):
    """An app whose code uses ``request.cache``, on the backend."""
    includes = {"pyramid.includes": "tests.tenant_cache.cached_views"}
    made = main({}, **settings, **backend, **includes)
    yield webtest.TestApp(made, extra_environ={"HTTP_HOST": "example.com"})
    service(made.registry, ICacheListener).stop()
    service(made.registry, IUsageLedger).stop()
    service(made.registry, IServers).dispose()


def test_the_same_key_under_two_tenants_is_two_entries(cached, tenant, other_tenant):
    for who in (tenant, other_tenant):
        cached.put_json(f"/{who.slug}/cached?key=plan", {"owner": who.slug})
    for who in (tenant, other_tenant):
        assert cached.get(f"/{who.slug}/cached?key=plan").json["value"] == {"owner": who.slug}
    cached_views.MADE.clear()
    for who in (tenant, other_tenant, tenant, other_tenant):
        filled = cached.get(f"/{who.slug}/filled?key=report").json["value"]
        assert filled == {"made_for": who.slug}
    assert cached_views.MADE == ["report", "report"]  # once per tenant, then from the cache


def test_no_key_reaches_another_tenants_entry(cached, tenant, other_tenant):
    cached.put_json(f"/{tenant.slug}/cached?key=secret", {"only": tenant.slug})
    caches = service(cached.app.registry, ITenantCaches)
    stored = caches.of(tenant.id, 0, None)._key("secret")  # the key as it is stored for A
    for attempt in (
        "secret",
        stored,
        stored.removeprefix(caches.prefix),
        f"{tenant.id}:0:secret",
        f"{caches.prefix}{tenant.id}:0:secret",
        "../secret",
        f"../{tenant.id}/secret",
    ):
        url = f"/{other_tenant.slug}/cached?key={attempt}"
        assert cached.get(url).json["value"] is None, attempt
    assert cached.get(f"/{tenant.slug}/cached?key=secret").json["value"] == {"only": tenant.slug}


def test_sealed_values_are_unreadable_where_they_are_kept(cached, backend, tenant):
    cached.put_json(f"/{tenant.slug}/cached?key=card&sealed=1", {"number": "4111-SECRET"})
    cached.put_json(f"/{tenant.slug}/cached?key=open", {"number": "1234-PLAIN"})
    assert cached.get(f"/{tenant.slug}/cached?key=card").json["value"] == {"number": "4111-SECRET"}
    kept = b"".join(raw_values(cached.app, tenant.id))
    assert b"1234-PLAIN" in kept  # what was not sealed is there to see
    assert b"4111-SECRET" not in kept


def test_a_purged_tenants_entries_are_gone(cached, tenancy, make_tenant):
    doomed, kept = make_tenant("doomed"), make_tenant("kept")
    for who in (doomed, kept):
        for n in range(3):
            cached.put_json(f"/{who.slug}/cached?key=k{n}&sealed={n % 2}", [n])
    assert len(raw_values(cached.app, doomed.id)) == 3
    tenancy.purge_tenant(doomed.slug)  # the tests' lifecycle: not the cached app's
    service(cached.app.registry, ITenantCaches).purge(doomed.id)  # as its own purge does
    assert raw_values(cached.app, doomed.id) == []
    assert len(raw_values(cached.app, kept.id)) == 3


def test_a_purge_by_the_apps_lifecycle_deletes_the_entries(cached, make_tenant):
    from tenantapp.interfaces import ITenancy

    doomed = make_tenant("doomed")
    cached.put_json(f"/{doomed.slug}/cached?key=k", [1])
    assert len(raw_values(cached.app, doomed.id)) == 1
    service(cached.app.registry, ITenancy).purge_tenant(doomed.slug)
    assert raw_values(cached.app, doomed.id) == []


@pytest.mark.parametrize("target", ["shared", "database"])
def test_what_was_cached_before_a_move_is_not_read_after(cached, tenancy, make_tenant, target):
    moving = make_tenant("moving", mode="schema")
    cached.put_json(f"/{moving.slug}/cached?key=where", {"mode": "before"})
    tenancy.move_tenant(moving.slug, to_mode=target)
    assert cached.get(f"/{moving.slug}/cached?key=where").json["value"] is None
    cached.put_json(f"/{moving.slug}/cached?key=where", {"mode": target})
    assert cached.get(f"/{moving.slug}/cached?key=where").json["value"] == {"mode": target}


def test_a_job_has_its_tenants_cache(cached, tenant, other_tenant):
    cached.post(f"/{tenant.slug}/later?key=from-job")
    service(cached.app.registry, IJobQueue).drain(concurrency=1, install_signal_handlers=False)
    got = cached.get(f"/{tenant.slug}/cached?key=from-job").json["value"]
    assert got == {"from": "a job", "tenant": tenant.slug}
    assert cached.get(f"/{other_tenant.slug}/cached?key=from-job").json["value"] is None


def raw_values(app, tenant_id: int) -> list[bytes]:
    """What the backend holds for the tenant, as stored."""
    caches = service(app.registry, ITenantCaches)
    prefix = caches.tenant_prefix(tenant_id)
    if caches.redis is not None:
        return [caches.redis.get(k) for k in caches.redis.scan_iter(match=f"{prefix}*")]
    keys = caches.memory.keys()  # an LRU: it has no iteration of its own
    return [repr(caches.memory[k]).encode() for k in keys if k.startswith(prefix)]
