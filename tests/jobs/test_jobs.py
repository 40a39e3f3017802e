"""Tenant jobs on a real worker (procrastinate on PostgreSQL): deferred in the request's
transaction, run bound to their tenant, refused without one, capped per tenant, fanned out on a
schedule, counted in ``/-/metrics``."""

import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from pyramid.request import Request
from pyramid.scripting import prepare

from tenantapp.interfaces import IJobQueue, service
from tenantapp.jobs import JobRefused
from tenantapp.jobs.queue import QUEUE, SCHEMA, TenantTask
from tenantapp.tenancy.binding import Binding
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
PROBES = {}  # task name -> what the probe saw, per test


@pytest.fixture(scope="module")
def queue(app):
    return service(app.registry, IJobQueue)


def work(queue, concurrency: int = 1) -> None:
    """A worker that runs what is queued, then stops."""
    queue.drain(concurrency=concurrency, install_signal_handlers=False)


def owner_actor(testapp, tenant) -> str:
    users = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    return next(f"user:{u['id']}" for u in users if u["email"] == tenant.owner_email)


def jobs_of(engine, tenant) -> list:
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            f"SELECT task_name, status::text, attempts, args, lock"
            f" FROM {SCHEMA}.procrastinate_jobs"
            " WHERE queue_name = %s AND (args->>'tenant_id')::bigint = %s ORDER BY id",
            (QUEUE, tenant.id),
        ).all()


def tickets_of(tenancy, tenant) -> list:
    table = f'"{tenant.schema_name}".job_tickets'
    with tenant.owner_engine(tenancy).connect() as connection:
        return connection.exec_driver_sql(
            f"SELECT id, task, relayed_at FROM {table}{tenant.where()} ORDER BY id"
        ).all()


def audit_actions(testapp, tenant) -> list[tuple[str, str, str]]:
    items = testapp.get(f"/{tenant.slug}/audit?limit=100", headers=tenant.auth).json["items"]
    return [(item["action"], item["target"], item["actor"]) for item in reversed(items)]


def new_user(testapp, tenant, email: str = "invitee@example.com") -> int:
    body = {"email": email, "name": "Invitee"}
    return testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth).json["id"]


@contextmanager
def tenant_request(app, slug: str | None, method: str = "POST"):
    """A request of ``slug``'s tenant (none: of no tenant), as the app would make it."""
    request = Request.blank(f"/{slug or ''}")
    request.method = method
    env = prepare(request=request, registry=app.registry)
    try:
        if slug is not None:
            request.context = env["root"][slug]
        yield request
    finally:
        env["closer"]()


def test_an_invitation_is_sent_by_a_worker_after_the_request_commits(
    testapp, queue, engine, tenancy, tenant
):
    user = new_user(testapp, tenant)
    owner = owner_actor(testapp, tenant)
    response = testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=tenant.auth)
    assert response.status_int == 202
    assert response.json == {"user": user, "status": "queued"}
    # committed: the ticket was written with the request and relayed after it
    [ticket] = tickets_of(tenancy, tenant)
    assert ticket.task == "users.invite" and ticket.relayed_at is not None
    [job] = jobs_of(engine, tenant)
    assert (job.task_name, job.status) == ("users.invite", "todo")
    assert job.args["ticket"] == ticket.id and job.args["tenant"] == tenant.slug
    assert ("invitation.sent", f"user:{user}", owner) not in audit_actions(testapp, tenant)

    work(queue)

    assert jobs_of(engine, tenant)[0].status == "succeeded"
    assert tickets_of(tenancy, tenant) == []  # consumed with the work
    actions = audit_actions(testapp, tenant)
    assert ("invitation.requested", f"user:{user}", owner) in actions
    assert ("invitation.sent", f"user:{user}", owner) in actions


def test_jobs_are_in_the_metrics(testapp, queue, tenant):
    user = new_user(testapp, tenant)
    before = job_samples(testapp)
    testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=tenant.auth, status=202)
    queued = job_samples(testapp)
    assert queued[("tenantapp_jobs_queued", "todo")] >= 1
    work(queue)
    after = job_samples(testapp)
    done = ("tenantapp_jobs_total", "users.invite", "done")
    assert after[done] == before.get(done, 0) + 1
    assert after[("tenantapp_job_duration_seconds_count", "users.invite")] >= 1
    assert after[("tenantapp_jobs_queued", "succeeded")] >= 1


def job_samples(testapp) -> dict:
    """Job samples of ``/-/metrics``, parsed as Prometheus does, summed over tenants."""
    text = testapp.get("/-/metrics", headers=OPERATOR).text
    found: dict = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tenantapp_jobs_total":
                key = (sample.name, sample.labels["task"], sample.labels["outcome"])
            elif sample.name == "tenantapp_job_duration_seconds_count":
                key = (sample.name, sample.labels["task"])
            elif sample.name == "tenantapp_jobs_queued":
                key = (sample.name, sample.labels["status"])
            else:
                continue
            found[key] = found.get(key, 0) + sample.value
    return found


