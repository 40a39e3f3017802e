"""Online moves: a tenant to another isolation mode or server while it is being served.

1. The target storage is made empty at head and a capture trigger is put on the source tables:
   from then on, the key of every row written lands in ``tenantapp.move_changes``.
2. Snapshot: every row is copied in one REPEATABLE READ snapshot (COPY out, COPY in).
3. Catch-up rounds copy again the rows whose keys were captured, until few are left.
4. Pause: the move takes the tenant's advisory lock exclusively in the source database (write
   transactions take it shared, ``tenancy.guard``): writes in flight finish, new ones wait.
   The last changes are copied, the source marks the tenant departed (committed first, so a
   crash never lets a write land where the move would drop it), the registry is switched (its
   trigger notifies every process); the lock goes, waiting writes fail with
   ``TenantMoved`` and are retried at the new place. Reads are never held.
5. The copy is verified (row counts and checksums per table), then the source is dropped.

Each step is recorded in ``tenantapp.tenant_moves``; a move that dies is resumed by running it
again: before the switch it starts over, after the switch only verification and clean-up remain.
"""

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from psycopg.types.json import Jsonb
from sqlalchemy import MetaData, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from ..tenancy.binding import Binding, bind_connection
from ..tenancy.directory import TenantEntry, forget_tenant
from ..tenancy.errors import ProvisioningError
from ..tenancy.guard import MOVE_LOCK_CLASS
from ..tenancy.models import TenantMove, TenantRecord
from ..tenancy.pooling import TENANT_COLUMN
from . import residency
from .provisioning import find_row
from .storage import advance_sequence
from .tenancy import Tenancy

log = logging.getLogger(__name__)
moves = TenantMove.__table__
tenants = TenantRecord.__table__

VERSION_TABLE = "alembic_version"
MAX_ROUNDS = 20
FEW_CHANGES = 50  # catch up until a round copies no more than this, then pause


class MoveError(ProvisioningError):
    pass


@dataclass
class MoveReport:
    slug: str
    source: str
    target: str
    rows: int = 0
    rounds: int = 0
    pause_ms: float = 0.0
    total_ms: float = 0.0
    resumed: bool = False

    def as_json(self) -> dict:
        return {
            "slug": self.slug,
            "from": self.source,
            "to": self.target,
            "rows": self.rows,
            "catch_up_rounds": self.rounds,
            "write_pause_ms": round(self.pause_ms, 1),
            "total_ms": round(self.total_ms, 1),
            "resumed": self.resumed,
        }


Step = Callable[[str], None]  # called with each step's name, before it: tests stop moves there


def move_tenant(
    tenancy: Tenancy,
    slug: str,
    to_mode: str | None = None,
    to_server: str | None = None,
    step: Step | None = None,
    plan: str | None = None,
) -> MoveReport:
    """Move ``slug`` to ``to_mode`` on ``to_server`` (each defaults to where it is now); with
    ``plan``, the switch puts it on that plan too (``lifecycle.plans``)."""
    step = step or (lambda name: None)
    started = time.perf_counter()
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        record = registry.execute(select(moves).where(moves.c.tenant_id == entry.id)).first()
    if record is not None and record.state == "switched":  # resume after the switch
        source = TenantEntry(
            entry.id,
            slug,
            record.source_schema,
            entry.display_name,
            entry.status,
            record.source_mode,
            record.source_server,
        )
        report = MoveReport(slug, _place(source), _place(entry), resumed=True)
        _finish(tenancy, source, entry, report, step)
        tenancy.rebuild(entry)
        report.total_ms = (time.perf_counter() - started) * 1000
        return report
    target_store = tenancy.store(to_mode or entry.mode)
    tenancy.servers[to_server or entry.server]
    with tenancy.registry.connect() as registry:
        region = residency.pinned(registry, entry.id)
    residency.check(tenancy.servers, to_server or entry.server, region, "move")
    target = replace(
        entry,
        mode=target_store.mode,
        server=to_server or entry.server,
        schema_name=target_store.schema_name(entry.id),
    )
    if (target.mode, target.server) == (entry.mode, entry.server):
        raise MoveError(f"tenant {slug!r} is already in {entry.mode} mode on {entry.server}")
    unfinished = record is not None and record.state not in ("done", "scheduled")
    same = record is not None and (record.target_mode, record.target_server) == (
        target.mode,
        target.server,
    )
    if plan is None and same and record.state != "done":
        plan = record.plan  # run again by hand: the plan it was scheduled for still comes
    report = MoveReport(slug, _place(entry), _place(target), resumed=unfinished)
    _record(tenancy, entry, target, "copying", plan)
    try:
        _copy_and_switch(tenancy, entry, target, report, step, plan)
    except BaseException as error:
        _set_state(tenancy, entry.id, "failed", error=f"{type(error).__name__}: {error}"[:500])
        raise
    _finish(tenancy, entry, target, report, step)
    tenancy.rebuild(target)
    report.total_ms = (time.perf_counter() - started) * 1000
    log.info("moved tenant %s: %s", slug, report.as_json())
    return report


