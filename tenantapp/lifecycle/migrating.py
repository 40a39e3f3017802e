"""``migrate`` across every tenant: shared schema first, then tenants in parallel.

Tenants migrate in worker processes (alembic keeps per-run state in module globals, so threads
would interfere), each tenant in its own transaction with a ``lock_timeout``, so a tenant blocked by
long-running requests fails on its own instead of stalling the run, and requests to a tenant that
is being migrated wait on its locks and then see the new schema: never a half-migrated one. The
outcome is recorded in ``tenantapp.tenant_migrations`` in the same transaction as the migration,
so the record is exact, tenants already at the target are skipped without touching their
schemas, and a crashed run resumes where it stopped. A session-level advisory lock keeps two runs
from overlapping.
"""

import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateSchema

from ..tenancy.guard import install_guard
from ..tenancy.models import POOLED_SCHEMA, TenantRecord
from ..tenancy.pooling import pool_tables
from ..tenancy.servers import DEFAULT, Server
from . import migrations, phases, templates
from .databases import direct, refresh_template_database, template_database
from .provisioning import (
    ProvisioningError,
    entry_of,
    record_migration,
    require_shared_schema,
    tenants_with_records,
)
from .roles import ensure_app_role, grant_serving
from .tenancy import Tenancy

log = logging.getLogger(__name__)
tenants = TenantRecord.__table__

LOCK_KEY = 0x74656E616E74  # "tenant"
DEFAULT_LOCK_TIMEOUT = "5s"


class MigrationLocked(ProvisioningError):
    """Another migrate run holds the lock."""


@dataclass(frozen=True)
class Outcome:
    slug: str
    ok: bool
    duration_ms: int
    error: str | None = None


@dataclass
class Report:
    total: int
    skipped: int
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def migrated(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]


Progress = Callable[[Outcome, int, int, int], None]  # (outcome, done, failed, total)


