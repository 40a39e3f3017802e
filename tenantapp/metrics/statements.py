"""Which statements each tenant's requests ran: calls, time, rows, per statement and day.

The statement hooks (``tenantapp.metrics``) note each statement a request runs; at the end of
the request the notes are added up here under its tenant, and the usage ledger writes the sums
with its own (``tenantapp.tenant_statements``), so the figures hold across processes. A
statement is its SQL text as SQLAlchemy sent it (values are parameters: one text per statement
of the code), with the tenant's schema written ``{tenant}``, so schema mode's per-schema texts
are one statement. At most ``PER_TENANT`` statements a tenant between two flushes; the rest
are added up as one, ``OTHER``.

pg_stat_statements cannot say this: in shared mode every tenant runs the same text, in
database mode each database is its own, and comments do not reach its query ids.
"""

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime

from sqlalchemy import column, func, select, table, text

PER_TENANT = 200
OTHER = 0  # the query id of the statements past PER_TENANT
OTHER_TEXT = "(other statements)"
TENANT = "{tenant}"

ADD = text(
    "INSERT INTO tenantapp.tenant_statements"
    " (tenant_id, day, query_id, calls, total_ms, max_ms, rows)"
    " SELECT :tenant_id, :day, :query_id, :calls, :total_ms, :max_ms, :rows"
    " WHERE EXISTS (SELECT 1 FROM tenantapp.tenants WHERE id = :tenant_id)"
    " ON CONFLICT (tenant_id, day, query_id) DO UPDATE SET"
    " calls = tenant_statements.calls + EXCLUDED.calls,"
    " total_ms = tenant_statements.total_ms + EXCLUDED.total_ms,"
    " max_ms = greatest(tenant_statements.max_ms, EXCLUDED.max_ms),"
    " rows = tenant_statements.rows + EXCLUDED.rows"
)
TEXTS = text(
    "INSERT INTO tenantapp.statement_texts (query_id, query) VALUES (:query_id, :query)"
    " ON CONFLICT (query_id) DO NOTHING"
)


def query_id(query: str) -> int:
    """A statement's id: 63 bits of its text's BLAKE2b (a PostgreSQL bigint, never OTHER)."""
    digest = hashlib.blake2b(query.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1 or 1


def normalized(statement: str, schema: str) -> str:
    """The text with the tenant's own schema written ``{tenant}``."""
    return statement.replace(f"{schema}.", f"{TENANT}.") if schema else statement


class StatementTally:
    """The sums since the last flush, per (tenant, day, schema, statement text): calls,
    seconds, the longest, rows. Callers hold the ledger's lock."""

    def __init__(self):
        self.pending: dict[tuple, list] = {}
        self._count: dict[tuple[int, date], int] = defaultdict(int)

    def add(self, tenant_id: int, schema: str, statements: list) -> None:
        day = datetime.now(UTC).date()
        for statement, seconds, rows in statements:
            key = (tenant_id, day, schema, statement)
            sums = self.pending.get(key)
            if sums is None:
                if self._count[(tenant_id, day)] >= PER_TENANT:
                    key = (tenant_id, day, "", OTHER_TEXT)
                    sums = self.pending.get(key)
                if sums is None:
                    sums = self.pending[key] = [0, 0.0, 0.0, 0]
                    self._count[(tenant_id, day)] += 1
            sums[0] += 1
            sums[1] += seconds
            sums[2] = max(sums[2], seconds)
            sums[3] += rows

    def take(self) -> dict:
        taken, self.pending = self.pending, {}
        self._count.clear()
        return taken

    def keep(self, taken: dict) -> None:
        """What a flush could not write, back for the next one."""
        for key, sums in taken.items():
            kept = self.pending.setdefault(key, [0, 0.0, 0.0, 0])
            kept[0] += sums[0]
            kept[1] += sums[1]
            kept[2] = max(kept[2], sums[2])
            kept[3] += sums[3]


def write(connection, taken: dict) -> None:
    """Add ``taken`` (from ``StatementTally.take``) to the tables, in the caller's transaction."""
    rows, texts = defaultdict(lambda: [0, 0.0, 0.0, 0]), {}
    for (tenant_id, day, schema, statement), sums in taken.items():
        query = normalized(statement, schema)
        ident = OTHER if query == OTHER_TEXT else query_id(query)
        texts[ident] = query
        row = rows[(tenant_id, day, ident)]  # two schemas' texts may be one statement
        row[0] += sums[0]
        row[1] += sums[1]
        row[2] = max(row[2], sums[2])
        row[3] += sums[3]
    if not rows:
        return
    connection.execute(TEXTS, [{"query_id": k, "query": q} for k, q in sorted(texts.items())])
    connection.execute(
        ADD,
        [
            {
                "tenant_id": tenant_id,
                "day": day,
                "query_id": ident,
                "calls": calls,
                "total_ms": seconds * 1000,
                "max_ms": longest * 1000,
                "rows": count,
            }
            for (tenant_id, day, ident), (calls, seconds, longest, count) in sorted(rows.items())
        ],
    )


STATEMENTS = table(
    "tenant_statements",
    *(column(name) for name in ("tenant_id", "day", "query_id", "calls", "total_ms", "max_ms")),
    column("rows"),
    schema="tenantapp",
)
TEXTS_TABLE = table("statement_texts", column("query_id"), column("query"), schema="tenantapp")
_S = STATEMENTS.c
ORDERS = {  # what a list of statements may be ordered by, over the days summed
    "total_ms": func.sum(_S.total_ms),
    "calls": func.sum(_S.calls),
    "rows": func.sum(_S.rows),
    "mean_ms": func.sum(_S.total_ms) / func.greatest(func.sum(_S.calls), 1),
    "max_ms": func.max(_S.max_ms),
}


def top_statements(engine, tenant_id: int, days: int, order: str, limit: int) -> list[dict]:
    """The tenant's statements over the last ``days`` days, the top ``limit`` by ``order``."""
    query = (
        select(
            _S.query_id,
            TEXTS_TABLE.c.query,
            ORDERS["calls"].label("calls"),
            ORDERS["total_ms"].label("total_ms"),
            ORDERS["max_ms"].label("max_ms"),
            ORDERS["rows"].label("rows"),
        )
        .join_from(STATEMENTS, TEXTS_TABLE, _S.query_id == TEXTS_TABLE.c.query_id)
        .where(_S.tenant_id == tenant_id, _S.day > func.current_date() - days)
        .group_by(_S.query_id, TEXTS_TABLE.c.query)
        .order_by(ORDERS[order].desc(), _S.query_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [_statement(row) for row in connection.execute(query)]


def _statement(row) -> dict:
    calls = int(row.calls)
    return {
        "query_id": str(row.query_id),
        "query": row.query,
        "calls": calls,
        "total_ms": round(row.total_ms, 3),
        "mean_ms": round(row.total_ms / max(calls, 1), 3),
        "max_ms": round(row.max_ms, 3),
        "rows": int(row.rows),
    }