def _place(entry: TenantEntry) -> str:
    return f"{entry.mode}@{entry.server}"


def _copy_and_switch(tenancy, source, target, report: MoveReport, step: Step, plan) -> None:
    source_store, target_store = tenancy.store(source.mode), tenancy.store(target.mode)
    source_engine = source_store.owner_engine(source)
    step("prepare")
    with tenancy.registry.begin() as registry:  # leftovers of an attempt that died
        target_store.drop(registry, target)
    with tenancy.registry.begin() as registry:
        target_store.create(registry, target)
    target_engine = target_store.owner_engine(target)
    with target_engine.begin() as connection:
        connection.exec_driver_sql(
            "DELETE FROM tenantapp.departed WHERE tenant_id = %s AND place = %s",
            (target.id, target_store.binding(target).schema),
        )
    # an attempt that died between departing and switching left the source refusing writes
    _depart(source_engine, source, source_store.binding(source).schema, False)
    tables = _tables(source_engine, source_store.binding(source))
    with source_engine.begin() as connection:
        connection.exec_driver_sql(
            "DELETE FROM tenantapp.move_changes WHERE tenant_id = %s", (source.id,)
        )
    _capture(source_engine, source, source_store.binding(source), tables, on=True)
    step("snapshot")
    report.rows = _snapshot(
        source_engine,
        source_store.binding(source),
        target_engine,
        target_store.binding(target),
        tables,
    )
    _set_state(tenancy, source.id, "copying", rows_copied=report.rows)
    for _ in range(MAX_ROUNDS):
        step("catch-up")
        with source_engine.begin() as connection:
            copied = _catch_up(
                connection,
                source,
                source_store.binding(source),
                target_engine,
                target_store.binding(target),
                tables,
            )
        report.rounds += 1
        if copied <= FEW_CHANGES:
            break
    step("pause")
    with source_engine.connect() as held:
        paused = time.perf_counter()
        held.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%s, %s)", (MOVE_LOCK_CLASS, source.id % 2147483647)
        )
        _catch_up(
            held,
            source,
            source_store.binding(source),
            target_engine,
            target_store.binding(target),
            tables,
        )
        step("verify")
        _verify(
            held,
            source_store.binding(source),
            target_engine,
            target_store.binding(target),
            tables,
        )
        step("switch")
        _depart(source_engine, source, source_store.binding(source).schema, True)
        step("registry")
        with tenancy.registry.begin() as registry:
            registry.execute(
                tenants.update()
                .where(tenants.c.id == source.id)
                .values(
                    mode=target.mode,
                    server=target.server,
                    schema_name=target.schema_name,
                    **({"plan": plan} if plan else {}),  # its limits change with its place
                )
            )
            registry.execute(
                moves.update()
                .where(moves.c.tenant_id == source.id)
                .values(state="switched", updated_at=func.now())
            )
        held.commit()
        report.pause_ms = (time.perf_counter() - paused) * 1000
    _capture(source_engine, source, source_store.binding(source), tables, on=False)
    forget_tenant(source.slug)
    _set_state(tenancy, source.id, "switched", pause_ms=round(report.pause_ms))


def _depart(source_engine: Engine, source: TenantEntry, place: str, departed: bool) -> None:
    """Mark the tenant departed from its source (or not), committed on a connection of its own
    while the pause lock is held: the marker is durable before the registry is switched, so a
    crash between the two leaves writes refused (until the move is run again), never accepted at
    a source that a resumed move would drop."""
    with source_engine.begin() as connection:
        if departed:
            connection.exec_driver_sql(
                "INSERT INTO tenantapp.departed (tenant_id, place) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (source.id, place),
            )
        else:
            connection.exec_driver_sql(
                "DELETE FROM tenantapp.departed WHERE tenant_id = %s AND place = %s",
                (source.id, place),
            )


def _finish(tenancy, source, target, report: MoveReport, step: Step) -> None:
    """Drop the source, verified before the switch."""
    source_store = tenancy.store(source.mode)
    step("drop-source")
    with tenancy.registry.begin() as registry:
        source_store.drop(registry, source)
    if source.mode != "database":  # a database of its own went with the source
        with source_store.owner_engine(source).begin() as connection:
            connection.exec_driver_sql(
                "DELETE FROM tenantapp.move_changes WHERE tenant_id = %s", (source.id,)
            )
    _set_state(tenancy, source.id, "done")


def refuse_if_moving(registry: Connection, entry: TenantEntry) -> None:
    """A tenant being copied or switched has its move finished first."""
    state = registry.scalar(select(moves.c.state).where(moves.c.tenant_id == entry.id))
    if state in ("copying", "switched"):
        raise MoveError(f"tenant {entry.slug!r} is being moved ({state}): let the move finish")


