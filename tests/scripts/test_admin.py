"""tenantapp-admin: the operator's commands, and all-or-nothing tenant creation."""

import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantapp.lifecycle import migrations, templates
from tenantapp.scripts.admin import main as admin
from tests.caching.test_caching import LOGGING
from tests.conftest import TEST_MODE, write_ini


@pytest.fixture
def slug(fresh_slug):
    return fresh_slug


def tenant_schemas(engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.scalars(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")
            )
        )


def registry_slugs(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(sa.text("SELECT slug FROM tenantapp.tenants")))


def columns(line: str) -> list[str]:
    """A list-tenants row's cells: columns are two spaces apart at least, no cell has two."""
    return re.split(r"\s{2,}", line.strip())


def test_create_then_list_shows_the_tenant_at_head(config_uri, slug, capsys):
    assert admin([config_uri, "create-tenant", slug, "--name", "Cli Corp"]) == 0
    assert f"created tenant {slug}" in capsys.readouterr().out
    assert admin([config_uri, "list-tenants"]) == 0
    lines = capsys.readouterr().out.splitlines()
    line = next(x for x in lines if x.startswith(slug + " "))
    name, status, mode, server, revision, size, migration, display = columns(line)
    assert (mode, server) == (TEST_MODE, "default")
    assert (name, status, revision, migration, display) == (
        slug,
        "active",
        migrations.head_revision("tenant"),
        "ok",
        "Cli Corp",
    )
    # its own schema or database takes room at once; a shared tenant, only its rows (none yet)
    kilobytes = int(size.removesuffix(" kB").replace(",", ""))
    assert size.endswith(" kB") and (kilobytes > 0) == (TEST_MODE != "shared")


@pytest.mark.parametrize("bad", ["Bad", "1abc", "a_b", "x" * 64, "a;drop"])
def test_create_refuses_bad_slugs_clearly(config_uri, engine, capsys, bad):
    before = tenant_schemas(engine)
    assert admin([config_uri, "create-tenant", bad]) == 1
    assert "lowercase letters, digits and hyphens" in capsys.readouterr().err
    assert tenant_schemas(engine) == before
    assert bad not in registry_slugs(engine)


def test_create_refuses_a_taken_slug_and_leaves_no_schema(config_uri, engine, slug, capsys):
    assert admin([config_uri, "create-tenant", slug]) == 0
    before = tenant_schemas(engine)
    assert admin([config_uri, "create-tenant", slug]) == 1
    assert "already exists" in capsys.readouterr().err
    assert tenant_schemas(engine) == before


@pytest.mark.parametrize("use_template", [True, False])
def test_a_failure_midway_leaves_no_row_and_no_schema(
    engine, slug, monkeypatch, use_template, tenancy
):
    def failing(original):
        def step(*args, **kwargs):
            original(*args, **kwargs)  # the tables exist now, uncommitted
            raise RuntimeError("disk on fire")

        return step

    before = tenant_schemas(engine)
    monkeypatch.setattr(migrations, "upgrade_tenant", failing(migrations.upgrade_tenant))
    monkeypatch.setattr(templates, "apply_template", failing(templates.apply_template))
    with pytest.raises(RuntimeError, match="disk on fire"):
        tenancy.create_tenant(slug, use_template=use_template, mode="schema")
    assert tenant_schemas(engine) == before
    assert slug not in registry_slugs(engine)


def test_a_process_killed_midway_leaves_no_row_and_no_schema(database_url, engine, slug, tenancy):
    script = textwrap.dedent(f"""\
        import sys
        from tests.conftest import tenancy_for
        from tenantapp.lifecycle import provisioning, templates

        apply = templates.apply_template

        def stall(connection, ddl, schema, revision):
            apply(connection, ddl, schema, revision)
            print(schema, flush=True)
            sys.stdin.readline()  # wait here, tables created, until killed

        templates.apply_template = stall
        tenancy = tenancy_for({{"sqlalchemy.url": {database_url!r}}})
        tenancy.create_tenant({slug!r}, mode="schema")
        """)
    before = tenant_schemas(engine)
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    schema = child.stdout.readline().strip()
    assert schema.startswith("tenant_")
    child.kill()
    child.wait()
    assert tenant_schemas(engine) == before
    assert slug not in registry_slugs(engine)
    # the slug is free again once the dead transaction is gone
    info, _ = tenancy.create_tenant(slug, mode="schema")
    assert info.schema_name != schema
    assert tenant_schemas(engine) == before | {info.schema_name}


def test_drop_archives_restorably_and_purge_removes_for_good(
    config_uri, engine, slug, capsys, tenancy
):
    admin([config_uri, "create-tenant", slug, "--mode", "schema"])  # archived: renamed
    schema = tenancy.get_tenant(slug).schema_name
    assert admin([config_uri, "drop-tenant", slug]) == 1
    assert "--yes" in capsys.readouterr().err
    assert admin([config_uri, "drop-tenant", slug, "--yes"]) == 0
    archived = tenancy.get_tenant(slug)
    assert archived.status == "deleted"
    assert archived.schema_name == schema + "_archived"
    assert schema not in tenant_schemas(engine)
    assert admin([config_uri, "restore-tenant", slug]) == 0
    assert tenancy.get_tenant(slug).schema_name == schema
    assert admin([config_uri, "purge-tenant", slug]) == 1
    assert admin([config_uri, "drop-tenant", slug, "--purge", "--yes"]) == 0
    assert slug not in registry_slugs(engine)
    assert schema not in tenant_schemas(engine)
    assert admin([config_uri, "purge-tenant", slug, "--yes"]) == 1
    assert "no active or suspended or deleted tenant" in capsys.readouterr().err


