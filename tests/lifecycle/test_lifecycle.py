"""Tenant lifecycle at scale: template provisioning, parallel migrations, states."""

import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
import webtest

from tenantapp import main
from tenantapp.interfaces import IServers, service
from tenantapp.lifecycle import migrating, migrations, templates
from tenantapp.scripts.admin import main as admin


def catalog(engine, schema: str) -> dict:
    """Everything that makes a schema what it is, with its own name replaced by S."""
    queries = {
        "tables": "SELECT table_name FROM information_schema.tables WHERE table_schema = :s",
        "columns": """
            SELECT table_name, column_name, ordinal_position, data_type,
                   character_maximum_length, is_nullable, column_default, is_identity,
                   identity_generation, identity_start, identity_increment, identity_maximum,
                   identity_minimum, identity_cycle
            FROM information_schema.columns WHERE table_schema = :s""",
        "constraints": """
            SELECT c.conrelid::regclass::text, c.conname, c.contype,
                   pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = :s""",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s",
        "sequences": """
            SELECT sequence_name, data_type, start_value, minimum_value, maximum_value,
                   increment, cycle_option
            FROM information_schema.sequences WHERE sequence_schema = :s""",
        "owned_sequences": """
            SELECT s.relname, d.refobjid::regclass::text, d.deptype
            FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
            JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                            AND d.refclassid = 'pg_class'::regclass
            WHERE n.nspname = :s AND s.relkind = 'S'""",
    }
    result = {}
    with engine.connect() as connection:
        for name, query in queries.items():
            rows = connection.execute(sa.text(query), {"s": schema}).all()
            result[name] = sorted(
                tuple(str(v).replace(f"{schema}.", "S.") for v in row) for row in rows
            )
        result["revision"] = migrations.current_revision(connection, "tenant", schema)
    return result


def test_a_template_made_schema_is_identical_to_a_migrated_one(engine, fresh_slug, tenancy):
    with engine.connect() as connection:
        ddl = templates.template_ddl(connection, migrations.head_revision("tenant"))
    assert ddl is not None, "migrate captured no template"
    cloned, _ = tenancy.create_tenant(fresh_slug, mode="schema")
    other = f"{fresh_slug}-m"
    try:
        migrated, _ = tenancy.create_tenant(other, use_template=False, mode="schema")
        expected = catalog(engine, migrated.schema_name)
        assert expected["tables"] and expected["constraints"] and expected["indexes"]
        assert catalog(engine, cloned.schema_name) == expected
    finally:
        tenancy.purge_tenant(other)


