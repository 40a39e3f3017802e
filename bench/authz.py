"""What a tenant's policies cost: ``GET /{t}/users/{id}`` and a list of 50, for tenants with
10 Cedar policies against tenants with none, on the same app, in turns.

    python -m bench.authz [--requests N] [--rounds N] [--database-url URL]

10 tenants of 200 users, 5 with 10 policies (each a forbid on ``view`` of one email; none
forbids these readers), in two variants: policies for members only (decided for the owner
who reads once per role) and policies for everyone (evaluated on every request, a SQL
condition on every list); single-user GETs and 50-user pages through the WSGI app
in-process, the two halves taking turns for ``--rounds`` rounds. The figure: the median per
request, and the difference in percent (the aim: under 5%).
"""

import argparse
import statistics

import webtest
from sqlalchemy import create_engine, text

from tenantapp import main
from tenantapp.throwaway import TEST_KEYS, stop_app

from .database import throwaway_database
from .dataset import make_tenants
from .metrics_overhead import timed as timed_paths

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


def timed(client, targets, count: int, page: bool) -> float:
    """Mean seconds per request: a random user of a random tenant, or a page of 50."""
    if page:
        return timed_paths(client, targets, count, lambda target: f"{target.prefix}/users?limit=50")
    return timed_paths(client, targets, count)


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    for variant, source in VARIANTS.items():
        print(f"policies {variant}:")
        measure(args, source)


def measure(args, source: str) -> None:
    with throwaway_database(args.database_url) as url:
        engine = create_engine(url)
        targets = make_tenants(engine, 10, USERS)
        with engine.begin() as connection:
            for target in targets[:5]:
                connection.execute(
                    text(
                        "INSERT INTO tenantapp.tenant_policies (tenant_id, source)"
                        " SELECT id, :source FROM tenantapp.tenants WHERE slug = :slug"
                    ),
                    {"source": source, "slug": target.prefix.strip("/")},
                )
        engine.dispose()
        settings = {"sqlalchemy.url": url, "tenantapp.embedded_database": "false", **TEST_KEYS}
        app = main({}, **settings)
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
        halves = {"10 policies": targets[:5], "none": targets[5:]}
        results = {(name, page): [] for name in halves for page in (False, True)}
        for page in (False, True):
            for half in halves.values():
                timed(client, half, 200, page)  # warm-up: caches, pools, parsed policies
        for _ in range(args.rounds):
            for page in (False, True):
                for name, half in halves.items():
                    count = args.requests // (10 if page else 1)
                    results[(name, page)].append(timed(client, half, count, page))
        stop_app(app)
    for page, what in ((False, "GET /{t}/users/{id}"), (True, "GET /{t}/users?limit=50")):
        with_, without = (statistics.median(results[(n, page)]) * 1e6 for n in halves)
        print(
            f"  {what}: {without:.0f} µs without policies, {with_:.0f} µs with 10"
            f" ({(with_ - without) / without:+.1%}; median of {args.rounds} rounds)"
        )


if __name__ == "__main__":
    main_()
