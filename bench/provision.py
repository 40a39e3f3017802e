"""How long creating a tenant takes, per isolation mode (schema mode from the template and by
running the migrations), with 0 and with N existing tenants. Aims: schema mode median under
50 ms and at most 2x slower at 2,000 tenants; shared mode under 5 ms; database mode under 300 ms.

    python -m bench.provision [--existing 2000] [--samples 50] [--database-url URL]
"""

import argparse
import statistics
import time
import uuid

from tenantapp import tenancy_from
from tenantapp.throwaway import TEST_KEYS

from .database import percentile, throwaway_database

METHODS = {  # name: (mode, use_template)
    "schema, template": ("schema", True),
    "schema, migrations": ("schema", False),
    "shared": ("shared", True),
    "database": ("database", True),
}


def sample(tenancy, count: int, mode: str, use_template: bool) -> list[float]:
    timings, made = [], []
    for _ in range(count):
        slug = f"b-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        tenancy.create_tenant(slug, use_template=use_template, mode=mode)
        timings.append((time.perf_counter() - started) * 1000)
        made.append(slug)
    for slug in made:
        tenancy.purge_tenant(slug)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--existing", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        tenancy = tenancy_from({"sqlalchemy.url": url, **TEST_KEYS})
        tenancy.migrate()
        rows = []
        for existing in (0, args.existing):
            if existing:
                started = time.perf_counter()
                for i in range(existing):
                    tenancy.create_tenant(f"filler-{i}")
                fill = time.perf_counter() - started
                print(f"made {existing} tenants in {fill:.1f} s", flush=True)
            for method, (mode, use_template) in METHODS.items():
                t = sample(tenancy, args.samples, mode, use_template)
                rows.append((existing, method, statistics.median(t), percentile(t, 0.99)))
                print(
                    f"{existing:>6} existing  {method:<18}  median {rows[-1][2]:6.1f} ms"
                    f"  p99 {rows[-1][3]:6.1f} ms",
                    flush=True,
                )
        tenancy.servers.dispose()
    by = {(e, m): med for e, m, med, _ in rows}
    for method in METHODS:
        ratio = by[(args.existing, method)] / by[(0, method)]
        print(f"{method}: median at {args.existing} / at 0 = {ratio:.2f}x")


if __name__ == "__main__":
    main()
