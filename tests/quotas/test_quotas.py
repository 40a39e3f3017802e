"""Per-tenant quotas: a rate (429), requests in flight (503), users, and the database limits
set in each transaction; one tenant's limits never touch another's."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
import webtest

from tenantapp import configure
from tenantapp.interfaces import ICacheListener, IServers, IServingProcesses, IUsageLedger, service
from tenantapp.tenancy.resources import Tenant
from tests.conftest import OPERATOR_TOKEN, PASSWORD

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
MB = 1024 * 1024


def set_quota(testapp, tenant, **values) -> None:
    settings = {f"quota_{name}": value for name, value in values.items()}
    testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings", {"settings": settings}, headers=OPERATOR
    )


def test_over_the_rate_is_429_with_retry_after_and_others_are_untouched(
    testapp, tenant, other_tenant
):
    url = f"/{tenant.slug}/users"
    testapp.get(url, headers=tenant.auth, status=200)  # its token known: the tenant's budget
    set_quota(testapp, tenant, requests_per_second=1, burst=1)
    testapp.get(url, headers=tenant.auth, status=200)
    refused = testapp.get(url, headers=tenant.auth, status=429)
    assert refused.json["error"] == "rate_limited"
    assert refused.headers["Retry-After"] == "1"
    testapp.get(f"/{other_tenant.slug}/users", headers=other_tenant.auth, status=200)


def test_over_the_requests_in_flight_is_503_until_one_finishes(
    engine, testapp, tenancy, tenant, other_tenant
):
    set_quota(testapp, tenant, requests_in_flight=1)
    url = f"/{tenant.slug}/users"
    table = f'"{tenant.schema_name}".users' if tenant.mode != "shared" else "tenant_shared.users"
    locker = tenant.owner_engine(tenancy).connect()
    locker.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    try:
        held = ThreadPoolExecutor(1).submit(testapp.get, url, headers=tenant.auth)
        started = time.monotonic()
        while not blocked(locker):  # the first request waits on the lock, in flight
            assert time.monotonic() - started < 10, "the request never reached the lock"
        refused = testapp.get(url, headers=tenant.auth, status=503)
        assert refused.json["error"] == "busy" and refused.headers["Retry-After"] == "1"
        if tenant.mode != "shared":  # a shared table's lock holds up every shared tenant
            testapp.get(f"/{other_tenant.slug}/users", headers=other_tenant.auth, status=200)
    finally:
        locker.rollback()
        locker.close()
    assert held.result(timeout=30).status_int == 200
    testapp.get(url, headers=tenant.auth, status=200)  # its place was given back


def blocked(connection) -> bool:
    return bool(
        connection.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation'"
        ).scalar()
    )


def test_the_user_limit_refuses_the_user_too_many(testapp, tenant, add_user):
    set_quota(testapp, tenant, max_users=2)  # the owner and one more
    add_user(tenant.slug, "second@q.example")
    refused = testapp.post_json(
        f"/{tenant.slug}/users",
        {"email": "third@q.example", "name": "Third"},
        headers=tenant.auth,
        status=403,
    )
    assert refused.json["error"] == "quota_exceeded"
    page = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    assert len(page) == 2


def test_users_created_at_once_never_pass_the_limit(testapp, tenant):
    set_quota(testapp, tenant, max_users=4)
    barrier = threading.Barrier(6)

    def create(i: int) -> int:
        barrier.wait()
        return testapp.post_json(
            f"/{tenant.slug}/users",
            {"email": f"racer{i}@q.example", "name": "Racer"},
            headers=tenant.auth,
            expect_errors=True,
        ).status_int

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(create, range(6)))
    assert statuses == [201, 201, 201, 403, 403, 403]


def test_database_limits_are_set_in_the_tenants_transactions(
    settings, testapp, tenant, other_tenant
):
    set_quota(testapp, tenant, statement_timeout_ms=1500, work_mem_kb=2048)

    def limits(context, request):
        show = request.dbsession.execute
        return {
            "statement_timeout": show(sa.text("SHOW statement_timeout")).scalar(),
            "work_mem": show(sa.text("SHOW work_mem")).scalar(),
        }

    config = configure(settings)
    config.add_view(limits, context=Tenant, name="limits", renderer="json", permission="view")
    app = config.make_wsgi_app()
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
        mine = client.get(f"/{tenant.slug}/limits", headers=tenant.auth).json
        assert mine == {"statement_timeout": "1500ms", "work_mem": "2MB"}
        theirs = client.get(f"/{other_tenant.slug}/limits", headers=other_tenant.auth).json
        assert theirs["statement_timeout"] != "1500ms"
    finally:
        service(app.registry, ICacheListener).stop()
        service(app.registry, IUsageLedger).stop()
        service(app.registry, IServers).dispose()


def test_quotas_are_the_operators_not_the_tenants(testapp, tenant):
    change = {"settings": {"quota_max_users": 1000}}
    refused = testapp.patch_json(
        f"/{tenant.slug}/settings", change, headers=tenant.auth, status=400
    )
    assert "settings.quota_max_users" in refused.json["fields"]


def test_a_tenant_over_its_storage_may_read_log_in_and_delete_but_not_write(
    app, testapp, engine, tenancy, tenant, other_tenant
):
    from tenantapp.interfaces import IJobQueue
    from tenantapp.tenancy.directory import find_tenant, forget_tenant

    queue = service(app.registry, IJobQueue)
    assert queue.fan_out("quotas.measure_storage") >= 2
    queue.drain(install_signal_handlers=False)
    measured = find_tenant(engine, tenant.slug).storage_bytes
    assert measured == tenancy.store(tenant.mode).sizes([tenant.entry])[tenant.id] > 0

    limit = measured // MB + 2  # room for a few users (a database-mode tenant holds ~8 MB)
    set_quota(testapp, tenant, max_storage_mb=limit)
    set_quota(testapp, other_tenant, max_storage_mb=limit)
    user = testapp.post_json(
        f"/{tenant.slug}/users", {"email": "x@example.com", "name": "X"}, headers=tenant.auth
    ).json["id"]
    with engine.begin() as connection:  # as a measurement finding it over would leave it
        connection.execute(
            sa.text("UPDATE tenantapp.tenants SET storage_bytes = :size WHERE id = :id"),
            {"size": (limit + 1) * MB, "id": tenant.id},
        )
    forget_tenant(tenant.slug)
    body = {"email": "y@example.com", "name": "Y"}
    refused = testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth, status=403)
    assert refused.json["error"] == "quota_exceeded"
    assert f"{limit} MB of storage" in refused.json["message"]
    testapp.patch_json(
        f"/{tenant.slug}/users/{user}", {"name": "Z"}, headers=tenant.auth, status=403
    )
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    testapp.post_json(
        f"/{tenant.slug}/tokens",
        {"email": tenant.owner_email, "password": PASSWORD},
        status=201,
    )
    testapp.delete(f"/{tenant.slug}/users/{user}", headers=tenant.auth, status=204)
    testapp.post_json(f"/{other_tenant.slug}/users", body, headers=other_tenant.auth, status=201)

    queue.fan_out("quotas.measure_storage")  # measured again: back under its limit
    queue.drain(install_signal_handlers=False)
    testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth, status=201)


def test_each_tenant_request_tells_the_server_its_pace(app, testapp, tenant, other_tenant):
    from webob import Request

    from tenantapp.quotas import PACE_KEY

    set_quota(testapp, tenant, paced_requests_per_second=10)

    def pace(handle) -> float | None:
        request = Request.blank(f"/{handle.slug}/users", headers=handle.auth)
        assert request.get_response(app).status_int == 200
        return request.environ.get(PACE_KEY)

    # its share: the pace over the processes serving on this database (other tests' apps too)
    serving = service(app.registry, IServingProcesses)
    before, told, after = serving.count(), pace(tenant), serving.count()
    assert told in {10 / before, 10 / after}
    assert pace(other_tenant) == 0
    outside = Request.blank("/-/ready")
    outside.get_response(app)
    assert PACE_KEY not in outside.environ  # not a tenant's: the server keeps its own


def test_strangers_do_not_use_up_the_tenants_rate(testapp, tenant):
    """Requests without a token known valid are counted per client address, apart from the
    tenant's budget: a stranger is refused, the owner (seen lately) is not, another address is
    not. Which budget is chosen from memory, before the request's transaction."""
    url = f"/{tenant.slug}/users"
    testapp.get(url, headers=tenant.auth, status=200)  # the owner, seen lately
    set_quota(testapp, tenant, requests_per_second=1, burst=2)
    stranger = {"REMOTE_ADDR": "198.51.100.7"}
    answers = [
        testapp.get(url, extra_environ=stranger, expect_errors=True).status_int for _ in range(12)
    ]
    assert answers.count(401) >= 2 and answers.count(429) >= 6
    bad_token = {"Authorization": "Bearer tnt_made-up"}
    testapp.get(url, headers=bad_token, extra_environ=stranger, status=429)
    testapp.get(url, headers=tenant.auth, extra_environ=stranger, status=200)
    testapp.get(url, extra_environ={"REMOTE_ADDR": "198.51.100.8"}, status=401)
