"""Database mode's connections: serve many tenant databases from one process and count, on the
server, the connections it holds. Without a bound a pool per database would hold pool_size
connections per tenant database touched; with a budget (``max_connections``) the process never
holds more than the budget.

    python -m bench.pools [--tenants 100] [--max-connections 40] [--database-url URL]
"""

import argparse
import statistics
import time

import webtest
from sqlalchemy import text
from tqdm import tqdm

from tenantapp.interfaces import ICacheListener, IDatabasePools, IPasswordHasher, service

from .database import migrated_app, percentile, throwaway_database

PASSWORD = "bench password 1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--max-connections", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        tenancy, app = migrated_app(
            url,
            **{
                "tenantapp.default_mode": "database",
                "tenantapp.database_mode.max_connections": str(args.max_connections),
            },
        )
        hasher = service(app.registry, IPasswordHasher)
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "bench.example"})
        tokens = {}
        started = time.perf_counter()
        for i in tqdm(range(args.tenants), desc="tenant databases", leave=False):
            slug, email = f"d{i:04d}", f"owner@d{i:04d}.example"
            tenancy.create_tenant(slug, owner_email=email, owner_password=PASSWORD, hasher=hasher)
            tokens[slug] = client.post_json(
                f"/{slug}/tokens", {"email": email, "password": PASSWORD}
            ).json["token"]
        made = time.perf_counter() - started
        prefix = tenancy.registry.url.database + "\\_t%"
        peak, timings = 0, []
        for _ in range(args.rounds):
            for slug, token in tokens.items():
                begun = time.perf_counter()
                client.get(f"/{slug}/users", headers={"Authorization": f"Bearer {token}"})
                timings.append((time.perf_counter() - begun) * 1000)
                with tenancy.registry.connect() as connection:
                    held = connection.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname LIKE :prefix AND usename = :role"
                        ),
                        {"prefix": prefix, "role": tenancy.servers.app_role.name},
                    )
                peak = max(peak, held)
        stats = service(app.registry, IDatabasePools).stats()
        print(f"{args.tenants} tenant databases made in {made:.1f} s")
        print(
            f"served {len(timings)} requests round-robin: median {statistics.median(timings):.1f}"
            f" ms, p99 {percentile(timings, 0.99):.1f} ms (a connection is opened on most requests:"
            f" {stats['opened']} opened, {stats['closed']} closed)"
        )
        print(
            f"connections to tenant databases held, at most: {peak}"
            f" (budget {args.max_connections}; unbounded it would be {args.tenants})"
        )
        service(app.registry, IDatabasePools).dispose()
        service(app.registry, ICacheListener).stop()
        tenancy.servers.dispose()


if __name__ == "__main__":
    main()
