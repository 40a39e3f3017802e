"""Throughput with one serving process and with two, as production runs several.

    python -m bench.processes [--rounds 3] [--seconds 10] [--tenants 100] [--database-url URL]

``pserve production.ini`` twice on one throwaway database (every limit a tenant has holds for
both together). ``wrk`` asks for random users of random tenants over 16 keep-alive connections:
all to the first process, then 8 to each (two ``wrk`` at once, as a reverse proxy would spread
them), alternating round by round. The figure: the median rate with one and with two.
"""

import argparse
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .dataset import throwaway_tenants
from .loadgen import find_wrk, run_wrk, sweep
from .serving import Server, free_port, pserve_env, tenantapp_ini, write_targets

USERS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    wrk = find_wrk()
    with throwaway_tenants(args.database_url, args.tenants, USERS) as (url, tmp, targets):
        file = write_targets(tmp / "targets.txt", targets)
        env = pserve_env(url)
        ini = tenantapp_ini(tmp, [])
        pserve = str(Path(sys.executable).with_name("pserve"))
        servers = []
        for i in range(2):
            port = free_port()
            argv = [pserve, str(ini), f"http_port={port}"]
            servers.append(Server(f"p{i}", argv, env, port, tmp / f"p{i}.log"))
        try:
            for server in servers:
                server.start()
                sweep(server.url, targets, "/users?limit=20")

            def load(used: list[Server], seconds: int) -> float:
                each = args.connections // len(used)
                with ThreadPoolExecutor(len(used)) as pool:
                    runs = pool.map(
                        lambda s: run_wrk(wrk, s.url, file, "item", USERS, seconds, each), used
                    )
                    return sum(run["rps"] for run in runs)

            load(servers, 3)  # warm-up
            rates: dict[int, list[float]] = {1: [], 2: []}
            for round_ in range(args.rounds):
                for count in (1, 2) if round_ % 2 == 0 else (2, 1):
                    rate = load(servers[:count], args.seconds)
                    rates[count].append(rate)
                    print(f"round {round_ + 1}: {count} process(es) {rate:.0f} req/s", flush=True)
        finally:
            for server in servers:
                server.stop()
    one, two = (statistics.median(rates[n]) for n in (1, 2))
    print(f"median: 1 process {one:.0f} req/s, 2 processes {two:.0f} req/s (x{two / one:.2f})")


if __name__ == "__main__":
    main()