def test_only_admins_invite_and_strangers_are_told_nothing(testapp, tenant, other_tenant):
    user = new_user(testapp, tenant)
    testapp.post(f"/{tenant.slug}/users/{user}/invitation", status=401)
    testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=other_tenant.auth, status=401)
    testapp.post(f"/{tenant.slug}/users/99999/invitation", headers=tenant.auth, status=404)


def test_a_rolled_back_request_queues_nothing(app, queue, engine, tenancy, tenant):
    with tenant_request(app, tenant.slug) as request:
        request.tm.begin()
        request.defer("users.invite", user_id=1, invited_by="user:1")
        request.tm.abort()
    assert tickets_of(tenancy, tenant) == []
    assert jobs_of(engine, tenant) == []

    with tenant_request(app, tenant.slug) as request, request.tm:
        request.defer("users.invite", user_id=1, invited_by="user:1")
    assert len(tickets_of(tenancy, tenant)) == 1
    assert len(jobs_of(engine, tenant)) == 1


def test_deferring_without_a_tenant_or_a_task_or_json_is_refused(app, tenant):
    with tenant_request(app, None) as request, pytest.raises(JobRefused, match="tenant"):
        request.defer("users.invite", user_id=1, invited_by="x")
    with tenant_request(app, tenant.slug, "GET") as request, pytest.raises(JobRefused):
        request.defer("users.invite", user_id=1, invited_by="x")
    with tenant_request(app, tenant.slug) as request, request.tm:
        with pytest.raises(JobRefused, match="no tenant task"):
            request.defer("users.nonexistent")
        with pytest.raises(JobRefused, match="not JSON"):
            request.defer("users.invite", user_id=object(), invited_by="x")


def test_a_job_that_names_no_tenant_is_refused_not_run(queue, engine, testapp, tenant):
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"INSERT INTO {SCHEMA}.procrastinate_jobs (queue_name, task_name, args, lock)"
            " VALUES (%s, 'users.invite', %s::jsonb, %s)",
            (QUEUE, '{"args": {"user_id": 1, "invited_by": "mallory"}}', f"tenantless-{tenant.id}"),
        )
    work(queue)
    with engine.connect() as connection:
        status, attempts = connection.exec_driver_sql(
            f"SELECT status::text, attempts FROM {SCHEMA}.procrastinate_jobs WHERE lock = %s",
            (f"tenantless-{tenant.id}",),
        ).one()
    assert (status, attempts) == ("failed", 1)  # users.invite retries, but not a refusal
    assert not [a for a in audit_actions(testapp, tenant) if a[2] == "mallory"]


def test_a_ticket_relayed_twice_is_worked_once(app, queue, testapp, engine, tenancy, tenant):
    user = new_user(testapp, tenant)
    testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=tenant.auth, status=202)
    [ticket] = tickets_of(tenancy, tenant)
    queue.relay(tenant.entry, [(ticket.id, ticket.task, {"user_id": user, "invited_by": "x"})])
    assert len(jobs_of(engine, tenant)) == 2

    work(queue, concurrency=2)

    sent = [a for a in audit_actions(testapp, tenant) if a[0] == "invitation.sent"]
    assert sent == [("invitation.sent", f"user:{user}", owner_actor(testapp, tenant))]
    assert [job.status for job in jobs_of(engine, tenant)] == ["succeeded", "succeeded"]


def test_a_process_that_died_before_relaying_is_made_good_by_the_sweep(
    app, queue, testapp, engine, tenancy, tenant, monkeypatch
):
    user = new_user(testapp, tenant)
    with monkeypatch.context() as patched:  # the process dies between commit and relay
        patched.setattr(queue, "_after_commit", lambda *args: None)
        testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=tenant.auth, status=202)
    [ticket] = tickets_of(tenancy, tenant)
    assert ticket.relayed_at is None and jobs_of(engine, tenant) == []

    with tenant_request(app, tenant.slug) as request, request.tm:
        assert queue.sweep(request) == 0  # a fresh ticket may still be on its way
    table = f'"{tenant.schema_name}".job_tickets'
    with tenant.owner_engine(tenancy).begin() as connection:
        connection.exec_driver_sql(f"UPDATE {table} SET created_at = now() - interval '1 hour'")
    assert queue.fan_out("jobs.sweep") >= 1
    work(queue)

    assert any(a[0] == "invitation.sent" for a in audit_actions(testapp, tenant))
    assert tickets_of(tenancy, tenant) == []


