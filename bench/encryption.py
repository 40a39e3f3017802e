"""What sealing costs the read path: a page of users whose names are sealed, against the same
page whose names are not.

    python -m bench.encryption [--users N] [--requests N] [--rounds N] [--database-url URL]

Two tenants with the same ``--users`` users (names of the same length); one's names sealed
with its data key (``reseal``), the other's left as t008 leaves names written before sealing
(UTF-8, read without decryption). In-process GETs of ``/{tenant}/users?limit=N`` (every user
on one page) through the WSGI app, the two tenants taking turns for ``--rounds`` rounds of
``--requests`` each; the difference is what opening ``--users`` sealed values costs. Also the
cost of opening and of sealing one value alone (AES-256-GCM, the key unwrapped and cached).
"""

import argparse
import statistics
import time
import timeit

import webtest
from sqlalchemy import text

from tenantapp.encryption import rotation
from tenantapp.encryption.columns import Sealer
from tenantapp.interfaces import IPasswordHasher, ITenancy, service
from tenantapp.tenancy.directory import find_tenant
from tenantapp.throwaway import stop_app

from .database import migrated_app, throwaway_database

PASSWORD = "bench password 1"
USERS_SQL = """
INSERT INTO users (email, name, role)
SELECT 'user' || g || '@bench.example', convert_to('User number ' || lpad(g::text, 6, '0'), 'UTF8'),
       'member'
FROM generate_series(1, :users) AS g
"""


def make_tenant(tenancy, app, slug: str, users: int, sealed: bool) -> str:
    """A tenant with ``users`` users; their names sealed or not; its owner's token."""
    tenancy.create_tenant(
        slug,
        owner_email=f"owner@{slug}.example",
        owner_password=PASSWORD,
        hasher=service(app.registry, IPasswordHasher),
        mode="schema",
    )
    entry = find_tenant(tenancy.registry, slug)
    with tenancy.registry.begin() as connection:
        connection.execute(text(f'SET LOCAL search_path TO "{entry.schema_name}"'))
        connection.execute(text(USERS_SQL), {"users": users})
        connection.execute(
            text(
                "UPDATE users SET name = convert_to('Owner number 0', 'UTF8') WHERE role = 'owner'"
            )
        )
        connection.exec_driver_sql("ANALYZE users")
    if sealed:
        rotation.reseal_tenant(app.registry, entry)
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    body = {"email": f"owner@{slug}.example", "password": PASSWORD}
    return client.post_json(f"/{slug}/tokens", body).json["token"]


def timed(client, slug: str, token: str, users: int, count: int) -> float:
    """Mean seconds per request for the page of all of ``slug``'s users."""
    path, headers = f"/{slug}/users?limit={users + 1}", {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for _ in range(count):
        page = client.get(path, headers=headers, status=200)
    elapsed = time.perf_counter() - started
    assert len(page.json["items"]) == users + 1 and page.json["items"][1]["name"].startswith("User")
    return elapsed / count


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        tenancy, app = migrated_app(url)
        tokens = {
            "sealed": make_tenant(tenancy, app, "sealed", args.users, True),
            "plain": make_tenant(tenancy, app, "plain", args.users, False),
        }
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
        for slug, token in tokens.items():  # warm-up: caches, pools, compiled statements, keys
            timed(client, slug, token, args.users, 100)
        results: dict[str, list[float]] = {slug: [] for slug in tokens}
        for _ in range(args.rounds):
            for slug, token in tokens.items():
                results[slug].append(timed(client, slug, token, args.users, args.requests))
        entry = find_tenant(tenancy.registry, "sealed")
        sealer = Sealer(service(app.registry, ITenancy).keys, entry.id)
        value = sealer.seal("User number 000042", b"users.name")
        opens = 100_000
        per_open = timeit.timeit(lambda: sealer.open(value, b"users.name"), number=opens) / opens
        per_seal = (
            timeit.timeit(lambda: sealer.seal("User number 000042", b"users.name"), number=opens)
            / opens
        )
        stop_app(app)
    medians = {slug: statistics.median(values) * 1e6 for slug, values in results.items()}
    page = args.users + 1
    for slug, value in medians.items():
        print(f"{slug:>7}: {value:.0f} µs for a page of {page} users (median of {args.rounds})")
    cost = medians["sealed"] - medians["plain"]
    print(
        f"sealing: {cost:+.0f} µs a page ({cost / medians['plain']:+.1%}), "
        f"{cost / page:+.2f} µs a value; alone, opening one value: {per_open * 1e6:.2f} µs, "
        f"sealing one: {per_seal * 1e6:.2f} µs"
    )


if __name__ == "__main__":
    main_()
