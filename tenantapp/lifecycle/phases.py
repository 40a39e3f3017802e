"""Expand and contract: tenant migrations that two app versions survive.

A tenant revision says ``phase = "expand"`` when the code of the revision before it still works
on what it leaves (it only adds), and ``phase = "contract"`` when it drops what only older code
used. A release that changes a shape ships both: ``migrate --expand`` applies every revision up
to the first contract one while the old version and the new one serve side by side; once the old
version has stopped, ``migrate --contract`` applies the rest. The new version's code works on
both shapes in between (``Tenant.has_revision`` says which a tenant has).

An index on a table that exists is built ``CONCURRENTLY`` (writes go on), which cannot run in
the transaction a revision runs in: the revision lists the statements in ``concurrently``
(``CREATE INDEX CONCURRENTLY IF NOT EXISTS ...``), and ``migrate`` runs them on each schema
once its transaction has committed (``build_concurrently``), leading them with ``tenant_id`` in
shared mode's pooled schema; an index a failed build left invalid is dropped and built again
by the next run.

``check_expand`` refuses an expand revision that is not additive, from the SQL it would run
(alembic's offline mode, parsed by PostgreSQL's own parser through pglast): each refusal names
the statement and why old code or live traffic would break. ``refuse_old_processes`` keeps
``--contract`` from running while a serving process whose code does not know the contract
revisions is alive (each process's heartbeat carries its code's tenant head).
"""

import io

from alembic import command
from pglast import parse_sql
from pglast.ast import IndexElem
from pglast.enums import AlterTableType, ObjectType
from pglast.stream import RawStream
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..tenancy.errors import ProvisioningError
from ..tenancy.pooling import TENANT_COLUMN
from . import migrations

TREE = "tenant"
ALIVE = text(
    "SELECT id, tenant_head FROM tenantapp.serving_processes"
    " WHERE seen_at >= now() - make_interval(secs => :window) ORDER BY id"
)
HEARTBEAT_WINDOW = 6.0  # seconds: three missed beats (``quotas.limits``)

# ALTER TABLE subcommands old code survives, and online: anything else is refused
ADDITIVE = {
    AlterTableType.AT_AddColumn,
    AlterTableType.AT_ColumnDefault,  # a default for new rows: old rows keep theirs
    AlterTableType.AT_AddConstraint,  # only NOT VALID ones (checked below)
    AlterTableType.AT_ValidateConstraint,  # a SHARE UPDATE EXCLUSIVE lock: writes go on
    AlterTableType.AT_EnableTrig,
    AlterTableType.AT_EnableAlwaysTrig,
    AlterTableType.AT_EnableReplicaTrig,
}
DESTRUCTIVE = {
    AlterTableType.AT_AlterColumnType: "changes a column's type: older code reads and writes "
    "the old type, and the table is rewritten under an ACCESS EXCLUSIVE lock",
    AlterTableType.AT_DropColumn: "drops a column older code still uses: that is a contract step",
    AlterTableType.AT_SetNotNull: "makes a column NOT NULL: older code's inserts without it fail,"
    " and the check scans the table under an ACCESS EXCLUSIVE lock",
    AlterTableType.AT_DropConstraint: "drops a constraint older code relies on: a contract step",
    AlterTableType.AT_DropNotNull: "lets NULL into a column older code reads as never NULL",
}


class ExpandRefused(ProvisioningError):
    """An expand revision that is not additive; the message names each statement and why."""


class OldVersionServing(ProvisioningError):
    """``--contract`` while a process whose code does not know the contract revisions serves."""


def build_concurrently(engine, schema: str, target: str, pooled: bool = False) -> int:
    """Build the ``concurrently`` indexes of every revision up to ``target`` that ``schema``
    lacks (or has invalid), outside any transaction; how many. Raises what PostgreSQL raises.
    Not while this process holds a transaction on the database: the build would wait on it."""
    wanted = [
        statement
        for revision in migrations.after(TREE, None, target)
        for statement in migrations.concurrently(TREE, revision)
    ]
    built = 0
    if not wanted:
        return built
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SELECT set_config('search_path', %s, false)", (f'"{schema}"',))
        for sql in wanted:
            index = parse_sql(sql)[0].stmt
            if type(index).__name__ != "IndexStmt" or not index.concurrent:
                raise ProvisioningError(f"not a CREATE INDEX CONCURRENTLY: {sql}")
            valid = connection.exec_driver_sql(
                "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                " JOIN pg_namespace n ON n.oid = i.relnamespace"
                " WHERE n.nspname = %s AND i.relname = %s",
                (schema, index.idxname),
            ).scalar()
            if valid:
                continue
            if valid is False:  # a build that failed left it: it serves nothing
                connection.exec_driver_sql(f'DROP INDEX CONCURRENTLY "{schema}"."{index.idxname}"')
            if pooled:  # every pooled index leads with tenant_id (``tenancy.pooling``)
                lead = IndexElem(name=TENANT_COLUMN, ordering=0, nulls_ordering=0)
                index.indexParams = (lead, *index.indexParams)
                sql = RawStream()(index)
            connection.exec_driver_sql(sql)
            built += 1
    return built


