"""A rollout under load: the old and the new version of an app built on tenantapp serve at
once while ``migrate --expand`` runs over every tenant, then ``--contract`` once the old one
has stopped (``tenantapp.lifecycle.phases``). Per mode:

    python -m bench.rollout [--tenants 1000] [--mode M]... [--connections 8] [--database-url URL]

The app is ``tests/lifecycle/rollout`` (notes whose ``body`` becomes ``text``). Two ``pserve``
processes (the shipped server), one per version, on one throwaway database of ``--tenants``
tenants made by the old version; ``wrk`` (keep-alive) writes notes through both, in runs of a
few seconds: before the rollout, while ``migrate --expand`` runs, and (the new version alone)
while ``migrate --contract`` runs. Printed per phase: writes a second through each version, p99,
answers that were not 2xx, socket errors; and at the end the writes acknowledged against the
notes in the database (lost: the difference). Each process's share of a server's connections
for tenant databases is set to 8 (``tenantapp.database_mode.max_connections``); the embedded
server starts with room for 400.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from tenantapp.lifecycle import migrations
from tenantapp.throwaway import TEST_KEYS

from .database import throwaway_database
from .dataset import make_tenants
from .loadgen import find_wrk, run_wrk
from .serving import ROOT, Server, free_port

APP = ROOT / "tests" / "lifecycle" / "rollout"
ADMIN = Path(sys.executable).with_name("tenantapp-admin")
PSERVE = Path(sys.executable).with_name("pserve")
CHUNK_SECONDS = 3
LOGGING = """
[loggers]
keys = root, waitress, queue
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARN
handlers = console
[logger_waitress]
level = INFO
handlers =
qualname = waitress
[logger_queue]
level = ERROR
handlers =
qualname = waitress.queue
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic
[formatter_generic]
format = %(levelname)s [%(name)s] %(message)s
"""


def versions(folder: Path, names: list[str]) -> Path:
    """A directory of the app's tenant revisions, the first after tenantapp's head."""
    made = folder / "-".join(names)
    made.mkdir()
    migrations.use_tenant_versions([])  # tenantapp's own head, whatever this process set up
    head = migrations.head_revision("tenant")
    for name in names:
        source = (APP / "migrations" / f"{name}.py").read_text()
        (made / f"{name}.py").write_text(source.replace("{down}", head))
    return made


def write_ini(path: Path, url: str, version: str, revisions: Path, mode: str) -> Path:
    """The app of ``version`` (``"1"`` or ``"2"``) with its revisions, under the shipped
    server on 127.0.0.1 (``http_port`` given to pserve)."""
    settings = {
        "sqlalchemy.url": url,
        "tenantapp.embedded_database": "false",
        "tenantapp.default_mode": mode,
        "tenantapp.migrations.tenant_versions": str(revisions),
        "pyramid.includes": "tests.lifecycle.rollout.notes",
        "rollout.version": version,
        # two processes, each with a listener per tenant database, and migrate's workers:
        # each process's share of a server's tenant connections, sized
        "tenantapp.database_mode.max_connections": "8",
        **TEST_KEYS,
    }
    lines = ["[app:main]", "use = egg:tenantapp"]
    lines += [f"{k} = {v.replace('%', '%%')}" for k, v in settings.items()]
    lines += ["[server:main]", "use = egg:tenantapp#main", "listen = 127.0.0.1:%(http_port)s"]
    lines += ["threads = 8", LOGGING]
    path.write_text("\n".join(lines) + "\n")
    return path


def admin(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ADMIN), str(config), *args],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
        env=app_env(),
    )


def app_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Writer(threading.Thread):
    """wrk runs of CHUNK_SECONDS against one server until stopped; the figures kept."""

    def __init__(self, wrk: str, url: str, targets: Path, connections: int):
        super().__init__(daemon=True)
        self.wrk, self.url, self.targets, self.connections = wrk, url, targets, connections
        self.runs: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.runs.append(
                run_wrk(
                    self.wrk,
                    self.url,
                    self.targets,
                    "notes",
                    1,
                    CHUNK_SECONDS,
                    self.connections,
                    failures_ok=True,
                )
            )

    def halt(self) -> dict:
        self.stop.set()
        self.join()
        return summary(self.runs)


def summary(runs: list[dict]) -> dict:
    seconds = len(runs) * CHUNK_SECONDS
    return {
        "writes": sum(r["requests"] - r["non2xx"] for r in runs),
        "per_second": sum(r["requests"] for r in runs) / max(seconds, 1),
        "p99_ms": max((r["p99_ms"] for r in runs), default=0.0),
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
    }


def under_load(wrk, servers: dict, targets: Path, connections: int, work) -> tuple[dict, object]:
    """Run ``work()`` while every server in ``servers`` takes writes; the figures per server."""
    writers = {name: Writer(wrk, url, targets, connections) for name, url in servers.items()}
    for writer in writers.values():
        writer.start()
    time.sleep(CHUNK_SECONDS)  # load first, so the work starts under it
    try:
        result = work()
    finally:
        figures = {name: writer.halt() for name, writer in writers.items()}
    return figures, result


def notes_in(url: str, mode: str, schemas: list[str]) -> int:
    """Every tenant's notes, counted in the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if mode == "shared":
                return connection.scalar(text("SELECT count(*) FROM tenant_shared.notes"))
            if mode == "schema":
                return sum(
                    connection.scalar(text(f'SELECT count(*) FROM "{schema}".notes'))
                    for schema in schemas
                )
    finally:
        engine.dispose()
    total, base = 0, make_url(url)
    for schema in schemas:  # database mode: a database each, named <db>_t<id>
        name = f"{base.database}_t{schema.removeprefix('tenant_')}"
        tenant = create_engine(base.set(database=name))
        try:
            with tenant.connect() as connection:
                total += connection.scalar(text(f'SELECT count(*) FROM "{schema}".notes'))
        finally:
            tenant.dispose()
    return total