def schedule(registry: Connection, source: TenantEntry, target: TenantEntry, plan: str) -> None:
    """Record a move to be run later for ``plan`` (``lifecycle.plans``)."""
    _upsert(registry, source, _values(source, target, "scheduled", plan))


def cancel_scheduled(registry: Connection, tenant_id: int) -> None:
    """A scheduled move not started is not wanted any more (the plan changed again)."""
    registry.execute(
        moves.update()
        .where(moves.c.tenant_id == tenant_id, moves.c.state == "scheduled")
        .values(state="done", error="cancelled: the plan changed again", updated_at=func.now())
    )


def _values(source: TenantEntry, target: TenantEntry, state: str, plan: str | None) -> dict:
    return {
        "source_mode": source.mode,
        "source_server": source.server,
        "source_schema": source.schema_name,
        "target_mode": target.mode,
        "target_server": target.server,
        "target_schema": target.schema_name,
        "state": state,
        "rows_copied": None,
        "pause_ms": None,
        "error": None,
        "plan": plan,
    }


def _upsert(registry: Connection, source: TenantEntry, values: dict) -> None:
    stmt = insert(moves).values(tenant_id=source.id, **values)
    registry.execute(
        stmt.on_conflict_do_update(
            index_elements=[moves.c.tenant_id],
            set_={**values, "started_at": func.now(), "updated_at": func.now()},
        )
    )


def _record(tenancy, source: TenantEntry, target: TenantEntry, state: str, plan=None) -> None:
    with tenancy.registry.begin() as registry:
        _upsert(registry, source, _values(source, target, state, plan))


def _set_state(tenancy, tenant_id: int, state: str, **values) -> None:
    with tenancy.registry.begin() as registry:
        registry.execute(
            moves.update()
            .where(moves.c.tenant_id == tenant_id)
            .values(state=state, updated_at=func.now(), **values)
        )


@dataclass(frozen=True)
class _Table:
    name: str
    columns: list[str]  # without tenant_id
    key: list[str]  # the primary key, without tenant_id
    identities: list[str]


def _tables(engine: Engine, binding: Binding) -> list[_Table]:
    """The tenant's tables, parents first, as a schema of its own has them."""
    metadata = MetaData(schema=binding.schema)
    with engine.connect() as connection:
        metadata.reflect(connection)
    found = []
    for table in metadata.sorted_tables:
        if table.name == VERSION_TABLE:
            continue
        columns = [c.name for c in table.columns if c.name != TENANT_COLUMN]
        key = [c.name for c in table.primary_key.columns if c.name != TENANT_COLUMN]
        identities = [c.name for c in table.columns if c.identity is not None]
        found.append(_Table(table.name, columns, key, identities))
    return found