def connection_budget(engine: Engine) -> int:
    """Half of the connections the server has free: a migration must not starve the app."""
    with engine.connect() as connection:
        free = connection.scalar(
            text(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity)"
            )
        )
    return max(1, free // 2)


def migrate(
    tenancy: Tenancy,
    *,
    slugs: list[str] | None = None,
    workers: int | None = None,
    downgrade_to: str | None = None,
    fail_fast: bool = False,
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
    progress: Progress | None = None,
    phase: str | None = None,
) -> Report:
    """On every server: the shared schema to head, the serving role and its grants, the
    template and the pooled schema of shared mode; then the tenants with a schema of their own
    (all, or ``slugs``) to the tenant head, or down to ``downgrade_to``. ``phase="expand"``
    stops each before the first contract revision after it, and refuses an expand revision
    that is not additive; ``phase="contract"`` goes to head, and refuses while a process of
    older code serves (``phases``)."""
    if phase not in (None, "expand", "contract"):
        raise ValueError(f"phase is 'expand' or 'contract', not {phase!r}")
    if phase is not None and downgrade_to is not None:
        raise ProvisioningError("--expand and --contract go up, never down")
    # held by a transaction of its own for the whole run, beside the pool (a transaction pooler
    # keeps no session lock; a pool of one must not wait on itself)
    with direct(tenancy.registry).begin() as lock:
        if not lock.scalar(select(func.pg_try_advisory_xact_lock(LOCK_KEY))):
            raise MigrationLocked("another migrate run is in progress")
        target = _targets(downgrade_to, phase)
        if phase == "expand":
            phases.check_expand(list(migrations.chain("tenant")))
        elif phase == "contract":
            with tenancy.registry.connect() as registry:
                phases.refuse_old_processes(registry, _contracting(registry))
        for server in tenancy.servers:
            _migrate_server(tenancy, server, target, downgrade_to is not None, not slugs)
        report = _migrate_tenants(
            tenancy,
            slugs,
            workers,
            target,
            downgrade_to is not None,
            fail_fast,
            lock_timeout,
            progress,
        )
    if downgrade_to is None:  # the run's lock is gone: CREATE INDEX CONCURRENTLY would wait on it
        _build_concurrently(tenancy, slugs, report)
    return report


def _build_concurrently(tenancy: Tenancy, slugs: list[str] | None, report: Report) -> None:
    """The revisions' ``concurrently`` indexes (``phases.build_concurrently``) wherever they
    are missing: each server's template (captured again when it gained one), pooled schema and
    template database, then each tenant with a schema of its own, one at a time. A tenant whose
    build fails is recorded failed, with the error, so the next run builds it again."""
    if not any(migrations.concurrently("tenant", r) for r in migrations.chain("tenant")):
        return
    for server in tenancy.servers:
        with server.owner.connect() as connection:
            at = migrations.current_revision(connection, "tenant", templates.TEMPLATE_SCHEMA)
        if at is not None and phases.build_concurrently(
            server.owner, templates.TEMPLATE_SCHEMA, at
        ):
            with server.owner.connect() as connection:
                templates.forget_capture(connection, at)
                templates.refresh_template(connection, libpq_url(server.owner), lambda _, at=at: at)
        with server.owner.connect() as connection:
            at = migrations.current_revision(connection, "tenant", POOLED_SCHEMA)
        if at is not None:
            phases.build_concurrently(server.owner, POOLED_SCHEMA, at, pooled=True)
        template_database(
            server.owner,
            lambda engine, at: phases.build_concurrently(engine, templates.TEMPLATE_SCHEMA, at),
        )
    rows, _ = _pending(tenancy.registry, slugs, lambda current: current)
    for row in rows:
        if row.mode == "shared" or row.revision is None or row.migration_status != "ok":
            continue
        engine = tenancy.store(row.mode).owner_engine(entry_of(row))
        try:
            phases.build_concurrently(engine, row.schema_name, row.revision)
        except Exception as error:
            message = f"{type(error).__name__}: {str(error).splitlines()[0][:500]}"
            log.warning("an index of tenant %s was not built: %s", row.slug, message)
            with tenancy.registry.begin() as registry:
                record_migration(registry, row.id, None, "failed", message, 0)
            report.outcomes.append(Outcome(row.slug, False, 0, message))


def _targets(downgrade_to: str | None, phase: str | None):
    """Where a schema at a revision goes: ``target(current)``."""
    head = migrations.head_revision("tenant")
    if downgrade_to is not None:
        return lambda current: downgrade_to
    if phase == "expand":
        return lambda current: migrations.expand_target("tenant", current) or current or head
    return lambda current: head


def _contracting(registry) -> list[str]:
    """The contract revisions some tenant (or template) has still to apply."""
    at = registry.scalars(
        select(tenants.c.revision).where(tenants.c.status != "deleted").distinct()
    ).all()
    revisions = migrations.chain("tenant")
    known = [revisions.index(r) for r in at if r in revisions] or [len(revisions) - 1]
    oldest = min(known) if None not in at else -1
    return [r for r in revisions[oldest + 1 :] if migrations.phase("tenant", r) == "contract"]


def _migrate_server(tenancy: Tenancy, server: Server, target, down: bool, everyone: bool):
    """What every server has once: the registry schema (used on the default server only), the
    serving role's grants, the templates of new tenant schemas and databases, and the pooled
    schema with the rows of its shared tenants, whose migration records follow it."""
    role = tenancy.servers.app_role
    with server.owner.begin() as connection:
        migrations.upgrade_shared(connection)
        ensure_app_role(connection, role)
        install_guard(connection)
    if down and not everyone:
        return
    with server.owner.connect() as connection:
        if down:  # every tenant goes down: so does the template they are made from
            templates.downgrade_template(connection, target(None))
            connection.commit()
        else:
            templates.refresh_template(connection, libpq_url(server.owner), target)
    # database mode's template database, where one was made
    refresh_template_database(
        server.owner, role.name, downgrade_to=target(None) if down else None, target=target
    )
    with server.owner.begin() as connection:
        started = time.perf_counter()
        connection.execute(CreateSchema(POOLED_SCHEMA, if_not_exists=True))
        pooled_to = target(migrations.current_revision(connection, "tenant", POOLED_SCHEMA))
        if down:
            migrations.downgrade_tenant(connection, POOLED_SCHEMA, pooled_to)
        else:
            migrations.upgrade_tenant(connection, POOLED_SCHEMA, pooled_to)
        pool_tables(connection)
        grant_serving(connection, POOLED_SCHEMA, role.name)
    elapsed = round((time.perf_counter() - started) * 1000)
    with tenancy.registry.begin() as registry:  # after: the registry may be this server's pool
        ids = registry.scalars(
            select(tenants.c.id).where(tenants.c.mode == "shared", tenants.c.server == server.name)
        ).all()
        for tenant_id in ids:
            record_migration(registry, tenant_id, pooled_to, "ok", None, elapsed)


def libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pending(engine: Engine, slugs: list[str] | None, target):
    """The tenants to consider, and those of them with a schema of their own that are not at
    ``target(their revision)`` (shared tenants move with their server's pooled schema)."""
    with engine.connect() as connection:
        require_shared_schema(connection)
        query = tenants_with_records().where(tenants.c.status != "deleted").order_by(tenants.c.id)
        if slugs:
            query = query.where(tenants.c.slug.in_(slugs))
        rows = connection.execute(query).all()
    if slugs:
        missing = sorted(set(slugs) - {row.slug for row in rows})
        if missing:
            raise ProvisioningError(f"no such tenant(s): {', '.join(missing)}")
    pending = [
        row
        for row in rows
        if row.mode != "shared"
        and (row.revision != target(row.revision) or row.migration_status != "ok")
    ]
    return rows, pending


def _migrate_tenants(tenancy, slugs, workers, target, down, fail_fast, lock_timeout, progress):
    engine = tenancy.registry
    rows, pending = _pending(engine, slugs, target)
    report = Report(total=len(rows), skipped=len(rows) - len(pending))
    if not pending:
        return report
    workers = max(1, min(workers or os.cpu_count() or 1, connection_budget(engine), len(pending)))
    role = tenancy.servers.app_role.name
    queue = iter(pending)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(str(migrations.ALEMBIC_DIR), migrations.EXTRA_TENANT_VERSIONS),
    ) as executor:

        def submit_next(running: set) -> None:
            """At most ``workers`` tenants in flight, so ``--fail-fast`` stops promptly."""
            for row in queue:
                running.add(
                    executor.submit(
                        _migrate_one,
                        (row.id, row.slug, row.schema_name),
                        _url(tenancy.store(row.mode).owner_engine(entry_of(row))),
                        tenancy.registry.url.render_as_string(hide_password=False),
                        role,
                        target(row.revision),
                        down,
                        lock_timeout,
                    )
                )
                return

        running: set = set()
        for _ in range(workers):
            submit_next(running)
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                report.outcomes.append(outcome)
                if progress is not None:
                    progress(outcome, len(report.outcomes), len(report.failed), len(pending))
                if not (fail_fast and report.failed):
                    submit_next(running)
    return report


