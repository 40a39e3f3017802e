"""Time to restore one tenant of 10,000 users to a moment, on an embedded PostgreSQL that
archives its WAL, as the app's does.

    python -m bench.restore [--users 10000] [--others 20] [--rounds 3]

A tenant of ``--users`` users (and ``--others`` tenants beside it, untouched), a base backup,
then writes after it (so the replay has WAL to go through), a moment, and its users deleted.
Each round restores the tenant as it was at that moment as a new tenant, and times the whole
``restore_tenant`` (the scratch server's start and replay, the export from it, the import) and
its parts as the log gives them. The figure: the median of the rounds.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from tenantapp import tenancy_from
from tenantapp.lifecycle.pitr import base_backup, restore_tenant, wal_archive
from tenantapp.throwaway import archived_app_settings, embedded_server

from .dataset import make_tenants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--others", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        with embedded_server(directory / "pgdata", archive=True) as server:
            settings = archived_app_settings(server, directory)
            url = settings["sqlalchemy.url"]
            tenancy = tenancy_from(settings)
            tenancy.migrate()
            engine = sa.create_engine(url)
            make_tenants(engine, args.others, 100, prefix="o")
            base_backup(wal_archive(settings), url)
            (target,) = make_tenants(engine, 1, args.users, prefix="big")
            slug = target.prefix.strip("/")
            with engine.connect() as connection:
                moment = connection.scalar(sa.text("SELECT now()"))
            entry = tenancy.get_tenant(slug)
            with engine.begin() as connection:
                connection.execute(sa.text(f'DELETE FROM "{entry.schema_name}".users'))
            engine.dispose()
            spent = []
            for number in range(args.rounds):
                started = time.perf_counter()
                done = restore_tenant(tenancy, settings, slug, moment, as_slug=f"back-{number}")
                spent.append(time.perf_counter() - started)
                print(
                    f"round {number + 1}: {spent[-1]:.1f} s, {done['rows']} rows restored",
                    flush=True,
                )
                tenancy.purge_tenant(f"back-{number}")
            print(
                f"\nrestore of a tenant of {args.users:,} users (beside {args.others} others):"
                f" median {statistics.median(spent):.1f} s of {args.rounds} rounds"
            )
            tenancy.servers.dispose()


if __name__ == "__main__":
    main()
