"""Noisy neighbour: does one tenant flooding the server raise the others' p99?

    python -m bench.noisy [--quick] [--database-url URL]

101 tenants on one tenantapp process (waitress, 8 threads). ``wrk`` asks the 100 quiet tenants
for single users at a steady 4 connections, alone and then while a second ``wrk`` floods the
hot tenant's user list with 32 connections; three times: tenants taken in turn with at most 2
threads each and at most 25 requests a second each (``threads_per_tenant``,
``requests_per_tenant_per_second``: the rest wait, costing nothing), with the thread cap only,
and in turn only. The figure is the quiet tenants' p99 with the flood
over their p99 alone (the aim: at most 1.2).
"""

import argparse
import os
import re
import secrets
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine

from .database import throwaway_database
from .dataset import make_tenants
from .loadgen import find_wrk, run_wrk, sweep
from .serving import Server, free_port, tenantapp_ini, write_targets

USERS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s runs instead of 15 s")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    seconds = 5 if args.quick else 15
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
        for name, cap, rate in (("shaped", 2, 25), ("capped", 2, 0), ("in turn", 0, 0)):
            ini = tenantapp_ini(tmp, [])
            text = re.sub(
                r"(?m)^threads_per_tenant = .*$", f"threads_per_tenant = {cap}", ini.read_text()
            )
            text = re.sub(
                r"(?m)^requests_per_tenant_per_second = .*$",
                f"requests_per_tenant_per_second = {rate}",
                text,
            )
            ini.write_text(text)
            env = {
                **os.environ,
                "TENANTAPP_DATABASE_URL": url,
                "TENANTAPP_OPERATOR_TOKEN": secrets.token_urlsafe(32),
            }
            pserve = str(Path(sys.executable).with_name("pserve"))
            port = free_port()
            server = Server(name, [pserve, str(ini), f"http_port={port}"], env, port, tmp / "log")
            server.start()
            try:
                sweep(server.url, targets, "/users?limit=20")
                run_wrk(wrk, server.url, quiet_file, "item", USERS, 3, 4)  # warm-up
                alone = run_wrk(wrk, server.url, quiet_file, "item", USERS, seconds, 4)
                with ThreadPoolExecutor(1) as pool:
                    flooding = pool.submit(
                        run_wrk, wrk, server.url, hot_file, "list", USERS, seconds + 2, 32, True
                    )
                    noisy = run_wrk(wrk, server.url, quiet_file, "item", USERS, seconds, 4)
                    flood = flooding.result()
            finally:
                server.stop()
            results[name] = (alone, noisy, flood)
            print(
                f"{name:>9}: quiet p99 alone {alone['p99_ms']:.1f} ms, with the flood"
                f" {noisy['p99_ms']:.1f} ms (x{noisy['p99_ms'] / alone['p99_ms']:.2f});"
                f" quiet {alone['rps']:.0f} -> {noisy['rps']:.0f} req/s;"
                f" hot {flood['rps']:.0f} req/s, {flood['non2xx']} refused",
                flush=True,
            )


if __name__ == "__main__":
    main()
