"""What a tenant's policies cost: ``GET /{t}/users/{id}`` and a list of 50, for tenants with
10 Cedar policies against tenants with none, on the same app, in turns.

    python -m bench.authz [--requests N] [--rounds N] [--database-url URL]

10 tenants of 200 users, 5 with 10 policies (each a forbid on ``view`` of one email; none
forbids these readers), in two variants: policies for members only (decided for the owner
who reads once per role) and policies for everyone (evaluated on every request, a SQL
condition on every list); single-user GETs and 50-user pages through the WSGI app
in-process. The two halves take turns request by request (with, without, without, with, …),
each request timed on its own: what drifts (a collection, the other core's load) falls on both
alike, where blocks of a thousand requests each differed by ±10% from run to run. The policies
change halves every round (saved and forgotten as the API does), so what differs between the
tenants themselves falls on both sides too; after each change, a warm-up and a collection, so
the garbage of the policies parsed before is not counted against the requests. The figure:
per round, the median request of each side; over ``--rounds`` rounds, the median of those,
and the difference (the aim: under 5%).
"""

import argparse
import gc
import random
import statistics
import time

import webtest
from sqlalchemy import create_engine, text

from tenantapp import main
from tenantapp.authz.store import CHANNEL, save
from tenantapp.caching import forget_everywhere
from tenantapp.throwaway import TEST_KEYS, stop_app

from .database import throwaway_database
from .dataset import make_tenants

USERS = 200


def policies(condition: str) -> str:
    return "\n".join(
        f'forbid(principal, action == Action::"view", resource) when {{ {condition}'
        f'resource.email == "blocked{n}@example.com" }};'
        for n in range(10)
    )


# the readers are the tenants' owners: policies for members are decided for them once per
# role; policies for everyone are evaluated on every request (and filter every list in SQL)
VARIANTS = {"for members": policies('principal.role == "member" && '), "for all": policies("")}
POLICIES = VARIANTS["for all"]


def interleaved(client, halves: dict, count: int, page: bool) -> dict[str, float]:
    """The median seconds of a request of each half, the halves taking turns request by
    request: a random user of a random tenant of the half, or a page of 50."""
    spent: dict[str, list[float]] = {name: [] for name in halves}
    names = list(halves)
    for n in range(count):
        for name in names if n % 2 else reversed(names):
            target = random.choice(halves[name])  # noqa: S311
            user = random.randint(1, USERS)  # noqa: S311
            url = f"{target.prefix}/users?limit=50" if page else f"{target.prefix}/users/{user}"
            headers = {"Authorization": f"Bearer {target.token}"}
            began = time.perf_counter()
            client.get(url, headers=headers, status=200)
            spent[name].append(time.perf_counter() - began)
    return {name: statistics.median(times) for name, times in spent.items()}


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    for variant, source in VARIANTS.items():
        print(f"policies {variant}:")
        measure(args, source)


def place(registry, ids: dict, with_policies: list, without: list, source: str) -> dict:
    """The policies on one half's tenants, none on the other's, in force at once in this
    process (as the API saves and forgets them); the halves as ``interleaved`` takes them."""
    for half, text_ in ((with_policies, source), (without, "")):
        for target in half:
            tenant_id = ids[target.prefix.strip("/")]
            save(registry, tenant_id, text_)
            forget_everywhere(CHANNEL, str(tenant_id))
    return {"10 policies": with_policies, "none": without}


def measure(args, source: str) -> None:
    with throwaway_database(args.database_url) as url:
        engine = create_engine(url)
        targets = make_tenants(engine, 10, USERS)
        with engine.connect() as connection:
            ids = dict(connection.execute(text("SELECT slug, id FROM tenantapp.tenants")).all())
        engine.dispose()
        settings = {"sqlalchemy.url": url, "tenantapp.embedded_database": "false", **TEST_KEYS}
        app = main({}, **settings)
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
        first, second = targets[:5], targets[5:]
        results = {(name, page): [] for name in ("10 policies", "none") for page in (0, 1)}
        for round_ in range(args.rounds + 1):  # the first: a warm-up, both ways
            ways = (first, second) if round_ % 2 else (second, first)
            halves = place(app.registry, ids, *ways, source)
            interleaved(client, halves, 50, False)  # the policies parsed again, and then:
            gc.collect()  # the old ones' garbage is no cost of a request (it was ±10 points)
            for page in (False, True):
                count = args.requests // (5 if page else 1)
                for name, median in interleaved(client, halves, count, page).items():
                    if round_:
                        results[(name, page)].append(median)
        stop_app(app)
    for page, what in ((False, "GET /{t}/users/{id}"), (True, "GET /{t}/users?limit=50")):
        with_, without = (statistics.median(results[(n, page)]) * 1e6 for n in halves)
        print(
            f"  {what}: {without:.0f} µs without policies, {with_:.0f} µs with 10"
            f" ({(with_ - without) / without:+.1%}; median of {args.rounds} rounds)"
        )


if __name__ == "__main__":
    main_()
