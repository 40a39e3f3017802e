"""A filtered list at 100,000 users, with and without the custom field's index, per mode.

    python -m bench.custom_index [--users N] [--requests N] [--rounds N] [--mode M]...
                                 [--database-url URL]

Two tenants per mode, the same users (``custom.plan`` is one of 1,000 values, so a filter
keeps 100 of them: the page is the first 50); one tenant has the field indexed (its index built
by ``custom_indexes.reconcile``, as the job does), the other not. ``GET /{t}/users?custom.plan=
pN`` through the whole app in-process, the two tenants in turns request by request; per round
the median of each; over the rounds, the median of those.
"""

import argparse
import random
import statistics
import time
from dataclasses import replace

import webtest
from sqlalchemy import create_engine, text

from tenantapp import main, tenancy_from
from tenantapp.tenancy.binding import bind_connection
from tenantapp.tenancy.directory import find_tenant
from tenantapp.throwaway import TEST_KEYS, stop_app
from tenantapp.users.custom_indexes import reconcile

from .database import throwaway_database
from .dataset import make_tenants

VALUES = 1000
FIELD_SQL = "INSERT INTO custom_fields (name, type, indexed) VALUES ('plan', 'text', :indexed)"
VALUES_SQL = "UPDATE users SET custom = jsonb_build_object('plan', 'p' || mod(id, :values))"


def prepare(url: str, mode: str, users: int) -> dict[str, object]:
    """The two tenants of ``mode``: with the index, without."""
    engine = create_engine(url)
    targets = make_tenants(engine, 2, users, mode=mode, prefix=f"{mode[:2]}")
    engine.dispose()
    tenancy = tenancy_from({"sqlalchemy.url": url, **TEST_KEYS})
    found = {}
    for way, target in zip(("indexed", "not indexed"), targets, strict=True):
        entry = find_tenant(tenancy.registry, target.prefix.lstrip("/"))
        store = tenancy.store(mode)
        with store.owner_engine(entry).begin() as connection:
            bind_connection(connection, replace(store.binding(entry), guard=None))
            connection.execute(text(FIELD_SQL), {"indexed": way == "indexed"})
            mine = f" WHERE tenant_id = {entry.id}" if mode == "shared" else ""
            connection.execute(text(VALUES_SQL + mine), {"values": VALUES})
            connection.exec_driver_sql(f"ANALYZE {entry.schema_name}.users")
        if way == "indexed":
            states = reconcile(tenancy, entry)
            assert states["plan"]["state"] == "ready", states
        found[way] = target
    tenancy.servers.dispose()
    return found


def measure(url: str, targets: dict, users: int, requests: int, rounds: int) -> dict:
    settings = {"sqlalchemy.url": url, "tenantapp.embedded_database": "false", **TEST_KEYS}
    app = main({}, **settings)
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    medians: dict[str, list[float]] = {way: [] for way in targets}
    for _ in range(rounds + 1):  # the first: a warm-up
        spent: dict[str, list[float]] = {way: [] for way in targets}
        for n in range(requests):
            value = f"p{random.randrange(VALUES)}"  # noqa: S311
            ways = list(targets) if n % 2 else list(reversed(targets))
            for way in ways:
                target = targets[way]
                headers = {"Authorization": f"Bearer {target.token}"}
                began = time.perf_counter()
                page = client.get(f"{target.prefix}/users?custom.plan={value}", headers=headers)
                spent[way].append(time.perf_counter() - began)
                assert len(page.json["items"]) == min(50, users // VALUES), page.json
        for way, times in spent.items():
            medians[way].append(statistics.median(times))
    stop_app(app)
    return {way: statistics.median(values[1:]) for way, values in medians.items()}


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", action="append", choices=("schema", "shared", "database"))
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        for mode in args.mode or ("schema", "shared", "database"):
            targets = prepare(url, mode, args.users)
            found = measure(url, targets, args.users, args.requests, args.rounds)
            indexed, plain = found["indexed"] * 1e3, found["not indexed"] * 1e3
            print(
                f"{mode}: a filtered page of 50 at {args.users:,} users: {plain:.2f} ms without"
                f" the index, {indexed:.2f} ms with it (x{plain / indexed:.1f}; median of"
                f" {args.rounds} rounds of {args.requests})",
                flush=True,
            )


if __name__ == "__main__":
    main_()
