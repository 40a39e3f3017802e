"""Expand and contract (``lifecycle.phases``): the old and the new version of an app built on
tenantapp serve at once from one database, under load, while ``migrate --expand`` runs over
every tenant (1,000 in schema and shared mode, 100 in database mode); ``--contract`` is refused
while the old version serves, and runs once it has stopped. No answer is a 5xx, and no
acknowledged write is lost.

The app (``rollout/notes.py``) keeps notes; its version 2 renames ``body`` to ``text`` by an
expand revision (``text`` beside ``body``, a trigger keeping them in step) and a contract one
(``body`` dropped). Each version runs in a process of its own (``pserve``, the shipped server),
each with its own tenant revisions (``tenantapp.migrations.tenant_versions``), on a database of
their own."""

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from bench.rollout import admin, alive_heads, versions, write_ini
from tenantapp.lifecycle import migrations, phases
from tenantapp.throwaway import throwaway_database
from tests.conftest import TEST_MODE
from tests.server.test_pserve import Pserve, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.slow  # servers of their own, and a thousand tenants

ROOT = Path(__file__).parents[2]
# database mode: a database each (1,000 take about 7.5 GB and five minutes of the suite's time;
# bench.rollout runs 1,000)
TENANTS = int(
    os.environ.get("TENANTAPP_TEST_ROLLOUT_TENANTS", 100 if TEST_MODE == "database" else 1000)
)
THREADS = 6


@pytest.fixture(autouse=True)
def app_on_path(monkeypatch):
    """The app's module (``rollout.notes``) importable by the servers started here."""
    path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, path)))


def make_tenants(url: str, folder: Path, count: int) -> list[dict]:
    """``count`` tenants made by version 1 (its migrate first), each with an owner token."""
    script = textwrap.dedent(f"""\
        import json
        from sqlalchemy import create_engine
        from bench.dataset import make_tenants
        engine = create_engine({url!r})
        settings = {{"tenantapp.migrations.tenant_versions": {str(folder)!r}}}
        made = make_tenants(engine, {count}, 1, mode={TEST_MODE!r}, prefix="r", settings=settings)
        print(json.dumps([[t.prefix, t.token, t.schema] for t in made]))
        """)
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
        check=True,
    )
    made = json.loads(done.stdout.splitlines()[-1])
    return [{"prefix": p, "token": t, "schema": s} for p, t, s in made]


def index_is_valid(url: str, schema: str, name: str) -> bool | None:
    """Whether ``schema`` (a tenant's; the pooled one in shared mode) has index ``name``
    valid (None: none)."""
    if TEST_MODE == "database":
        url = f"{url}_t{schema.removeprefix('tenant_')}"
    elif TEST_MODE == "shared":
        schema = "tenant_shared"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                text(
                    "SELECT x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                    " JOIN pg_namespace n ON n.oid = i.relnamespace"
                    " WHERE n.nspname = :schema AND i.relname = :name"
                ),
                {"schema": schema, "name": name},
            )
    finally:
        engine.dispose()