_worker_engines: OrderedDict[str, Engine] = OrderedDict()
WORKER_ENGINES = 4  # a worker's connections: the registry's, and the few servers it was on last


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _worker_engine(url: str) -> Engine:
    """One connection per server in each worker process, for the few servers it used last: in
    database mode each tenant is a database of its own, and a worker holding a connection to
    every one it migrated would run the server out of connections."""
    if url in _worker_engines:
        _worker_engines.move_to_end(url)
        return _worker_engines[url]
    while len(_worker_engines) >= WORKER_ENGINES:
        _worker_engines.popitem(last=False)[1].dispose()
    engine = _worker_engines[url] = create_engine(url, pool_size=1, max_overflow=0)
    return engine


def _start_worker(alembic_dir: str, extra: list[str]) -> None:
    """In each worker process: the same migration scripts, and a watch on the parent, so a
    worker never outlives a run that was killed."""
    threading.Thread(target=_die_with_parent, name="parent-watch", daemon=True).start()
    migrations.ALEMBIC_DIR = Path(alembic_dir)
    migrations.EXTRA_TENANT_VERSIONS[:] = extra


def _die_with_parent() -> None:
    """A parent killed outright (SIGKILL) cannot tell its workers; its process sentinel can.
    Exiting closes the worker's connection, and the server rolls its transaction back."""
    multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
    os._exit(1)