def rollout(args, wrk: str, mode: str, count: int) -> None:
    with (
        throwaway_database(args.database_url, max_connections=400) as url,
        tempfile.TemporaryDirectory() as scratch,
    ):
        folder = Path(scratch)
        old_revisions = versions(folder, ["notes1"])
        new_revisions = versions(folder, ["notes1", "notes2", "notes3"])
        old_ini = write_ini(folder / "v1.ini", url, "1", old_revisions, mode)
        new_ini = write_ini(folder / "v2.ini", url, "2", new_revisions, mode)
        engine = create_engine(url)
        settings = {"tenantapp.migrations.tenant_versions": str(old_revisions)}
        started = time.perf_counter()
        made = make_tenants(engine, count, 1, mode=mode, prefix="r", settings=settings)
        engine.dispose()
        print(
            f"{mode}: {count:,} tenants made in {time.perf_counter() - started:.0f} s", flush=True
        )
        targets = folder / "targets.txt"
        targets.write_text("".join(f"{t.prefix} {t.token}\n" for t in made))
        servers = {}
        for name, config in (("old", old_ini), ("new", new_ini)):
            port = free_port()
            argv = [str(PSERVE), str(config), f"http_port={port}"]
            servers[name] = Server(name, argv, app_env(), port, folder / f"{name}.log").start()
        try:
            urls = {name: server.url for name, server in servers.items()}
            before, _ = under_load(wrk, urls, targets, args.connections, lambda: None)
            report("before", before)

            def expand():
                began = time.perf_counter()
                done = admin(new_ini, "migrate", "--expand")
                return done, time.perf_counter() - began

            during, (done, seconds) = under_load(wrk, urls, targets, args.connections, expand)
            if done.returncode != 0:
                raise SystemExit(f"migrate --expand failed:\n{done.stdout}{done.stderr}")
            print(f"  migrate --expand: {seconds:.1f} s; {done.stdout.strip().splitlines()[-1]}")
            report("during --expand", during)
            refused = admin(new_ini, "migrate", "--contract")
            print(f"  --contract with the old version serving: exit {refused.returncode}")
            servers["old"].stop()
            while "notes1" in alive_heads(url):  # its heartbeat ages out (it was terminated)
                time.sleep(0.5)

            def contract():
                began = time.perf_counter()
                done = admin(new_ini, "migrate", "--contract")
                return done, time.perf_counter() - began

            after, (done, seconds) = under_load(
                wrk, {"new": urls["new"]}, targets, args.connections, contract
            )
            if done.returncode != 0:
                raise SystemExit(f"migrate --contract failed:\n{done.stdout}{done.stderr}")
            print(f"  migrate --contract: {seconds:.1f} s")
            report("during --contract", after)
            acknowledged = sum(
                f["writes"] for phase in (before, during, after) for f in phase.values()
            )
            found = notes_in(url, mode, [t.schema for t in made])
            missing = max(0, acknowledged - found)
            print(
                f"  writes acknowledged {acknowledged:,}, notes found {found:,}: lost {missing:,}"
                f" ({max(0, found - acknowledged):,} more were committed as wrk stopped counting)"
            )
        finally:
            for server in servers.values():
                server.stop()


def alive_heads(url: str) -> list:
    from tenantapp.lifecycle.phases import ALIVE, HEARTBEAT_WINDOW

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [head for _, head in connection.execute(ALIVE, {"window": HEARTBEAT_WINDOW})]
    finally:
        engine.dispose()


def report(phase: str, figures: dict) -> None:
    for name, f in figures.items():
        print(
            f"  {phase:<18} {name}: {f['per_second']:7.0f} writes/s, p99 {f['p99_ms']:6.1f} ms,"
            f" not 2xx {f['non2xx']}, socket errors {f['socket_errors']}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--mode", action="append", choices=("schema", "shared", "database"))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    wrk = find_wrk()
    for mode in args.mode or ("schema", "shared", "database"):
        rollout(args, wrk, mode, args.tenants)


if __name__ == "__main__":
    main()
