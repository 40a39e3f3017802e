"""The shipped server against plain waitress, on the same app, side by side; or, with
``--before CHECKOUT``, this checkout against another (an earlier commit's worktree), both with
the shipped server: a change's cost on the request path, measured in one run.

    python -m bench.server [--rounds 5] [--seconds 10] [--counts 1,100] [--database-url URL]
                           [--before CHECKOUT]

Two ``pserve`` processes of ``production.ini``, one with the shipped server (``egg:tenantapp#main``:
tenants in turn, a thread cap per tenant, paces) and one with ``use = egg:waitress#main``, both
with the same 8 threads, on one throwaway database; ``wrk`` (keep-alive, as reverse proxies
connect) asks for random users of 1 tenant, then of 100, the two servers alternating round by
round (A/B, then B/A). The figure: the median of the rounds' ratios, shipped over plain (the aim:
at least 0.95).
"""

import argparse
import re
import statistics
import sys
from pathlib import Path

from .dataset import throwaway_tenants
from .loadgen import find_wrk, run_wrk, sweep
from .serving import Server, free_port, pserve_env, tenantapp_ini, write_targets

USERS = 200
PLAIN_SERVER = (
    "[server:main]\nuse = egg:waitress#main\nlisten = 127.0.0.1:%(http_port)s\nthreads = 8\n"
)


def plain_waitress_ini(shipped: Path) -> Path:
    """The same ini with waitress's own server section (no tenantapp keys in it)."""
    text = shipped.read_text()
    text = re.sub(r"(?ms)^\[server:main\]\n.*?(?=^\[|^###)", PLAIN_SERVER + "\n", text, count=1)
    path = shipped.with_name("plain.ini")
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--counts", default="1,100", type=lambda text: [int(n) for n in text.split(",")]
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument(
        "--before", type=Path, help="a checkout of tenantapp to compare this one with"
    )
    args = parser.parse_args()
    wrk = find_wrk()
    with throwaway_tenants(args.database_url, max(args.counts), USERS) as (url, tmp, targets):
        shipped = tenantapp_ini(tmp, [])
        env = pserve_env(url)
        if args.before is None:
            systems = {"shipped": (shipped, env), "waitress": (plain_waitress_ini(shipped), env)}
        else:  # the same ini; the earlier code first on the path
            earlier = {**env, "PYTHONPATH": str(args.before.resolve())}
            systems = {"after": (shipped, env), "before": (shipped, earlier)}
        pserve = str(Path(sys.executable).with_name("pserve"))
        servers = {}
        for name, (ini, environ) in systems.items():
            port = free_port()
            servers[name] = Server(
                name, [pserve, str(ini), f"http_port={port}"], environ, port, tmp / f"{name}.log"
            )
        try:
            for server in servers.values():
                server.start()
            for count in args.counts:
                measure(wrk, servers, targets[:count], tmp, args)
        finally:
            for server in servers.values():
                server.stop()


def measure(wrk: str, servers: dict[str, Server], targets, tmp: Path, args) -> None:
    file = write_targets(tmp / f"t{len(targets)}.txt", targets)
    names = list(servers)
    for server in servers.values():
        sweep(server.url, targets, "/users?limit=20")
        run_wrk(wrk, server.url, file, "item", USERS, 3, args.connections)  # warm-up
    figures: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            run = run_wrk(
                wrk, servers[name].url, file, "item", USERS, args.seconds, args.connections
            )
            figures[name].append(run)
        first, second = (figures[name][-1] for name in names)
        print(
            f"{len(targets):>5} tenants, round {round_ + 1}: {names[0]} {first['rps']:.0f} req/s"
            f" (p99 {first['p99_ms']:.1f} ms), {names[1]} {second['rps']:.0f} req/s"
            f" (p99 {second['p99_ms']:.1f} ms): x{first['rps'] / second['rps']:.3f}",
            flush=True,
        )
    pairs = zip(figures[names[0]], figures[names[1]], strict=True)
    ratios = [first["rps"] / second["rps"] for first, second in pairs]
    medians = {name: statistics.median(r["rps"] for r in runs) for name, runs in figures.items()}
    print(
        f"{len(targets):>5} tenants: median {names[0]} {medians[names[0]]:.0f} req/s,"
        f" {names[1]} {medians[names[1]]:.0f} req/s;"
        f" median of the rounds' ratios x{statistics.median(ratios):.3f}"
        f" (range x{min(ratios):.3f}-x{max(ratios):.3f})",
        flush=True,
    )


if __name__ == "__main__":
    main()
