"""Yardstick 2, the floor: a bare WSGI callable with a psycopg connection pool, answering the same
two requests over tenantapp's own tenant schemas with the same SQL, and nothing else.

It knows the slug → schema map from start-up (a perfect registry cache), checks the bearer token
with one query and reads with a second, both in one transaction, as tenantapp must.

    python -m bench.floor --url URL --port 6545 [--threads 8 --pool-size 10]
"""

import hashlib
import json
from urllib.parse import parse_qs

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from .yardstick import serve

COLUMNS = "id, email, name, role, custom, created_at, updated_at"  # what tenantapp answers
IDENTITY = (
    "SELECT u.id, u.role FROM {s}.tokens t JOIN {s}.users u ON u.id = t.user_id "
    "WHERE t.token_hash = %s AND t.expires_at > now()"
)
ONE = f"SELECT {COLUMNS} FROM {{s}}.users WHERE id = %s"
PAGE = f"SELECT {COLUMNS} FROM {{s}}.users WHERE id > %s ORDER BY id LIMIT %s"


def as_json(row: dict) -> dict:
    row["name"] = bytes(row["name"]).decode()  # the bench's names: UTF-8 in a bytea, not sealed
    row["created_at"] = row["created_at"].isoformat()
    row["updated_at"] = row["updated_at"].isoformat()
    return row


def make_app(url: str, pool_size: int):
    url = psycopg.conninfo.make_conninfo(url.replace("postgresql+psycopg", "postgresql"))
    pool = ConnectionPool(
        url,
        min_size=pool_size,
        max_size=pool_size,
        kwargs={"row_factory": dict_row, "prepare_threshold": None},
    )
    pool.wait()
    with pool.connection() as conn:
        cursor = conn.cursor(row_factory=tuple_row)
        schemas = dict(cursor.execute("SELECT slug, 'tenant_' || id FROM tenantapp.tenants"))

    def app(environ, start_response):
        parts = [*environ["PATH_INFO"].split("/"), ""]  # ["", slug, "users", id or ""]
        schema = schemas.get(parts[1]) if len(parts) in (4, 5) else None
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if schema is None or parts[2] != "users" or scheme.lower() != "bearer":
            return reply(start_response, "404 Not Found", {"error": "not_found"})
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        with pool.connection() as conn:
            if conn.execute(IDENTITY.format(s=schema), (token_hash,)).fetchone() is None:
                return reply(start_response, "401 Unauthorized", {"error": "unauthorized"})
            if parts[3]:
                row = conn.execute(ONE.format(s=schema), (int(parts[3]),)).fetchone()
                if row is None:
                    return reply(start_response, "404 Not Found", {"error": "not_found"})
                return reply(start_response, "200 OK", as_json(row))
            query = parse_qs(environ.get("QUERY_STRING", ""))
            limit = min(int(query.get("limit", ["50"])[0]), 200)
            after = int(query.get("after", ["0"])[0])
            rows = conn.execute(PAGE.format(s=schema), (after, limit + 1)).fetchall()
        page = [as_json(r) for r in rows[:limit]]
        next_url = None
        if len(rows) > limit:
            next_url = f"/{parts[1]}/users?limit={limit}&after={page[-1]['id']}"
        return reply(start_response, "200 OK", {"items": page, "limit": limit, "next": next_url})

    return app


def reply(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


if __name__ == "__main__":
    serve(__doc__, make_app)
