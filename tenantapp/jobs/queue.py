"""The job queue: procrastinate on the registry's server, fed by tickets tenants' transactions
write, run bound to the job's tenant as a request is.

* **Deferring** (``request.defer(task, **args)``) writes a ticket in the tenant's own tables, in
  the request's transaction (it can be in another database than the queue: two-phase commit is
  not on offer in PostgreSQL by default), and asks for it to be relayed after the commit. A
  rolled-back request leaves no ticket and relays nothing.
* **Relaying** puts a procrastinate job naming the tenant and the ticket in the queue, then
  marks the ticket relayed. A process that dies in between leaves the ticket unmarked; the
  periodic sweep (``jobs.sweep``) relays it again.
* **Running**: a worker runs each job in a Pyramid request of its tenant, made the way a request
  is (root factory, ``request.tenant``, ``request.dbsession`` in ``request.tm``, the tenant's
  ``SET LOCAL`` limits); the job's work and the deletion of its ticket commit together, so a
  ticket relayed twice is worked once. A job that names no tenant is refused, never run.
* **Caps**: a tenant's jobs take one of its ``quota_jobs_at_once`` procrastinate locks, so at
  most that many of them run at once, whatever its backlog; other tenants' jobs are fetched
  past them.
"""

import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import attr
from procrastinate import App, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.manager import JobManager
from pyramid.request import Request
from pyramid.scripting import prepare
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.sql import func

from ..interfaces import IServers, ISettingsCatalog, ITraversal, IUsageLedger, service
from ..tenancy.directory import TenantEntry, active_tenants
from ..tenancy.sessions import SAFE_METHODS, tenant_session
from .models import JobTicket

log = logging.getLogger(__name__)

SCHEMA = "procrastinate"  # shared revision s009
QUEUE = "tenants"
MAX_TASK_NAME = 100
FAN_OUT_BATCH = 500
CRON_PREFIX = "tenantapp.jobs.cron."  # + a task's name: its schedule in the ini ("": none)


class JobRefused(ValueError):
    """A job that cannot be queued or run as asked: no tenant, an unknown task, arguments that
    are not JSON. Never retried."""


@attr.dataclass(kw_only=True)
class TenantRetry(RetryStrategy):
    """Retry a failed job as asked, except one that was refused."""

    def get_retry_decision(self, *, exception, job):
        if isinstance(exception, JobRefused):
            return None
        return super().get_retry_decision(exception=exception, job=job)


@dataclass(frozen=True)
class TenantTask:
    """``fn(request, **args)``, run in a request of the job's tenant; with ``cron``, also run
    for every active tenant on that schedule."""

    name: str
    fn: Callable
    retry: int = 0
    cron: str | None = None