@pytest.fixture(scope="module")
def probe(queue, engine):
    """A task that records how its request was bound, and how many of its tenant's jobs were
    running while it ran."""
    seen = PROBES.setdefault("probe", [])
    meet = threading.Barrier(2)

    def look(request, meet_another: bool = False) -> None:
        session = request.dbsession
        seen.append(
            {
                "tenant": request.tenant.record.slug,
                "binding": session.info["tenantapp.tenant_schema"],
                "timeout": session.execute(sa.text("SHOW statement_timeout")).scalar(),
                "tenant_setting": session.execute(
                    sa.text("SELECT current_setting('tenantapp.tenant_id', true)")
                ).scalar(),
                "running": running(engine, request.tenant.record.slug),
            }
        )
        if meet_another:  # two of the tenant's jobs must be running at once to pass
            meet.wait(timeout=30)

    def tick(request) -> None:
        PROBES.setdefault("tick", []).append(request.tenant.record.slug)

    queue.add(TenantTask("test.probe", look))
    queue.add(TenantTask("test.tick", tick, cron="0 3 * * *"))
    return seen


def running(engine, slug: str) -> int:
    """The tenant's jobs running now (the queue is the owner's, not the serving role's)."""
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            f"SELECT count(*) FROM {SCHEMA}.procrastinate_jobs"
            " WHERE status = 'doing' AND args->>'tenant' = %s",
            (slug,),
        ).scalar()


def defer_now(app, tenant, task: str, count: int = 1, **args) -> None:
    with tenant_request(app, tenant.slug) as request, request.tm:
        for _ in range(count):
            request.defer(task, **args)


def test_a_job_runs_bound_to_its_tenant_with_its_limits(
    app, queue, probe, testapp, tenant, other_tenant
):
    testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings",
        {"settings": {"quota_statement_timeout_ms": 1500}},
        headers=OPERATOR,
    )
    probe.clear()
    defer_now(app, tenant, "test.probe")
    defer_now(app, other_tenant, "test.probe")
    work(queue)
    by_tenant = {seen["tenant"]: seen for seen in probe}
    assert set(by_tenant) == {tenant.slug, other_tenant.slug}
    for handle in (tenant, other_tenant):
        assert by_tenant[handle.slug]["binding"] == Binding(
            handle.schema_name, handle.binding.tenant_id, by_tenant[handle.slug]["binding"].guard
        )
        expected = str(handle.id) if handle.mode == "shared" else ""
        assert by_tenant[handle.slug]["tenant_setting"] == expected
    assert by_tenant[tenant.slug]["timeout"] == "1500ms"
    assert by_tenant[other_tenant.slug]["timeout"] != "1500ms"


def test_a_tenants_jobs_run_at_most_its_cap_at_once(app, queue, probe, engine, tenant):
    probe.clear()
    defer_now(app, tenant, "test.probe", count=4, meet_another=True)
    locks = {job.lock for job in jobs_of(engine, tenant)}
    assert locks == {f"tenant:{tenant.id}:0", f"tenant:{tenant.id}:1"}  # jobs_at_once = 2
    work(queue, concurrency=4)
    assert len(probe) == 4
    assert max(seen["running"] for seen in probe) == 2  # two at once, never more


def test_a_scheduled_task_fans_out_once_per_active_tenant(
    app, queue, probe, engine, testapp, tenant, other_tenant
):
    periodic = {key[0] for key in queue.app.periodic_registry.periodic_tasks}
    assert "test.tick:fan-out" in periodic
    testapp.post(f"/-/tenants/{other_tenant.slug}/suspend", headers=OPERATOR, status=200)
    ticks = PROBES.setdefault("tick", [])
    ticks.clear()
    assert queue.fan_out("test.tick") >= 1
    assert queue.fan_out("test.tick") == 0  # each tenant's is still waiting: no pile-up
    assert [job.task_name for job in jobs_of(engine, tenant)] == ["test.tick"]
    assert jobs_of(engine, other_tenant) == []  # suspended: not scheduled
    work(queue)
    assert ticks.count(tenant.slug) == 1
    assert other_tenant.slug not in ticks


def test_tenantapp_worker_runs_the_queue_from_the_ini(config_uri, testapp, tenant):
    user = new_user(testapp, tenant)
    testapp.post(f"/{tenant.slug}/users/{user}/invitation", headers=tenant.auth, status=202)
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tenantapp.scripts.worker", config_uri, "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert any(a[0] == "invitation.sent" for a in audit_actions(testapp, tenant))


def test_tenantapp_worker_fails_in_one_line(tmp_path):
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tenantapp.scripts.worker", str(tmp_path / "missing.ini"), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("tenantapp-worker: ")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_retried_request_relays_what_its_last_attempt_deferred(app, engine, tenancy, tenant):
    with tenant_request(app, tenant.slug) as request:  # as pyramid_retry runs a request again
        request.tm.begin()
        request.defer("users.invite", user_id=1, invited_by="user:1")
        request.tm.abort()  # e.g. a serialization failure
        request.tm.begin()
        request.defer("users.invite", user_id=1, invited_by="user:1")
        request.tm.commit()
    [ticket] = tickets_of(tenancy, tenant)
    assert ticket.relayed_at is not None
    assert len(jobs_of(engine, tenant)) == 1
