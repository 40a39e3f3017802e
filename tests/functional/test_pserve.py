"""The README's run command: ``pserve development.ini`` on a fresh machine, embedded PostgreSQL."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PSERVE = Path(sys.executable).with_name("pserve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:  # noqa: S310 - loopback
            return json.load(r)

    def post(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as r:  # noqa: S310 - loopback
            return json.load(r)


@pytest.fixture
def project(tmp_path):
    shutil.copy(ROOT / "development.ini", tmp_path / "development.ini")
    return tmp_path


def test_pserve_starts_on_embedded_postgres_with_demo_tenants_and_keeps_data(project):
    ini = project / "development.ini"
    server = Pserve(ini, free_port()).start()
    try:
        assert server.get("/acme")["slug"] == "acme"
        assert server.get("/globex")["slug"] == "globex"
        server.post("/acme/users", {"email": "kept@acme.example", "name": "Kept"})
        assert server.get("/globex/users")["items"] == []
    finally:
        assert server.stop() == 0
    pgdata = project / "var" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "embedded PostgreSQL left running"

    again = Pserve(ini, free_port()).start()
    try:
        assert [u["email"] for u in again.get("/acme/users")["items"]] == ["kept@acme.example"]
    finally:
        assert again.stop() == 0