def check_expand(revisions: list[str]) -> None:
    """Refuse (``ExpandRefused``) the expand revisions among ``revisions`` that are not
    additive."""
    problems = []
    for revision in revisions:
        if migrations.phase(TREE, revision) != "expand":
            continue
        for statement, reason in refusals(upgrade_sql(revision)):
            problems.append(f"{revision}: {reason}: {statement}")
    if problems:
        raise ExpandRefused("not additive, so not an expand step:\n  " + "\n  ".join(problems))


def upgrade_sql(revision: str) -> str:
    """The SQL of one tenant revision's upgrade, as alembic's offline mode writes it."""
    out = io.StringIO()
    down = migrations.after(TREE, None, revision)[-2:-1] or ["base"]
    config = migrations.alembic_config(TREE, schema="tenant_check", output=out)
    command.upgrade(config, f"{down[0]}:{revision}", sql=True)
    return out.getvalue()


def refusals(sql: str) -> list[tuple[str, str]]:
    """Each statement of ``sql`` an expand step may not run, with the reason."""
    found, created = [], set()
    for raw in parse_sql(sql):
        statement = raw.stmt
        kind = type(statement).__name__
        shown = _shown(sql, raw)
        if kind == "CreateStmt":
            created.add(statement.relation.relname)
        elif kind == "AlterTableStmt":
            for command_ in statement.cmds:
                reason = _alter_reason(command_)
                if reason and statement.relation.relname not in created:
                    found.append((shown, reason))
        elif kind == "IndexStmt" and statement.concurrent:
            found.append(
                (
                    shown,
                    "CREATE INDEX CONCURRENTLY cannot run in the transaction a revision runs in:"
                    " list it in the revision's ``concurrently``",
                )
            )
        elif kind == "IndexStmt":
            if statement.relation.relname not in created:
                found.append(
                    (
                        shown,
                        "builds an index under a SHARE lock, so writes to the table wait for"
                        " the whole build: list it in the revision's ``concurrently`` as"
                        " CREATE INDEX CONCURRENTLY, or create it with the table",
                    )
                )
        elif kind == "RenameStmt":
            found.append((shown, "renames what older code names: add the new name instead"))
        elif kind == "DropStmt" and statement.removeType in (
            ObjectType.OBJECT_TABLE,
            ObjectType.OBJECT_VIEW,
            ObjectType.OBJECT_INDEX,
            ObjectType.OBJECT_SEQUENCE,
        ):
            found.append((shown, "drops what older code may use: that is a contract step"))
    return found


def _alter_reason(command_) -> str | None:
    subtype = command_.subtype
    if subtype in DESTRUCTIVE:
        return DESTRUCTIVE[subtype]
    if subtype == AlterTableType.AT_AddColumn:
        column = command_.def_
        constraints = [c.contype.name for c in (column.constraints or ())]
        if "CONSTR_NOTNULL" in constraints and "CONSTR_DEFAULT" not in constraints:
            return "adds a NOT NULL column without a default: older code's inserts fail"
        return None
    if subtype == AlterTableType.AT_AddConstraint:
        constraint = command_.def_
        if constraint.contype.name in ("CONSTR_FOREIGN", "CONSTR_CHECK"):
            if not constraint.skip_validation:
                return (
                    "adds a constraint that scans the table under a lock that stops writes:"
                    " add it NOT VALID, then VALIDATE CONSTRAINT"
                )
            return None
        return "adds a key that rows older code writes may break, under a lock that stops writes"
    if subtype not in ADDITIVE:
        return f"{subtype.name} is not among the changes an expand step may make"
    return None


def _shown(sql: str, raw) -> str:
    start = raw.stmt_location or 0
    end = start + raw.stmt_len if raw.stmt_len else len(sql)
    return " ".join(sql[start:end].split())[:200]


def refuse_old_processes(registry: Connection, contracting: list[str]) -> None:
    """Refuse while a live serving process's code does not know every revision of
    ``contracting`` (its code's tenant head is older, or it says none: code before this)."""
    if not contracting:
        return
    revisions = migrations.chain(TREE)
    needed = max(revisions.index(revision) for revision in contracting)
    old = []
    for process, head in registry.execute(ALIVE, {"window": HEARTBEAT_WINDOW}):
        if head is None or (head in revisions and revisions.index(head) < needed):
            old.append(f"{process} (its code's tenant head: {head or 'unknown'})")
    if old:
        raise OldVersionServing(
            f"the contract step{'s' if len(contracting) > 1 else ''} {', '.join(contracting)}"
            " drop what older code uses, and processes of an older version still serve: "
            + "; ".join(old)
            + ". Stop them first (a process that stopped is forgotten within"
            f" {HEARTBEAT_WINDOW:.0f} s)."
        )