def _migrate_one(
    tenant: tuple[int, str, str],
    server_url: str,
    registry_url: str,
    role: str,
    target: str,
    down: bool,
    lock_timeout: str,
) -> Outcome:
    """Migrate one tenant on its server; its record, on the registry's server, is written in
    the same transaction when that is the same server, else just after it commits."""
    tenant_id, slug, schema = tenant
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        with _worker_engine(server_url).begin() as connection:
            connection.exec_driver_sql(
                "SELECT set_config('lock_timeout', %s, true)", (lock_timeout,)
            )
            if connection.dialect.server_version_info >= (14,):
                # a worker that dies while its backend waits on a lock: the backend notices
                connection.exec_driver_sql(
                    "SELECT set_config('client_connection_check_interval', '1s', true)"
                )
            if down:
                migrations.downgrade_tenant(connection, schema, target)
            else:
                migrations.upgrade_tenant(connection, schema, target)
            grant_serving(connection, schema, role)
            if server_url == registry_url:
                record_migration(connection, tenant_id, target, "ok", None, elapsed())
        if server_url != registry_url:
            with _worker_engine(registry_url).begin() as registry:
                record_migration(registry, tenant_id, target, "ok", None, elapsed())
        return Outcome(slug, True, elapsed())
    except Exception as error:  # one tenant's failure must not stop the others
        message = f"{type(error).__name__}: {str(error).splitlines()[0][:500]}"
        log.warning("migrating tenant %s failed: %s", slug, message)
        with _worker_engine(registry_url).begin() as registry:
            record_migration(registry, tenant_id, None, "failed", message, elapsed())
        return Outcome(slug, False, elapsed(), message)


def migration_sql(
    tenancy: Tenancy, slugs: list[str] | None = None, downgrade_to: str | None = None
) -> str:
    """The SQL a migrate run would execute (alembic's offline mode), without executing it: the
    shared schema, the template schema and the schema-mode tenants on the default server that
    are behind, from wherever each is (an empty database included). What it cannot cover (other
    servers and databases, the pooled schema) is named in a comment."""
    engine = tenancy.registry
    out = io.StringIO()
    with engine.connect() as connection:
        shared_at = migrations.current_revision(connection, "shared")
        template_at = migrations.current_revision(connection, "tenant", templates.TEMPLATE_SCHEMA)
    shared_head = migrations.head_revision("shared")
    if shared_at != shared_head:
        config = migrations.alembic_config("shared", output=out)
        command.upgrade(config, f"{shared_at or 'base'}:{shared_head}", sql=True)
    target = downgrade_to or migrations.head_revision("tenant")
    schemas = [(templates.TEMPLATE_SCHEMA, template_at)]
    if shared_at is not None:
        pending = _pending(engine, slugs, lambda current: target)[1]
        here = [r for r in pending if r.mode == "schema" and r.server == DEFAULT]
        schemas += [(row.schema_name, row.revision) for row in here]
        elsewhere = sorted(row.slug for row in pending if row not in here)
        if elsewhere:
            out.write(f"-- not here: {', '.join(elsewhere)} (another server or database)\n")
    out.write(
        "-- not here: the pooled schema of shared mode and the template databases, whose DDL\n"
        "-- migrate derives from the catalog as it runs: run migrate after applying this\n"
    )
    for schema, revision in schemas:
        if revision == target:
            continue
        config = migrations.alembic_config("tenant", schema=schema, output=out)
        if downgrade_to:
            if revision is not None:
                command.downgrade(config, f"{revision}:{downgrade_to}", sql=True)
        else:
            command.upgrade(config, f"{revision or 'base'}:{target}", sql=True)
    return out.getvalue()
