"""Noisy neighbour: does one tenant flooding the server raise the others' p99?

    python -m bench.noisy [--quick] [--database-url URL] [--pace-ms MS] [--quiet-connections N]
                          [--repeat N] [--pin] [--configs NAME,...]

The README's figure: ``--pin --pace-ms 50 --quiet-connections 4 --seconds 10 --repeat 5
--configs "gentle-1ms,in turn"``.

101 tenants on one tenantapp process (waitress, 8 threads). ``wrk`` asks the 100 quiet tenants
for single users at a steady 4 connections, alone and then while a second ``wrk`` floods the
hot tenant's user list with 32 connections, on servers configured as ``CONFIGS`` says: tenants
taken in turn, at most N threads each (``threads_per_tenant``), every tenant's plan pacing it at
R requests a second (``tenantapp.quota.paced_requests_per_second``: the rest wait, costing
nothing), and Python's GIL switch interval. The figure is the quiet tenants' p99 with the flood
over their p99 alone (the aim: at most 1.2).

By default each quiet connection asks again as soon as it is answered (closed loop): the quiet
tenants alone already take all the CPU there is, so anything the flood costs shows in their
p99. ``--pace-ms`` has each quiet connection wait that long between requests instead, so the
quiet tenants ask at a rate the server keeps up with, as real tenants do, and the figure is
what the flood adds to a server that had room.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine

from .database import throwaway_database
from .dataset import make_tenants
from .loadgen import WRK_CPUS_ENV, find_wrk, run_wrk, sweep
from .serving import Server, free_port, pserve_env, tenantapp_ini, write_targets

USERS = 200
SETTLE = 5  # seconds between rounds
CONFIGS = (
    ("shaped", 2, 25, 0),
    ("shaped-1ms", 2, 25, 1),
    ("gentle", 1, 10, 0),
    ("gentle-1ms", 1, 10, 1),
    ("slow-1ms", 1, 5, 1),
    ("capped", 2, 0, 0),
    ("in turn", 0, 0, 0),
)


def ask_quiet(wrk, url, targets, seconds: int, connections: int, delay_ms: int) -> dict:
    return run_wrk(wrk, url, targets, "item", USERS, seconds, connections, delay_ms=delay_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s runs instead of 15 s")
    parser.add_argument("--seconds", type=int, help="length of each run")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument(
        "--pace-ms",
        type=int,
        default=0,
        help="each quiet connection waits this long between requests (default 0: closed loop)",
    )
    parser.add_argument("--quiet-connections", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="rounds per server (median)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the server and PostgreSQL on CPU 0, the load generators on CPU 1 (taskset)",
    )
    parser.add_argument(
        "--configs", default="shaped,capped,in turn", help="which servers, comma-separated"
    )
    args = parser.parse_args()
    quiet_load = {"connections": args.quiet_connections, "delay_ms": args.pace_ms}
    if args.pin:  # this process starts PostgreSQL and the server: they inherit CPU 0
        os.sched_setaffinity(0, {0})
        os.environ[WRK_CPUS_ENV] = "1"
    configs = [c for c in CONFIGS if c[0] in args.configs.split(",")]
    seconds = args.seconds or (5 if args.quick else 15)
    wrk = find_wrk()
    with throwaway_database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        engine = create_engine(url)
        targets = make_tenants(engine, 101, USERS)
        engine.dispose()
        hot, quiet = targets[0], targets[1:]
        hot_file = write_targets(tmp / "hot.txt", [hot])
        quiet_file = write_targets(tmp / "quiet.txt", quiet)
        results = {}
        for name, cap, rate, switch_ms in configs:
            ini = tenantapp_ini(tmp, [])
            text = re.sub(
                r"(?m)^threads_per_tenant = .*$", f"threads_per_tenant = {cap}", ini.read_text()
            )
            text = text.replace(  # every tenant's plan: a pace (0: none)
                "[app:main]\n", f"[app:main]\ntenantapp.quota.paced_requests_per_second = {rate}\n"
            )
            if switch_ms:
                text = text.replace(
                    "[server:main]\n", f"[server:main]\nswitch_interval_ms = {switch_ms}\n"
                )
            ini.write_text(text)
            env = pserve_env(url)
            pserve = str(Path(sys.executable).with_name("pserve"))
            port = free_port()
            server = Server(name, [pserve, str(ini), f"http_port={port}"], env, port, tmp / "log")
            server.start()
            try:
                sweep(server.url, targets, "/users?limit=20")
                run_wrk(wrk, server.url, quiet_file, "item", USERS, 3, 4)  # warm-up
                for _ in range(args.repeat):  # alone and flooded in turn, on one server
                    time.sleep(SETTLE)  # the last flood's held requests are drained first
                    alone = ask_quiet(wrk, server.url, quiet_file, seconds, **quiet_load)
                    with ThreadPoolExecutor(1) as pool:
                        flooding = pool.submit(
                            run_wrk, wrk, server.url, hot_file, "list", USERS, seconds + 2, 32, True
                        )
                        noisy = ask_quiet(wrk, server.url, quiet_file, seconds, **quiet_load)
                        flood = flooding.result()
                    report(name, alone, noisy, flood)
                    results.setdefault(name, []).append((alone["p99_ms"], noisy["p99_ms"]))
            finally:
                server.stop()
        for name, rounds in results.items():  # medians: one hiccup of the machine is not a round
            alone = statistics.median(a for a, _ in rounds)
            noisy = statistics.median(n for _, n in rounds)
            ratio = statistics.median(n / a for a, n in rounds)
            print(
                f"{name:>10}: over {len(rounds)} rounds, median quiet p99 alone {alone:.1f} ms,"
                f" with the flood {noisy:.1f} ms: x{noisy / alone:.2f}; median of the rounds'"
                f" ratios x{ratio:.2f}",
                flush=True,
            )


def report(name: str, alone: dict, noisy: dict, flood: dict) -> None:
    print(
        f"{name:>10}: quiet p99 alone {alone['p99_ms']:.1f} ms, with the flood"
        f" {noisy['p99_ms']:.1f} ms (x{noisy['p99_ms'] / alone['p99_ms']:.2f});"
        f" quiet {alone['rps']:.0f} -> {noisy['rps']:.0f} req/s;"
        f" hot {flood['rps']:.0f} req/s, {flood['non2xx']} refused",
        flush=True,
    )


if __name__ == "__main__":
    main()