def _q(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def _source_of(connection: Connection, binding: Binding, table: _Table) -> str:
    schema = connection.dialect.identifier_preparer.quote_schema(binding.schema)
    return f"{schema}.{_q(connection, table.name)}"


def _mine(binding: Binding) -> str:
    """The condition on the tenant's rows: all of a schema of its own, its id in a pooled one."""
    return "true" if binding.tenant_id is None else f"tenant_id = {int(binding.tenant_id)}"


def _capture(engine: Engine, source: TenantEntry, binding: Binding, tables, on: bool) -> None:
    """Put the capture trigger on the source tables (or take it off), one table per
    transaction: holding one table's lock while waiting for the next one's would deadlock with
    writers that touch them in another order. The snapshot is taken after the last one is on,
    so every change it misses is captured."""
    pooled = "true" if binding.tenant_id is not None else "false"
    trigger = f"tenantapp_move_{int(source.id)}"
    for table in tables:
        with engine.begin() as connection:
            _trigger(
                connection,
                trigger,
                _source_of(connection, binding, table),
                table,
                source.id,
                pooled,
                on,
            )


def _trigger(connection, trigger, qualified, table, tenant_id, pooled, on) -> None:
    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {qualified}")
    if on:
        keys = ", ".join(f"'{k}'" for k in table.key)  # reflected column names
        connection.exec_driver_sql(
            f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {qualified}"
            f" FOR EACH ROW EXECUTE FUNCTION tenantapp.capture_change("
            f"'{int(tenant_id)}', '{pooled}', {keys})"
        )


def _snapshot(source_engine, source_binding, target_engine, target_binding, tables) -> int:
    rows = 0
    with source_engine.connect() as source, target_engine.begin() as target:
        source = source.execution_options(isolation_level="REPEATABLE READ")
        source.begin()
        # pooled rows take their tenant_id from the binding; the move itself passes no guard
        bind_connection(target, replace(target_binding, guard=None))
        out = source.connection.driver_connection.cursor()
        into = target.connection.driver_connection.cursor()
        for table in tables:
            columns = ", ".join(_q(source, c) for c in table.columns)
            query = (
                f"SELECT {columns} FROM {_source_of(source, source_binding, table)}"  # noqa: S608
                f" WHERE {_mine(source_binding)}"
            )
            destination = f"{_source_of(target, target_binding, table)} ({columns})"
            with (
                out.copy(f"COPY ({query}) TO STDOUT") as reader,
                into.copy(f"COPY {destination} FROM STDIN") as writer,
            ):
                for block in reader:
                    rows += bytes(block).count(b"\n")
                    writer.write(block)
            for column in table.identities:
                advance_sequence(target, _source_of(target, target_binding, table), column)
        source.rollback()
    return rows


def _catch_up(source, entry, source_binding, target_engine, target_binding, tables) -> int:
    """Copy again every row whose key was captured (in ``source``'s transaction, which the
    caller commits): present in the source, it replaces the target's; gone, it goes."""
    changes = source.exec_driver_sql(
        "DELETE FROM tenantapp.move_changes WHERE tenant_id = %s RETURNING tbl, key",
        (entry.id,),
    ).all()
    keys: dict[str, set[str]] = {}
    for tbl, key in changes:
        keys.setdefault(tbl, set()).add(json.dumps(key, sort_keys=True))
    if not keys:
        return 0
    by_name = {t.name: t for t in tables}
    with target_engine.begin() as target:
        bind_connection(target, replace(target_binding, guard=None))
        for table in reversed(tables):  # children first: deletes before their parents'
            for key in keys.get(table.name, ()):
                _delete_row(target, target_binding, table, json.loads(key))
        for name in (t.name for t in tables):  # parents first: inserts
            table = by_name[name]
            for key in keys.get(name, ()):
                _copy_row(source, source_binding, target, target_binding, table, json.loads(key))
        for table in tables:
            for column in table.identities:
                advance_sequence(target, _source_of(target, target_binding, table), column)
    return len(changes)


def _where_key(connection, binding: Binding, table: _Table) -> str:
    parts = [f"{_q(connection, k)} = %({k})s" for k in table.key]
    return " AND ".join([_mine(binding), *parts])


def _delete_row(target, binding, table: _Table, key: dict) -> None:
    target.exec_driver_sql(
        f"DELETE FROM {_source_of(target, binding, table)}"  # noqa: S608 - quoted names
        f" WHERE {_where_key(target, binding, table)}",
        key,
    )


def _copy_row(source, source_binding, target, target_binding, table: _Table, key: dict) -> None:
    columns = ", ".join(_q(source, c) for c in table.columns)
    row = source.exec_driver_sql(
        f"SELECT {columns} FROM {_source_of(source, source_binding, table)}"  # noqa: S608
        f" WHERE {_where_key(source, source_binding, table)}",
        key,
    ).first()
    if row is None:
        return
    values = ", ".join(f"%(v{i})s" for i in range(len(table.columns)))
    target.exec_driver_sql(
        f"INSERT INTO {_source_of(target, target_binding, table)} ({columns})"  # noqa: S608
        f" VALUES ({values})",
        {f"v{i}": Jsonb(v) if isinstance(v, dict) else v for i, v in enumerate(row)},
    )


def _verify(source, source_binding, target_engine, target_binding, tables) -> None:
    """Under the pause, before anything is switched: the copy has the source's rows, table by
    table (count and md5, computed by each server); a move whose copy differs fails and the
    tenant stays where it is."""

    def target_digests():
        with target_engine.connect() as connection:
            return _digests(connection, target_binding, tables)

    with ThreadPoolExecutor(1) as other:  # both servers at once: the pause waits for one
        found_later = other.submit(target_digests)
        expected = _digests(source, source_binding, tables)
        found = found_later.result()
    for name, digest in expected.items():
        if found.get(name) != digest:
            raise MoveError(
                f"the copy of {name} does not match its source ({found.get(name, (0,))[0]} rows"
                f" where the source has {digest[0]}): nothing was switched, run the move again"
            )


def _digests(connection: Connection, binding: Binding, tables) -> dict[str, tuple]:
    """Per table: the tenant's row count and an md5 of its rows in key order, computed by the
    server, so comparing 100,000 rows costs no transfer."""
    digests = {}
    for table in tables:
        columns = ", ".join(_q(connection, c) for c in table.columns)
        order = ", ".join(_q(connection, k) for k in table.key)
        digests[table.name] = tuple(
            connection.exec_driver_sql(
                f"SELECT count(*), md5(string_agg(ROW({columns})::text, ',' ORDER BY {order}))"  # noqa: S608
                f" FROM {_source_of(connection, binding, table)} WHERE {_mine(binding)}"
            ).one()
        )
    return digests
