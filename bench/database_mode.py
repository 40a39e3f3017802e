"""Database mode at 100 (or 1,000) tenant databases, against schema mode, with the shipped
settings.

    python -m bench.database_mode [--tenants 100] [--working-set 100] [--rounds 3]
                                  [--seconds 10] [--database-url URL] [--setting KEY=VALUE]

One ``pserve production.ini`` (the shipped settings, plus ``--setting``s) serves N tenants in
database mode and N in schema mode on one server; ``wrk`` (keep-alive, 8 connections) asks
for a random user of a random tenant of the working set, the modes alternating round by round.
Any failed request (non-2xx or socket error) is counted and reported, not hidden. The figure: the
median rate of each mode, and database over schema (the aim: at least 0.8).
"""

import argparse
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine
from tqdm import tqdm

from tenantapp.throwaway import pgbouncer

from .database import throwaway_database
from .dataset import make_tenants
from .loadgen import find_wrk, run_wrk, sweep
from .serving import Server, free_port, pserve_env, tenantapp_ini, write_targets

USERS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--working-set", type=int, help="tenants asked for (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument("--max-connections", type=int, help="the embedded server's max_connections")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--pgbouncer",
        type=int,
        metavar="POOL_SIZE",
        help="serve through Debian's PgBouncer in transaction mode, POOL_SIZE server"
        " connections per database (tenantapp.pooler.default)",
    )
    args = parser.parse_args()
    wrk = find_wrk()
    working = args.working_set or args.tenants
    with (
        throwaway_database(args.database_url, args.max_connections) as url,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmp)
        if args.pgbouncer:  # the server's connections shared by the pooler, within 60
            pooler = stack.enter_context(
                pgbouncer(url, pool_size=args.pgbouncer, user_connections=60)
            )
            args.setting += [
                f"tenantapp.pooler.default={pooler}",
                "tenantapp.database_mode.max_connections=200",  # to the pooler: cheap
            ]
        engine = create_engine(url)
        files = {}
        for mode, prefix in (("database", "d"), ("schema", "s")):
            with tqdm(total=args.tenants, desc=f"{mode} tenants", disable=None) as bar:
                made = make_tenants(
                    engine, args.tenants, USERS, lambda n: bar.update(1), mode, prefix
                )
            files[mode] = (write_targets(tmp / f"{mode}.txt", made[:working]), made)
        engine.dispose()
        env = pserve_env(url)
        port = free_port()
        ini = tenantapp_ini(tmp, args.setting)
        pserve = str(Path(sys.executable).with_name("pserve"))
        server = Server(
            "tenantapp", [pserve, str(ini), f"http_port={port}"], env, port, tmp / "log"
        )
        server.start()
        try:
            for _, made in files.values():
                sweep(server.url, made, "/users?limit=20")
            figures: dict[str, list[dict]] = {mode: [] for mode in files}
            for file, _ in files.values():  # warm-up
                run_wrk(wrk, server.url, file, "item", USERS, 3, args.connections, failures_ok=True)
            for round_ in range(args.rounds):
                for mode in list(files) if round_ % 2 == 0 else reversed(list(files)):
                    run = run_wrk(
                        wrk,
                        server.url,
                        files[mode][0],
                        "item",
                        USERS,
                        args.seconds,
                        args.connections,
                        failures_ok=True,
                    )
                    figures[mode].append(run)
                    print(
                        f"{mode:>8} mode, {working} of {args.tenants} tenants, round {round_ + 1}:"
                        f" {run['rps']:.0f} req/s, p99 {run['p99_ms']:.1f} ms,"
                        f" {run['non2xx'] + run['socket_errors']} failed of {run['requests']}",
                        flush=True,
                    )
        finally:
            server.stop()
        log = (tmp / "log").read_text()
    rates = {mode: statistics.median(r["rps"] for r in runs) for mode, runs in figures.items()}
    failed = {
        mode: sum(r["non2xx"] + r["socket_errors"] for r in runs) for mode, runs in figures.items()
    }
    print(
        f"median: database {rates['database']:.0f} req/s, schema {rates['schema']:.0f} req/s:"
        f" x{rates['database'] / rates['schema']:.2f}; failed: {failed}",
        flush=True,
    )
    errors = [line for line in log.splitlines() if "Error" in line or "ERROR" in line]
    if errors:
        print("server log errors (first 5):", *errors[:5], sep="\n  ")


if __name__ == "__main__":
    main()