class Load:
    """Threads writing and reading notes through both versions, every answer kept."""

    def __init__(self, tenants: list[dict]):
        self.tenants = tenants
        self.servers: list[str] = []
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self.written: dict[str, list[str]] = defaultdict(list)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, servers: list[str]) -> "Load":
        self.servers, self.stop = servers, threading.Event()
        self.threads = [
            threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(THREADS)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def run(self, n: int) -> None:
        session, rng, i = requests.Session(), random.Random(n), 0  # keep-alive, as proxies
        while not self.stop.is_set():
            i += 1
            tenant = rng.choice(self.tenants)
            server = self.servers[i % len(self.servers)]
            headers = {"Authorization": f"Bearer {tenant['token']}"}
            note = f"{n}-{i}-{server[-5:]}"
            url = f"{server}{tenant['prefix']}/notes"
            try:
                answer = session.post(url, json={"note": note}, headers=headers, timeout=60)
                read = session.get(url, headers=headers, timeout=60) if i % 4 == 0 else None
            except requests.RequestException as error:
                with self.lock:
                    self.failures.append(f"{url}: {error}")
                continue
            with self.lock:
                self.statuses[answer.status_code] += 1
                if answer.status_code == 201:
                    self.written[tenant["prefix"]].append(note)
                else:
                    self.failures.append(f"{url}: {answer.status_code} {answer.text[:200]}")
                if read is not None:
                    self.statuses[read.status_code] += 1
                    if read.status_code != 200:
                        self.failures.append(f"GET {url}: {read.status_code} {read.text[:200]}")

    def writes(self) -> int:
        with self.lock:
            return sum(len(notes) for notes in self.written.values())


def test_two_versions_serve_while_expand_runs_and_contract_waits_for_the_old_to_stop(
    server_url, tmp_path
):
    old_versions = versions(tmp_path, ["notes1"])
    new_versions = versions(tmp_path, ["notes1", "notes2", "notes3"])
    with throwaway_database(server_url) as url:
        old_ini = write_ini(tmp_path / "v1.ini", url, "1", old_versions, TEST_MODE)
        new_ini = write_ini(tmp_path / "v2.ini", url, "2", new_versions, TEST_MODE)
        tenants = make_tenants(url, old_versions, TENANTS)
        assert len(tenants) == TENANTS
        old = Pserve(old_ini, free_port()).start()
        new = Pserve(new_ini, free_port()).start()
        load = Load(tenants)
        try:
            load.start([old.url, new.url])
            wait_for(lambda: load.writes() >= 50, limit=120)
            expanded = admin(new_ini, "migrate", "--expand")
            assert expanded.returncode == 0, expanded.stdout + expanded.stderr
            assert (
                f"{TENANTS if TEST_MODE != 'shared' else 0} migrated, 0 failed" in expanded.stdout
            )
            # the revision's index, built concurrently after its transaction, on every tenant
            assert all(index_is_valid(url, t["schema"], "notes_text") for t in tenants[:5])
            written_during = load.writes()
            wait_for(lambda: load.writes() >= written_during + 50, limit=120)  # both, expanded

            refused = admin(new_ini, "migrate", "--contract")
            assert refused.returncode == 1
            assert "notes3" in refused.stderr and "older version still serve" in refused.stderr
            assert "notes1" in refused.stderr  # the old process, by its code's head

            load.halt()
            old.stop()  # SIGTERM: its heartbeat row ages out within the window
            wait_for(lambda: "notes1" not in alive_heads(url), limit=30)
            load.start([new.url])
            contracted = admin(new_ini, "migrate", "--contract")
            assert contracted.returncode == 0, contracted.stdout + contracted.stderr
            written_after = load.writes()
            wait_for(lambda: load.writes() >= written_after + 50, limit=120)  # on the new shape
            load.halt()

            assert load.failures == [], "".join(old.log[-40:] + new.log[-40:])
            assert set(load.statuses) <= {200, 201}, load.statuses
            # every acknowledged note is there, read through the new version on the new shape
            for tenant in tenants:
                if tenant["prefix"] not in load.written:
                    continue
                listed = requests.get(
                    f"{new.url}{tenant['prefix']}/notes",
                    headers={"Authorization": f"Bearer {tenant['token']}"},
                    timeout=60,
                ).json()["items"]
                assert sorted(listed) == sorted(load.written[tenant["prefix"]])
        finally:
            load.halt()
            for server in (old, new):
                if server.process.poll() is None:
                    server.stop()
            drop = admin(new_ini, "list-tenants", "--json")
            assert drop.returncode == 0


def test_an_expand_step_that_is_not_additive_is_refused_with_the_reason():
    sql = """
    ALTER TABLE notes ADD COLUMN text text;
    ALTER TABLE notes ALTER COLUMN body TYPE varchar(10);
    ALTER TABLE notes ADD COLUMN n int NOT NULL;
    ALTER TABLE notes ADD COLUMN m int NOT NULL DEFAULT 0;
    CREATE INDEX notes_body ON notes (body);
    CREATE INDEX CONCURRENTLY notes_text ON notes (text);
    ALTER TABLE notes RENAME COLUMN body TO words;
    ALTER TABLE notes DROP COLUMN body;
    ALTER TABLE notes ALTER COLUMN body SET NOT NULL;
    ALTER TABLE notes ADD CONSTRAINT short CHECK (length(text) < 10);
    ALTER TABLE notes ADD CONSTRAINT short2 CHECK (length(text) < 10) NOT VALID;
    DROP TABLE notes;
    CREATE TABLE fresh (id int);
    CREATE INDEX fresh_id ON fresh (id);
    ALTER TABLE fresh ALTER COLUMN id TYPE bigint;
    """
    found = phases.refusals(sql)
    refused = {statement: reason for statement, reason in found}
    assert set(refused) == {
        "ALTER TABLE notes ALTER COLUMN body TYPE varchar(10)",
        "ALTER TABLE notes ADD COLUMN n int NOT NULL",
        "CREATE INDEX notes_body ON notes (body)",
        "ALTER TABLE notes RENAME COLUMN body TO words",
        "ALTER TABLE notes DROP COLUMN body",
        "ALTER TABLE notes ALTER COLUMN body SET NOT NULL",
        "ALTER TABLE notes ADD CONSTRAINT short CHECK (length(text) < 10)",
        "DROP TABLE notes",
        "CREATE INDEX CONCURRENTLY notes_text ON notes (text)",  # not in a transaction
    }
    assert (
        "changes a column's type" in refused["ALTER TABLE notes ALTER COLUMN body TYPE varchar(10)"]
    )
    assert "CONCURRENTLY" in refused["CREATE INDEX notes_body ON notes (body)"]
    assert (
        "NOT VALID" in refused["ALTER TABLE notes ADD CONSTRAINT short CHECK (length(text) < 10)"]
    )


def test_migrate_expand_refuses_a_revision_that_is_not_additive_before_touching_anything(
    server_url, tmp_path
):
    folder = versions(tmp_path, ["notes1", "notes2"])
    bad = (
        (folder / "notes2.py")
        .read_text()
        .replace(
            "ALTER TABLE notes ADD COLUMN text text;",
            "ALTER TABLE notes ADD COLUMN text text;"
            " ALTER TABLE notes ALTER COLUMN body TYPE varchar(10);",
        )
    )
    (folder / "notes2.py").write_text(bad)
    with throwaway_database(server_url) as url:
        config = write_ini(tmp_path / "bad.ini", url, "2", folder, TEST_MODE)
        refused = admin(config, "migrate", "--expand")
        assert refused.returncode == 1
        assert "notes2: changes a column's type" in refused.stderr
        engine = create_engine(url)
        try:
            with engine.connect() as connection:  # nothing was migrated, not even the registry
                assert connection.scalar(text("SELECT to_regclass('tenantapp.tenants')")) is None
        finally:
            engine.dispose()


def test_an_expand_target_stops_before_the_first_contract_revision(tmp_path):
    folder = versions(tmp_path, ["notes1", "notes2", "notes3"])
    head = migrations.head_revision("tenant")
    try:
        migrations.use_tenant_versions([str(folder)])
        assert migrations.expand_target("tenant", head) == "notes2"
        assert migrations.expand_target("tenant", "notes2") is None
        assert migrations.expand_target("tenant", "notes3") is None
        assert migrations.phase("tenant", "notes3") == "contract"
        assert migrations.after("tenant", head, "notes3") == ["notes1", "notes2", "notes3"]
    finally:
        migrations.use_tenant_versions([])
    assert migrations.head_revision("tenant") == head
