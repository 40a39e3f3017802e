"""Where a request's CPU goes: tenantapp (``production.ini``) and the open yardstick
(``bench.open_baseline``) answer the same ``GET`` in-process, one thread, under ``cProfile``
with a CPU clock; CPU per request for each, and tenantapp's functions by own time.

    python -m bench.profile [--mode schema] [--requests 3000] [--rounds 1] [--top 25]
                            [--database-url URL] [--cpu-only]

With ``--rounds``, the two apps alternate that many times and the figures are the medians (one
round's figure moves by a few percent from run to run). The CPU per request is what separates
the two apps once the network and the threads are taken away: the ratio of the two is the most
the throughput ratio can be.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time

from sqlalchemy import create_engine

from .baseline import make_app
from .database import throwaway_database
from .dataset import make_baseline, make_tenants
from .memory import ask
from .serving import ROOT, pserve_env


def cpu_per_request(app, path: str, token: str, requests: int, profile: cProfile.Profile | None):
    for _ in range(200):  # warm: caches, pools, lazily compiled statements
        ask(app, path, token)
    started = time.process_time()
    if profile is not None:
        profile.enable()
    for _ in range(requests):
        ask(app, path, token)
    if profile is not None:
        profile.disable()
    return (time.process_time() - started) / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("schema", "shared", "database"), default="schema")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument("--cpu-only", action="store_true", help="the CPU figures, no profile")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        engine = create_engine(url)
        (target,) = make_tenants(engine, 1, 100, mode=args.mode)
        baseline = make_baseline(engine, 100)
        engine.dispose()
        os.environ.update(pserve_env(url))
        from pyramid.paster import get_app

        tenantapp = get_app(str(ROOT / "production.ini"))
        open_app = make_app(url, 10, authenticate=False)
        path = f"{target.prefix}/users/{target.first_id}"
        plains, mines = [], []
        for _ in range(args.rounds):
            plains.append(
                cpu_per_request(open_app, f"/users/{baseline.first_id}", "", args.requests, None)
            )
            mines.append(cpu_per_request(tenantapp, path, target.token, args.requests, None))
        plain, mine = statistics.median(plains), statistics.median(mines)
        print(
            f"CPU per request ({args.requests} requests, {args.mode} mode, no profiler,"
            f" median of {args.rounds}):"
        )
        print(f"  open yardstick {plain:.3f} ms, tenantapp {mine:.3f} ms ({plain / mine:.2f}x)")
        if args.cpu_only:
            return
        profile = cProfile.Profile(time.process_time)
        cpu_per_request(tenantapp, path, target.token, args.requests, profile)
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue().replace(str(ROOT) + "/", ""), file=sys.stdout)


if __name__ == "__main__":
    main()
