"""PostgreSQL backend memory after serving many tenants, with and without connection recycling.

    python -m bench.backends [--tenants 10000] [--limit 500] [--database-url URL]

Each backend keeps the catalog entries of every relation it has used, so a pooled connection
that has served thousands of tenant schemas holds tens of MB. The app replaces a connection
once it has served ``tenantapp.max_schemas_per_connection`` schemas (and by age, through
``pool_recycle``). This touches every tenant once (a user by id and a token lookup, as a
request does) through the app's own session factory, 8 threads on a pool of 10, and reports
the private memory of the pool's backends (read from /proc: a local server only).
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.engine import make_url
from tqdm import tqdm

from tenantapp import tenancy_from
from tenantapp.database import make_engine
from tenantapp.identity.tokens import token_owner
from tenantapp.tenancy.binding import bind_session
from tenantapp.tenancy.sessions import make_session_factory
from tenantapp.throwaway import TEST_KEYS
from tenantapp.users.models import User

from .database import throwaway_database
from .serving import backend_memory_mb


def touch_all(url: str, schemas: list[str], limit: int | None, name: str) -> dict:
    engine = make_engine(
        {
            "sqlalchemy.url": make_url(url).update_query_dict({"application_name": name}),
            "sqlalchemy.pool_size": "10",
            "sqlalchemy.max_overflow": "0",
        }
    )
    factory = make_session_factory(engine, max_schemas=limit)

    def touch(schema: str) -> None:
        with factory() as session:
            bind_session(session, schema)
            session.scalar(select(User).where(User.id == 1))
            token_owner(session, "0" * 64)

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(tqdm(pool.map(touch, schemas), total=len(schemas), desc=name, leave=False))
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")  # the pool as it stands, one of them used again
    memory = backend_memory_mb(engine, name)
    backends = engine.pool.checkedin()
    engine.dispose()
    return {"private_mb": memory, "backends": backends, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        setup = tenancy_from({"sqlalchemy.url": url, **TEST_KEYS})
        setup.migrate()
        schemas = [
            setup.create_tenant(f"t{i:05d}")[0].schema_name
            for i in tqdm(range(args.tenants), desc="tenants", leave=False)
        ]
        setup.servers.dispose()
        rows = [
            ("no limit", touch_all(url, schemas, None, "bench_unbounded")),
            (f"max {args.limit} schemas", touch_all(url, schemas, args.limit, "bench_bounded")),
        ]
    print(f"{args.tenants} tenants touched once each, 8 threads, pool of 10")
    print("| connections | backends | private MB (all) | MB per backend | seconds |")
    print("|---|---:|---:|---:|---:|")
    for label, row in rows:
        total = row["private_mb"]
        per = total / row["backends"] if total is not None and row["backends"] else None
        shown = "n/a (not a local server)" if total is None else f"{total:,.1f}"
        print(
            f"| {label} | {row['backends']} | {shown} | "
            f"{'n/a' if per is None else f'{per:.1f}'} | {row['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