def test_a_template_made_tenant_works_end_to_end(testapp, tenant, add_user):
    user = add_user(tenant.slug, "t@x.example", password="template password")
    token = testapp.post_json(
        f"/{tenant.slug}/tokens", {"email": "t@x.example", "password": "template password"}
    ).json["token"]
    me = testapp.get(
        f"/{tenant.slug}/users/{user['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert me.json["email"] == "t@x.example"


def downgrade_all(tenancy, slugs):
    report = tenancy.migrate(slugs=slugs, downgrade_to="t001")
    assert len(report.migrated) == len(slugs)


@pytest.mark.slow
def test_one_blocked_tenant_fails_alone_and_a_rerun_finishes_it(engine, make_tenant, tenancy):
    made = [make_tenant("mg", mode="schema") for _ in range(4)]
    slugs = [t.slug for t in made]
    downgrade_all(tenancy, slugs)
    blocked = made[1]
    blocker = engine.connect()
    blocker.exec_driver_sql(f'LOCK TABLE "{blocked.schema_name}".users IN ACCESS SHARE MODE')
    try:
        seen = []
        report = tenancy.migrate(
            slugs=slugs,
            workers=2,
            lock_timeout="100ms",
            progress=lambda outcome, done, failed, total: seen.append((done, failed, total)),
        )
    finally:
        blocker.rollback()
        blocker.close()
    assert sorted(o.slug for o in report.migrated) == sorted(set(slugs) - {blocked.slug})
    assert [o.slug for o in report.failed] == [blocked.slug]
    assert "lock" in report.failed[0].error.lower()
    assert seen[-1] == (4, 1, 4)
    info = tenancy.get_tenant(blocked.slug)
    assert (info.revision, info.migration_status) == ("t001", "failed")
    assert "lock" in info.last_error.lower()

    again = tenancy.migrate(slugs=slugs)
    assert [o.slug for o in again.migrated] == [blocked.slug]
    assert again.skipped == 3
    assert tenancy.get_tenant(blocked.slug).migration_status == "ok"


@pytest.mark.slow
def test_fail_fast_stops_the_run(engine, make_tenant, tenancy):
    made = [make_tenant("ff", mode="schema") for _ in range(4)]
    slugs = [t.slug for t in made]
    downgrade_all(tenancy, slugs)
    blocker = engine.connect()
    blocker.exec_driver_sql(f'LOCK TABLE "{made[0].schema_name}".users IN ACCESS SHARE MODE')
    try:
        report = tenancy.migrate(slugs=slugs, workers=1, fail_fast=True, lock_timeout="100ms")
    finally:
        blocker.rollback()
        blocker.close()
    assert [o.slug for o in report.failed] == [made[0].slug]
    assert len(report.migrated) <= 1  # at most the one a free worker had already begun
    tenancy.migrate(slugs=slugs)


def test_two_migrate_runs_cannot_overlap(engine, config_uri, capsys, tenancy):
    holder = engine.connect()
    holder.execute(sa.select(sa.func.pg_advisory_lock(migrating.LOCK_KEY)))
    try:
        with pytest.raises(migrating.MigrationLocked):
            tenancy.migrate()
        assert admin([config_uri, "migrate"]) == 1
        assert "another migrate run is in progress" in capsys.readouterr().err
    finally:
        holder.execute(sa.select(sa.func.pg_advisory_unlock(migrating.LOCK_KEY)))
        holder.close()


def test_sql_prints_the_migration_without_running_it(
    engine, config_uri, schema_tenant, capsys, tenancy
):
    tenant = schema_tenant
    downgrade_all(tenancy, [tenant.slug])
    assert admin([config_uri, "migrate", "--tenant", tenant.slug, "--sql"]) == 0
    sql = capsys.readouterr().out
    assert f"set_config('search_path', '{tenant.schema_name}', true)" in sql
    assert "CREATE TABLE tokens" in sql
    assert f"UPDATE {tenant.schema_name}.alembic_version SET version_num='t002'" in sql
    with engine.connect() as connection:
        assert migrations.current_revision(connection, "tenant", tenant.schema_name) == "t001"
    tenancy.migrate(slugs=[tenant.slug])


def test_sql_names_the_tenants_it_cannot_cover(config_uri, make_tenant, capsys, tenancy):
    """A tenant in a database of its own is migrated there, by migrate itself: the printed SQL
    (for the default server's database) says so rather than pretend to cover it."""
    tenant = make_tenant("sq", mode="database")
    downgrade_all(tenancy, [tenant.slug])
    assert admin([config_uri, "migrate", "--tenant", tenant.slug, "--sql"]) == 0
    sql = capsys.readouterr().out
    assert f"-- not here: {tenant.slug} (another server or database)" in sql
    assert "CREATE TABLE tokens" not in sql
    tenancy.migrate(slugs=[tenant.slug])


def test_unknown_tenants_are_named(engine, config_uri, capsys):
    assert admin([config_uri, "migrate", "--tenant", "no-such-one"]) == 1
    assert "no-such-one" in capsys.readouterr().err


def test_a_request_to_a_tenant_locked_by_a_migration_gets_503(settings, tenancy, tenant):
    app = main({}, **{**settings, "tenantapp.lock_timeout": "100ms"})
    client = webtest.TestApp(app)
    blocker = tenant.owner_engine(tenancy).connect()
    blocker.exec_driver_sql(f'LOCK TABLE "{tenant.schema_name}".users IN ACCESS EXCLUSIVE MODE')
    try:
        response = client.get(f"/{tenant.slug}/users", headers=tenant.auth, status=503)
        assert response.headers["Retry-After"] == "1"
        assert response.json["error"] == "busy"
    finally:
        blocker.rollback()
        blocker.close()
    try:
        client.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    finally:
        service(app.registry, IServers).dispose()


def test_a_request_waits_for_a_short_migration_instead_of_failing(
    settings, engine, tenancy, tenant
):
    """No sleeps: the request starts while the lock is held and finishes once it is released."""
    app = main({}, **{**settings, "tenantapp.lock_timeout": "60s"})
    client = webtest.TestApp(app)
    blocker = tenant.owner_engine(tenancy).connect()
    blocker.exec_driver_sql(f'LOCK TABLE "{tenant.schema_name}".users IN ACCESS EXCLUSIVE MODE')
    result = {}
    waiting = threading.Thread(
        target=lambda: result.update(r=client.get(f"/{tenant.slug}/users", headers=tenant.auth))
    )
    waiting.start()
    try:
        deadline = time.monotonic() + 30
        with engine.connect() as observer:
            while time.monotonic() < deadline:  # until the request is queued behind the lock
                if observer.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                    break
                observer.rollback()
            else:
                pytest.fail("the request never waited on the lock")
        assert waiting.is_alive()
    finally:
        blocker.rollback()
        blocker.close()
        waiting.join(timeout=30)
        service(app.registry, IServers).dispose()
    assert result["r"].status_int == 200


def test_rename_keeps_the_data_and_the_tokens(testapp, engine, config_uri, tenant, tenancy):
    new = f"renamed-{uuid.uuid4().hex[:8]}"
    assert admin([config_uri, "rename-tenant", tenant.slug, new]) == 0
    try:
        testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=404)
        users = testapp.get(f"/{new}/users", headers=tenant.auth).json["items"]
        assert users[0]["email"] == tenant.owner_email
        assert tenancy.get_tenant(new).schema_name == tenant.schema_name
    finally:
        tenancy.rename_tenant(new, tenant.slug)


def test_rename_refuses_a_taken_or_bad_slug(config_uri, tenant, other_tenant, capsys):
    assert admin([config_uri, "rename-tenant", tenant.slug, other_tenant.slug]) == 1
    assert "already exists" in capsys.readouterr().err
    assert admin([config_uri, "rename-tenant", tenant.slug, "Bad_Slug"]) == 1


def test_list_tenants_json(config_uri, tenant, capsys):
    assert admin([config_uri, "list-tenants", "--json"]) == 0
    listed = {t["slug"]: t for t in json.loads(capsys.readouterr().out)}
    mine = listed[tenant.slug]
    assert mine["status"] == "active"
    assert mine["revision"] == migrations.head_revision("tenant")
    assert mine["size_bytes"] > 0
    assert mine["migration"] == {"status": "ok", "last_error": None}
