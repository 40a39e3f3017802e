"""What the metrics cost a request: the same app with and without its metrics tween.

    python -m bench.metrics_overhead [--requests N] [--rounds N] [--database-url URL]

10 tenants of 200 users; single-user GETs through the WSGI app in-process (no HTTP, no
threads), the two apps taking turns for ``--rounds`` rounds of ``--requests`` each. The app
without metrics lists every other tween in ``pyramid.tweens``; the statement hooks stay (they
do nothing without the tween's per-request counter), so the difference is what the tween and
the hooks' bookkeeping cost.
"""

import argparse
import random
import statistics
import time

import webtest
from pyramid.interfaces import ITweens
from sqlalchemy import create_engine

from tenantapp import main
from tenantapp.throwaway import TEST_KEYS, stop_app

from .database import throwaway_database
from .dataset import make_tenants

USERS = 200
METRICS_TWEEN = "tenantapp.metrics.metrics_tween_factory"


def build(url: str, without_metrics: bool):
    settings = {"sqlalchemy.url": url, "tenantapp.embedded_database": "false", **TEST_KEYS}
    app = main({}, **settings)
    if not without_metrics:
        return app
    names = [name for name, _ in app.registry.getUtility(ITweens).implicit()]
    stop_app(app)
    kept = "\n".join(name for name in names if name != METRICS_TWEEN)
    return main({}, **settings, **{"pyramid.tweens": kept})


def user_path(target) -> str:
    return f"{target.prefix}/users/{target.first_id + random.randrange(USERS)}"  # noqa: S311


def timed(client, targets, count: int, path=user_path) -> float:
    """Mean seconds per request over ``count`` requests to random tenants: a random user of
    each, or what ``path(target)`` names."""
    paths = [(path(t), t.token) for t in random.choices(targets, k=count)]  # noqa: S311
    started = time.perf_counter()
    for url, token in paths:
        client.get(url, headers={"Authorization": f"Bearer {token}"}, status=200)
    return (time.perf_counter() - started) / count


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        engine = create_engine(url)
        targets = make_tenants(engine, 10, USERS)
        engine.dispose()
        apps = {"with metrics": build(url, False), "without": build(url, True)}
        clients = {
            name: webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
            for name, app in apps.items()
        }
        for client in clients.values():
            timed(client, targets, 500)  # warm-up: caches, pools, compiled statements
        results: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, client in clients.items():
                results[name].append(timed(client, targets, args.requests))
        for app in apps.values():
            stop_app(app)
    medians = {name: statistics.median(values) * 1e6 for name, values in results.items()}
    for name, value in medians.items():
        print(f"{name:>12}: {value:.0f} µs a request (median of {args.rounds} rounds)")
    cost = medians["with metrics"] - medians["without"]
    print(f"metrics: {cost:+.0f} µs a request ({cost / medians['without']:+.1%})")


if __name__ == "__main__":
    main_()