def conninfo(engine: Engine) -> str:
    """libpq's form of an engine's URL."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def regional(region: str | None) -> str:
    """The queue of the tenants whose server is in ``region`` (``QUEUE``: servers with none)."""
    return QUEUE if region is None else f"{QUEUE}@{region}"


class JobQueue:
    """``region``: this process works the jobs of tenants on servers of that region (and of
    servers with no region), and no others; with none, only the latter."""

    def __init__(self, registry, engine: Engine, instruments, region: str | None = None):
        self.registry = registry
        self.queues = sorted({QUEUE, regional(region)})
        self.engine = engine  # the registry's server, as the owner: the queue is there
        self.instruments = instruments
        self.tasks: dict[str, TenantTask] = {}
        options = {"options": f"-c search_path={SCHEMA}"}
        if "connect_timeout" not in make_url(conninfo(engine)).query:
            options["connect_timeout"] = 5
        self.app = App(connector=PsycopgConnector(conninfo=conninfo(engine), kwargs=options))
        # defers on a connection the caller holds (a transaction of ours): never opens a pool
        self.deferrer = JobManager(SyncPsycopgConnector())

    # -- declaring -------------------------------------------------------------------------

    def add(self, task: TenantTask) -> None:
        if task.name in self.tasks:
            raise ValueError(f"two tenant tasks are named {task.name!r}")
        if not task.name or len(task.name) > MAX_TASK_NAME:
            raise ValueError(f"a task name is 1 to {MAX_TASK_NAME} characters: {task.name!r}")
        cron = self.registry.settings.get(f"{CRON_PREFIX}{task.name}", task.cron)
        task = replace(task, cron=cron or None)
        self.tasks[task.name] = task
        retry = TenantRetry(max_attempts=task.retry, exponential_wait=2) if task.retry else False
        self.app.task(name=task.name, queue=QUEUE, pass_context=True, retry=retry)(
            self._runner(task)
        )
        if task.cron:

            def fan_out(timestamp: int) -> int:
                return self.fan_out(task.name)

            fanning = self.app.task(name=f"{task.name}:fan-out", queue=QUEUE)(fan_out)
            self.app.periodic(cron=task.cron, periodic_id=task.name)(fanning)

    # -- deferring and relaying --------------------------------------------------------------

    def defer(self, request, task: str, args: dict) -> int:
        """Write the ticket in the request's transaction; relay it once that commits."""
        tenant = request.tenant
        if tenant is None:
            raise JobRefused("a job runs for a tenant: defer it from a request of one")
        if task not in self.tasks:
            raise JobRefused(f"no tenant task is named {task!r}")
        if request.method in SAFE_METHODS:
            raise JobRefused(f"a {request.method} request writes nothing, so it defers nothing")
        try:
            json.dumps(args, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise JobRefused(f"the arguments of {task!r} are not JSON: {error}") from None
        ticket = JobTicket(task=task, args=args)
        request.dbsession.add(ticket)
        request.dbsession.flush()
        transaction = request.tm.get()  # per attempt: a retried request has a new one
        try:
            pending = transaction.data(self)
        except KeyError:
            pending = []
            transaction.set_data(self, pending)
            transaction.addAfterCommitHook(self._after_commit, (tenant.record, pending))
        pending.append((ticket.id, task, args))
        return ticket.id

    def _after_commit(self, committed: bool, entry: TenantEntry, pending: list) -> None:
        if committed and pending:
            self.relay(entry, pending)
            session = tenant_session(self.registry, entry)
            try:
                ids = [ticket for ticket, _, _ in pending]
                session.execute(
                    update(JobTicket).where(JobTicket.id.in_(ids)).values(relayed_at=func.now())
                )
                session.commit()
            finally:
                session.close()

    def _job(self, entry: TenantEntry, task: str, ticket: int | None, args: dict, **kw) -> Job:
        cap = self._cap(entry)
        slot = (ticket if ticket is not None else zlib.crc32(task.encode())) % max(cap, 1)
        return Job(
            queue=regional(service(self.registry, IServers)[entry.server].region),
            task_name=task,
            lock=f"tenant:{entry.id}:{slot}" if cap else None,
            task_kwargs={
                "tenant": entry.slug,
                "tenant_id": entry.id,
                "ticket": ticket,
                "args": args,
            },
            **{"queueing_lock": None, **kw},
        )

    def _cap(self, entry: TenantEntry) -> int:
        return service(self.registry, ISettingsCatalog).values(entry)["quota_jobs_at_once"]

    def relay(self, entry: TenantEntry, pending: list) -> None:
        jobs = [self._job(entry, task, ticket, args) for ticket, task, args in pending]
        with self.engine.begin() as connection:
            self.deferrer.batch_defer_jobs(jobs, connection=self._on_queue(connection))

    @staticmethod
    def _on_queue(connection):
        """The psycopg connection of ``connection``'s transaction, its path on the queue."""
        connection.exec_driver_sql(f"SELECT set_config('search_path', '{SCHEMA}', true)")
        return connection.connection.driver_connection

    def fan_out(self, task: str) -> int:
        """One job of ``task`` per active tenant, but none for a tenant whose last one is still
        waiting (its queueing lock). How many were queued."""
        queued = 0
        tenants = active_tenants(self.engine)
        for start in range(0, len(tenants), FAN_OUT_BATCH):
            batch = tenants[start : start + FAN_OUT_BATCH]
            with self.engine.begin() as connection:
                driver = self._on_queue(connection)
                waiting = set(
                    connection.exec_driver_sql(
                        "SELECT queueing_lock FROM procrastinate_jobs"
                        " WHERE status = 'todo' AND queueing_lock LIKE %s",
                        (f"{task}:%",),
                    ).scalars()
                )
                for entry in batch:
                    lock = f"{task}:{entry.id}"
                    if lock in waiting:
                        continue
                    try:
                        with connection.begin_nested():
                            job = self._job(entry, task, None, {}, queueing_lock=lock)
                            self.deferrer.defer_job(job, connection=driver)
                        queued += 1
                    except AlreadyEnqueued:  # queued by another worker meanwhile
                        pass
        return queued

    # -- running -----------------------------------------------------------------------------

    def _runner(self, task: TenantTask):
        def run(context, tenant=None, tenant_id=None, ticket=None, args=None):
            started = time.perf_counter()
            outcome = "failed"
            try:
                if not tenant or not isinstance(tenant_id, int):
                    outcome = "refused"
                    raise JobRefused(f"job {context.job.id} ({task.name}) names no tenant")
                outcome = self.run(task, tenant, tenant_id, ticket, args or {})
                return outcome
            finally:
                self.instruments.observe_job(
                    task.name, tenant, outcome, time.perf_counter() - started
                )
                if isinstance(tenant_id, int) and outcome != "refused":
                    service(self.registry, IUsageLedger).add_job(tenant_id)

        run.__name__ = run.__qualname__ = task.name
        return run

    def run(self, task: TenantTask, slug: str, tenant_id: int, ticket, args: dict) -> str:
        """Run ``task`` in a request of the tenant, as a POST to its root would be."""
        request = Request.blank(
            f"/{slug}", base_url=service(self.registry, ITraversal).public_url or None
        )
        request.method = "POST"
        env = prepare(request=request, registry=self.registry)
        try:
            try:
                request.context = env["root"][slug]
            except KeyError:
                request.tenant = None
            if request.tenant is None or request.tenant.record.id != tenant_id:
                log.warning("job %s for tenant %s: the tenant is gone", task.name, slug)
                return "gone"
            with request.tm:
                if ticket is not None:
                    consumed = request.dbsession.execute(
                        delete(JobTicket).where(JobTicket.id == ticket)
                    ).rowcount
                    if not consumed:  # relayed twice, and already worked
                        return "duplicate"
                task.fn(request, **args)
            return "done"
        finally:
            env["closer"]()

    def sweep(self, request, older_than_seconds: int = 60) -> int:
        """Relay the request's tenant's tickets whose relay never happened (the process died
        between its commit and the relay). How many."""
        rows = request.dbsession.execute(
            select(JobTicket.id, JobTicket.task, JobTicket.args)
            .where(
                JobTicket.relayed_at.is_(None),
                JobTicket.created_at < func.now() - timedelta(seconds=older_than_seconds),
            )
            .order_by(JobTicket.id)
            .with_for_update(skip_locked=True)
        ).all()
        pending = [tuple(row) for row in rows if row.task in self.tasks]
        if pending:
            self.relay(request.tenant.record, pending)
            request.dbsession.execute(
                update(JobTicket)
                .where(JobTicket.id.in_([ticket for ticket, _, _ in pending]))
                .values(relayed_at=func.now())
            )
        return len(pending)

    # -- working -----------------------------------------------------------------------------

    def run_worker(self, **options) -> None:
        """procrastinate's worker on the tenant queue (``tenantapp-worker``), until stopped."""
        self.app.run_worker(queues=self.queues, wait=True, **options)

    def drain(self, **options) -> None:
        """Run what is queued and due, then return. procrastinate's own ``wait=False`` stops
        at the first fetch that finds nothing, while jobs wait behind a tenant's busy cap;
        this runs it again while such jobs remain and the last run finished some."""
        while True:
            finished = self._count("status IN ('succeeded', 'failed', 'cancelled', 'aborted')")
            self.app.run_worker(queues=self.queues, wait=False, **options)
            due = self._count("status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())")
            if (
                not due
                or self._count("status IN ('succeeded', 'failed', 'cancelled', 'aborted')")
                == finished
            ):
                return

    def _count(self, condition: str) -> int:
        with self.engine.connect() as connection:
            return connection.exec_driver_sql(
                f"SELECT count(*) FROM {SCHEMA}.procrastinate_jobs"  # noqa: S608
                f" WHERE queue_name = ANY(%s) AND {condition}",
                (self.queues,),
            ).scalar()

    def depth(self) -> dict[str, int]:
        """Jobs in the queue by status, every region's together."""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT status::text, count(*) FROM {SCHEMA}.procrastinate_jobs"  # noqa: S608
                " WHERE queue_name = %s OR queue_name LIKE %s GROUP BY status",
                (QUEUE, QUEUE + "@%"),
            ).all()
        return {status: int(count) for status, count in rows}
