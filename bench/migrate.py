"""How long ``migrate`` takes over many tenants: with nothing to do (aim: under 5 s for 1,000),
and for one revision that adds a column and an index (aim: under 60 s for 1,000).

    python -m bench.migrate [--tenants 1000] [--workers N] [--database-url URL]
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from tenantapp import tenancy_from
from tenantapp.lifecycle import migrations
from tenantapp.throwaway import TEST_KEYS

from .database import throwaway_database

EXTRA_REVISION = '''"""bench: a column and an index"""
import sqlalchemy as sa
from alembic import op

revision = "tbench"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("nickname", sa.String(50), nullable=True))
    op.create_index("ix_users_nickname", "users", ["nickname"])


def downgrade():
    op.drop_index("ix_users_nickname", table_name="users")
    op.drop_column("users", "nickname")
'''


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    print(f"{label}: {elapsed:.2f} s", flush=True)
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        tenancy = tenancy_from({"sqlalchemy.url": url, **TEST_KEYS})
        tenancy.migrate()

        def make():
            for i in range(args.tenants):
                tenancy.create_tenant(f"t-{i}")

        timed(f"create {args.tenants} tenants (template)", make)
        _, noop = timed(
            f"migrate, nothing to do, {args.tenants} tenants", lambda: tenancy.migrate()
        )

        scripts = Path(tmp) / "alembic"
        shutil.copytree(migrations.ALEMBIC_DIR, scripts)
        head = migrations.head_revision("tenant")
        (scripts / "tenant" / "versions" / "tbench.py").write_text(EXTRA_REVISION.format(head=head))
        migrations.ALEMBIC_DIR = scripts
        migrations.head_revision.cache_clear()
        report, full = timed(
            f"migrate {args.tenants} tenants by one revision (column + index), "
            f"{args.workers} workers",
            lambda: tenancy.migrate(workers=args.workers),
        )
        print(f"  {len(report.migrated)} migrated, {len(report.failed)} failed")
        tenancy.servers.dispose()
    print(f"nothing to do: {noop:.2f} s (aim < 5 s); one revision: {full:.1f} s (aim < 60 s)")


if __name__ == "__main__":
    main()
