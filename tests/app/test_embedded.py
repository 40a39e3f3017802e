"""The embedded PostgreSQL carries tenantapp's server settings (sized for database mode)."""

import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantapp.embedded import CONF, SERVER_SETTINGS, configure
from tenantapp.throwaway import embedded_server

pytestmark = pytest.mark.slow


def test_the_embedded_server_runs_with_tenantapps_settings_included_once():
    with tempfile.TemporaryDirectory() as directory:
        pgdata = Path(directory) / "pgdata"
        with embedded_server(pgdata) as server:
            engine = sa.create_engine(server.get_uri(driver="psycopg"))
            try:
                with engine.connect() as connection:
                    shown = {
                        name: connection.exec_driver_sql(f"SHOW {name}").scalar()
                        for name in SERVER_SETTINGS
                    }
            finally:
                engine.dispose()
            configure(pgdata)  # every start writes them again; postgresql.conf includes them once
            conf = (pgdata / "postgresql.conf").read_text()
    assert conf.count(f"include_if_exists = '{CONF}'") == 1
    assert shown == SERVER_SETTINGS
    assert int(shown["max_connections"]) >= 300
