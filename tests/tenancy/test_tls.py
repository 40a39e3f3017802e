"""TLS to PostgreSQL: a server started here (Debian's PostgreSQL binaries: the embedded one is
built without TLS) with a certificate for ``localhost`` from a CA made here (``cryptography``),
whose pg_hba.conf takes TLS connections only. tenantapp connects with ``verify-full`` against
the CA; refuses the same server reached by a name its certificate does not give; and the app,
its cache listener and the migrate workers all connect (none could in plain text)."""

import datetime
import glob
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyramid.exceptions import ConfigurationError

from tenantapp import main
from tenantapp.interfaces import ICacheListener, IServers, IUsageLedger, service
from tests.conftest import TEST_KEYS, tenancy_for
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # a PostgreSQL server of its own


def debian_postgres() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert found, "TLS is tested on Debian's PostgreSQL (apt-get install postgresql)"
    return Path(found[-1]).parent


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for ``localhost`` (not for 127.0.0.1)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(days=1)}
    valid["not_valid_after"] = now + datetime.timedelta(days=7)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder(**valid)
        .subject_name(_name("tenantapp test CA"))
        .issuer_name(_name("tenantapp test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder(**valid)
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.crt", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_pem(key))
    key_file.chmod(0o600)
    assert ipaddress.ip_address("127.0.0.1")  # the name the certificate does not give
    return ca_file, cert_file, key_file


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server():
    """``(port, CA file)`` of a PostgreSQL that takes TLS connections only. Its folder is
    under the system's temporary one: pytest's are private to us, and the server may run as
    another user."""
    binaries = debian_postgres()
    folder = Path(tempfile.mkdtemp(prefix="tenantapp-tls-"))
    ca_file, cert_file, key_file = certificates(folder)
    run_as = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
        for path in (folder, cert_file, key_file):
            os.chown(path, user.pw_uid, user.pw_gid)
    data = folder / "data"
    subprocess.run(  # noqa: S603 - Debian's initdb, arguments of ours
        [binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        **run_as,
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n"
    )
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - Debian's postgres, arguments of ours
        [
            binaries / "postgres",
            *("-D", data, "-p", str(port), "-k", folder),
            *("-c", "listen_addresses=localhost", "-c", "ssl=on"),
            *("-c", f"ssl_cert_file={cert_file}", "-c", f"ssl_key_file={key_file}"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **run_as,
    )

    def answers() -> bool:
        try:
            url = f"host={folder} port={port} user=postgres dbname=postgres"
            psycopg.connect(url, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    wait_for(answers, process=server)
    yield port, str(ca_file)
    server.send_signal(signal.SIGINT)  # a fast shutdown: connections a test left are cut
    server.wait(timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


def url_of(port: int, host: str = "localhost", database: str = "postgres") -> str:
    return f"postgresql+psycopg://postgres@{host}:{port}/{database}"


def settings_for(url: str, ca: str, **extra) -> dict:
    return {
        "sqlalchemy.url": url,
        "tenantapp.embedded_database": "false",
        "tenantapp.database_ca.default": ca,
        **TEST_KEYS,
        **extra,
    }


@pytest.fixture
def plain_by_default(monkeypatch):
    """libpq's default for a connection that names no sslmode: plain, which the server
    refuses. So a part of tenantapp that connects did so with the settings' verify-full (the
    migrate workers, processes of their own, inherit this)."""
    monkeypatch.setenv("PGSSLMODE", "disable")


def test_tenantapp_verifies_the_server_and_its_name(tls_server, tmp_path, plain_by_default):
    port, ca = tls_server
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(f"host=127.0.0.1 port={port} user=postgres").close()

    app = main({}, **settings_for(url_of(port), ca))
    try:
        with service(app.registry, IServers).default.owner.connect() as connection:
            used = connection.scalar(
                sa.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            )
        assert used is True
    finally:
        service(app.registry, IServers).dispose()

    # the same server by an address its certificate does not name: refused
    app = main({}, **settings_for(url_of(port, host="127.0.0.1"), ca))
    try:
        with pytest.raises(sa.exc.OperationalError, match=r"server certificate|host name"):
            service(app.registry, IServers).default.owner.connect()
    finally:
        service(app.registry, IServers).dispose()

    # a CA that is no certificate, a server without one where TLS is required: no start
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    with pytest.raises(ConfigurationError, match=r"tenantapp\.database_ca\.default"):
        main({}, **settings_for(url_of(port), str(not_pem)))
    required = {"tenantapp.database_tls_required": "true"}
    with pytest.raises(ConfigurationError, match=r"tenantapp\.database_ca\.default"):
        main(
            {},
            **{**settings_for(url_of(port), ca, **required), "tenantapp.database_ca.default": ""},
        )


def test_the_app_its_listener_and_migrate_workers_connect_over_tls(tls_server, plain_by_default):
    """pg_hba.conf takes TLS only: each part that connects at all connected over TLS."""
    port, ca = tls_server
    admin = sa.create_engine(
        url_of(port), isolation_level="AUTOCOMMIT", connect_args={"sslmode": "require"}
    )
    with admin.connect() as connection:
        connection.execute(sa.text("DROP DATABASE IF EXISTS tls_app"))
        connection.execute(sa.text("CREATE DATABASE tls_app"))
    settings = settings_for(
        url_of(port, database="tls_app"), ca, **{"tenantapp.default_mode": "schema"}
    )
    tenancy = tenancy_for(settings)
    tenancy.migrate()
    for slug in ("tls-a", "tls-b", "tls-c"):
        tenancy.create_tenant(slug)
    assert tenancy.migrate(workers=2) is not None  # the workers are processes of their own
    app = main({}, **settings)
    try:
        listener = service(app.registry, ICacheListener)
        wait_for(listener.connected.is_set)
        with admin.connect() as connection:
            rows = dict(
                connection.execute(
                    sa.text(
                        "SELECT a.pid, s.ssl FROM pg_stat_activity a"
                        " JOIN pg_stat_ssl s USING (pid) WHERE a.datname = 'tls_app'"
                    )
                ).all()
            )
        assert rows.get(listener.backend_pid) is True, rows  # the listener's, over TLS
        assert all(rows.values()), rows
    finally:
        for running in (ICacheListener, IUsageLedger):
            service(app.registry, running).stop()
        service(app.registry, IServers).dispose()
        tenancy.servers.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text("DROP DATABASE tls_app WITH (FORCE)"))
        admin.dispose()