@pytest.mark.slow
def test_migrate_brings_a_tenant_that_is_behind_to_head(
    config_uri, engine, schema_tenant, capsys, tenancy
):
    tenant = schema_tenant
    head = migrations.head_revision("tenant")
    assert admin([config_uri, "migrate", "--tenant", tenant.slug, "--downgrade", "t001"]) == 0
    assert "1 migrated, 0 failed" in capsys.readouterr().out
    with engine.connect() as connection:
        assert migrations.current_revision(connection, "tenant", tenant.schema_name) == "t001"
    assert tenancy.get_tenant(tenant.slug).revision == "t001"
    assert admin([config_uri, "migrate"]) == 0
    assert "1 migrated, 0 failed" in capsys.readouterr().out
    with engine.connect() as connection:
        assert migrations.current_revision(connection, "tenant", tenant.schema_name) == head
        assert sa.inspect(connection).has_table("tokens", schema=tenant.schema_name)
    assert admin([config_uri, "migrate"]) == 0
    assert "0 migrated, 0 failed" in capsys.readouterr().out


def test_commands_on_an_unmigrated_database_say_to_migrate(server_url, tmp_path, capsys):
    name = f"tenantapp_empty_{uuid.uuid4().hex[:8]}"
    base = sa.engine.make_url(server_url).set(drivername="postgresql+psycopg")
    root = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with root.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        ini = write_ini(tmp_path / "empty.ini", url)
        assert admin([ini, "create-tenant", "acme"]) == 1
        assert "tenantapp-admin CONFIG_URI migrate" in capsys.readouterr().err
        assert admin([ini, "migrate"]) == 0
        assert admin([ini, "create-tenant", "acme"]) == 0
    finally:
        with root.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        root.dispose()


def test_create_with_an_owner_prints_a_one_time_password_that_logs_in(
    config_uri, slug, testapp, capsys
):
    email = f"first@{slug}.example"
    assert admin([config_uri, "create-tenant", slug, "--owner-email", email]) == 0
    out = capsys.readouterr().out
    password = out.split("one-time password: ")[1].strip()
    assert len(password) >= 12
    token = testapp.post_json(
        f"/{slug}/tokens", {"email": email, "password": password}, status=201
    ).json["token"]
    users = testapp.get(f"/{slug}/users", headers={"Authorization": f"Bearer {token}"}).json
    assert [(u["email"], u["role"]) for u in users["items"]] == [(email, "owner")]


def test_suspend_and_resume_from_the_cli(config_uri, tenant, testapp, capsys):
    assert admin([config_uri, "suspend", tenant.slug]) == 0
    response = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=403)
    assert response.json["error"] == "tenant_suspended"
    assert admin([config_uri, "list-tenants"]) == 0
    row = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(tenant.slug + " "))
    assert columns(row)[1] == "suspended"
    assert admin([config_uri, "resume", tenant.slug]) == 0
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    assert admin([config_uri, "suspend", "no-such-tenant"]) == 1


# test_caching's logging (INFO to stderr), naming each line's level
LOGGING_AT_INFO = LOGGING.replace("format = %(message)s", "format = %(levelname)s %(message)s")


def test_a_command_says_what_it_did_and_nothing_else(tmp_path, settings, tenant, capsys):
    """An ini that logs INFO (as development.ini does) buries no result under log lines, unless
    asked with --verbose; the table's columns line up."""
    ini = tmp_path / "info.ini"
    base = write_ini(tmp_path / "base.ini", settings["sqlalchemy.url"], settings)
    ini.write_text(Path(base).read_text() + LOGGING_AT_INFO)
    assert admin([str(ini), "list-tenants"]) == 0
    out, err = capsys.readouterr()
    assert "INFO" not in err
    lines = out.splitlines()
    column = lines[0].index("status")
    assert all(line[column - 2 : column] == "  " for line in lines)  # every row: the same place
    assert any(line.startswith(tenant.slug + " ") for line in lines)
    assert admin([str(ini), "-v", "list-tenants"]) == 0
    assert "INFO" in capsys.readouterr().err


def test_forgetting_the_ini_is_named(capsys):
    with pytest.raises(SystemExit):
        admin(["list-tenants"])
    assert "the ini comes first" in capsys.readouterr().err


def test_long_commands_say_how_far_they_are(config_uri, tenant, tmp_path, capsys, fresh_slug):
    archive = tmp_path / "t.zip"
    assert admin([config_uri, "export-tenant", tenant.slug, str(archive)]) == 0
    assert "users: 1 row(s) exported" in capsys.readouterr().err
    assert admin([config_uri, "import-tenant", str(archive), "--as", fresh_slug]) == 0
    assert "users: 1 row(s) imported" in capsys.readouterr().err


def test_each_command_says_what_it_does(capsys):
    with pytest.raises(SystemExit):
        admin(["x.ini", "move-tenant", "--help"])
    text = capsys.readouterr().out
    assert "move a tenant to another mode or server" in text
    assert "the tenant's slug" in text
