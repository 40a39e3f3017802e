"""The README's run command: ``pserve development.ini`` on a fresh machine, embedded PostgreSQL."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # processes, servers or a browser of their own

ROOT = Path(__file__).resolve().parents[2]
PSERVE = Path(sys.executable).with_name("pserve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hang_up_as_a_terminal_would() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Pserve:
    """pserve in a child process; ``start`` returns once waitress says it is serving."""

    def __init__(self, ini: Path, port: int):
        env = {k: v for k, v in os.environ.items() if k != "TENANTAPP_DATABASE_URL"}
        self.url = f"http://127.0.0.1:{port}"
        self.log: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(  # noqa: S603 - our own pserve
            [str(PSERVE), str(ini), f"http_port={port}"],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ini.parent,
            # as from a terminal, whatever this run inherited (nohup ignores SIGHUP)
            preexec_fn=_hang_up_as_a_terminal_would,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stderr:
            self.log.append(line)
            if "Serving on" in line:
                self.ready.set()
        self.ready.set()  # exited: let the waiter see it

    def start(self) -> "Pserve":
        assert self.ready.wait(120), "pserve did not start"
        assert self.process.poll() is None, "".join(self.log)
        assert f"Serving on {self.url}" in "".join(self.log)
        return self

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(timeout=60)

    def call(self, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data, headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
            return json.load(r)

    def login(self, slug: str) -> str:
        """The demo login that README shows."""
        body = {"email": f"owner@{slug}.example", "password": "tenantapp-demo"}
        return self.call(f"/{slug}/tokens", body)["token"]


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "development.ini", tmp_path / "development.ini")
    return tmp_path


def test_pserve_starts_on_embedded_postgres_with_demo_tenants_and_keeps_data(project):
    ini = project / "development.ini"
    server = Pserve(ini, free_port()).start()
    try:
        acme, globex = server.login("acme"), server.login("globex")
        assert server.call("/acme", token=acme)["slug"] == "acme"
        assert server.call("/globex", token=globex)["slug"] == "globex"
        server.call("/acme/users", {"email": "kept@acme.example", "name": "Kept"}, acme)
        users = server.call("/globex/users", token=globex)["items"]
        assert [u["email"] for u in users] == ["owner@globex.example"]
    finally:
        assert server.stop() == 0
    pgdata = project / "var" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "embedded PostgreSQL left running"

    again = Pserve(ini, free_port()).start()
    try:
        users = again.call("/acme/users", token=again.login("acme"))["items"]
        assert [u["email"] for u in users] == ["owner@acme.example", "kept@acme.example"]
    finally:
        assert again.stop() == 0


def test_a_closed_terminal_stops_the_embedded_server_too(project):
    """SIGHUP, as when the terminal running pserve is closed."""
    server = Pserve(project / "development.ini", free_port()).start()
    server.process.send_signal(signal.SIGHUP)
    try:
        assert server.process.wait(timeout=60) == 0
    finally:
        if server.process.poll() is None:  # never leave it running
            server.process.kill()
            server.process.wait(timeout=60)
    assert not (project / "var" / "pgdata" / "postmaster.pid").exists()
    log = "".join(server.log)
    assert "Traceback" not in log
    assert "WARN" not in log


def test_a_server_left_by_a_killed_pserve_is_stopped_by_the_next_one(project):
    ini = project / "development.ini"
    killed = Pserve(ini, free_port()).start()
    killed.process.kill()
    killed.process.wait(timeout=60)
    postmaster = project / "var" / "pgdata" / "postmaster.pid"
    assert postmaster.exists()  # nothing can stop it from inside a SIGKILL

    again = Pserve(ini, free_port()).start()
    assert again.call("/-/ready")["status"] == "ready"
    assert again.stop() == 0
    assert not postmaster.exists()
