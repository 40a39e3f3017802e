"""A read through the tenant-aware cache (``request.cache``) against the same read from the
tenant's database, through the whole app in-process, in turns.

    python -m bench.cache [--requests N] [--rounds N] [--redis-url URL] [--database-url URL]

One tenant of 1,000 users; two views an app author would write (``bench.cache_views``): one
reads a user by id with the ORM, the other asks ``request.cache.get_or_create`` for it (the
cache warmed first, so every request is a hit). The two take turns request by request, each
request timed; per round the median of each; over the rounds, the median of those. Once with
the in-process LRU and, with ``--redis-url``, once with Redis.
"""

import argparse
import random
import statistics
import time

import webtest
from sqlalchemy import create_engine

from tenantapp import main
from tenantapp.throwaway import TEST_KEYS, stop_app

from .database import throwaway_database
from .dataset import make_tenants

USERS = 1000


def measure(url: str, backend: dict, requests: int, rounds: int) -> dict[str, float]:
    settings = {
        "sqlalchemy.url": url,
        "tenantapp.embedded_database": "false",
        "pyramid.includes": "bench.cache_views",
        **TEST_KEYS,
        **backend,
    }
    app = main({}, **settings)
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
    (target,) = TARGETS
    ids = range(target.first_id, target.first_id + USERS)
    for user in ids:  # every request a hit
        client.get(f"{target.prefix}/from-cache?id={user}")
    medians: dict[str, list[float]] = {"database": [], "cache": []}
    for _ in range(rounds + 1):  # the first: a warm-up
        spent: dict[str, list[float]] = {"database": [], "cache": []}
        for n in range(requests):
            user = random.choice(ids)  # noqa: S311
            ways = ("database", "cache") if n % 2 else ("cache", "database")
            for way in ways:
                path = "from-database" if way == "database" else "from-cache"
                began = time.perf_counter()
                client.get(f"{target.prefix}/{path}?id={user}", status=200)
                spent[way].append(time.perf_counter() - began)
        for way, times in spent.items():
            medians[way].append(statistics.median(times))
    stop_app(app)
    return {way: statistics.median(values[1:]) for way, values in medians.items()}


TARGETS: list = []


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", help="also with this Redis (e.g. redis://127.0.0.1:6379/15)")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    backends = {"in-process LRU": {}}
    if args.redis_url:
        backends["Redis"] = {
            "tenantapp.cache.url": args.redis_url,
            "tenantapp.cache.prefix": f"bench:{random.getrandbits(64):x}:",
        }
    with throwaway_database(args.database_url) as url:
        engine = create_engine(url)
        TARGETS[:] = make_tenants(engine, 1, USERS)
        engine.dispose()
        for name, backend in backends.items():
            found = measure(url, backend, args.requests, args.rounds)
            database, cache = found["database"] * 1e6, found["cache"] * 1e6
            print(
                f"{name}: a user from the database {database:.0f} µs, from the cache"
                f" {cache:.0f} µs ({(cache - database) / database:+.1%}; median of"
                f" {args.rounds} rounds of {args.requests})"
            )


if __name__ == "__main__":
    main_()
