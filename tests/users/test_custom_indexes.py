"""Indexes on custom fields: an owner marks a field indexed, a job builds the index
concurrently, its state is shown, and the filter's query uses it at 100,000 users (its plan
read with EXPLAIN from the request's own statement, in the suite's mode)."""

from contextlib import contextmanager
from dataclasses import replace
from urllib.parse import quote

import pytest
from sqlalchemy import event

from tenantapp.interfaces import IJobQueue, service
from tenantapp.users.custom_indexes import index_name
from tests.jobs.test_jobs import work

BULK_USERS = 100_000
BULK_SQL = """
INSERT INTO users (email, name, custom)
SELECT 'bulk' || g || '@example.com', convert_to('Bulk ' || g, 'UTF8'),
       jsonb_build_object('plan', 'bulk' || mod(g, 1000), 'seats', g + 1000, 'score', g + 0.5)
FROM generate_series(1, %s) AS g
"""
ODD = 'g"o\\ld ü'  # a quote, a backslash, a space and a non-ASCII letter


@contextmanager
def plans(engine):
    """The EXPLAIN of each statement ``engine`` runs that filters by a field's key."""
    found = []

    def explain(connection, cursor, statement, parameters, context, executemany):
        if "custom_value_key(" in statement and ".custom," in statement:
            cursor.execute("EXPLAIN " + statement, parameters)
            found.append("\n".join(row[0] for row in cursor.fetchall()))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", explain)


def define(testapp, tenant, name: str, kind: str, **more) -> dict:
    body = {"name": name, "type": kind, **more}
    return testapp.post_json(f"/{tenant.slug}/fields", body, headers=tenant.auth, status=201).json


def add_user(testapp, tenant, email: str, custom: dict) -> int:
    body = {"email": email, "name": "Someone", "custom": custom}
    return testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth).json["id"]


def matching(testapp, tenant, name: str, value: str) -> list[int]:
    url = f"/{tenant.slug}/users?custom.{name}={quote(value)}&limit=100"
    return sorted(u["id"] for u in testapp.get(url, headers=tenant.auth).json["items"])


def index_of(testapp, tenant, name: str) -> dict | None:
    return testapp.get(f"/{tenant.slug}/fields/{name}", headers=tenant.auth).json["index"]


def set_indexed(testapp, tenant, name: str, indexed: bool, status: int = 200) -> dict:
    url = f"/{tenant.slug}/fields/{name}"
    return testapp.patch_json(url, {"indexed": indexed}, headers=tenant.auth, status=status).json


def owner_sql(tenancy, tenant, sql: str, *params):
    with tenant.owner_engine(tenancy).begin() as connection:
        connection.exec_driver_sql(
            "SELECT set_config('search_path', %s, true), set_config('tenantapp.tenant_id', %s,"
            " true)",
            (f'"{tenant.schema_name}"', str(tenant.id) if tenant.mode == "shared" else ""),
        )
        return connection.exec_driver_sql(sql, params or None)


def indexes_on_users(tenancy, tenant) -> dict[str, bool]:
    with tenant.owner_engine(tenancy).connect() as connection:
        return dict(
            connection.exec_driver_sql(
                "SELECT i.relname, x.indisvalid FROM pg_index x"
                " JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
                " JOIN pg_namespace n ON n.oid = t.relnamespace"
                " WHERE n.nspname = %s AND t.relname = 'users'",
                (tenant.schema_name,),
            ).all()
        )


@pytest.mark.slow
def test_an_indexed_field_is_filtered_through_its_index_at_100000_users(
    app, testapp, tenant, tenancy
):
    define(testapp, tenant, "plan", "text")
    define(testapp, tenant, "seats", "integer")
    define(testapp, tenant, "score", "number")
    gold = add_user(testapp, tenant, "gold@x.example", {"plan": "gold", "seats": 5, "score": 5})
    odd = add_user(testapp, tenant, "odd@x.example", {"plan": ODD, "seats": 7, "score": 2.5})
    add_user(testapp, tenant, "none@x.example", {})
    owner_sql(tenancy, tenant, BULK_SQL, BULK_USERS)
    owner_sql(tenancy, tenant, f'ANALYZE "{tenant.schema_name}".users')
    serving = tenancy.store(tenant.mode).engine(tenant.entry)

    with plans(serving) as unindexed:  # containment, no key: nothing of ours to plan
        assert matching(testapp, tenant, "plan", "gold") == [gold]
    assert unindexed == []

    marked = set_indexed(testapp, tenant, "plan", True)
    assert marked["indexed"] is True
    assert marked["index"] == {"state": "pending", "error": None}  # the job has not run
    assert set_indexed(testapp, tenant, "seats", True)["index"]["state"] == "pending"
    assert set_indexed(testapp, tenant, "score", True)["index"]["state"] == "pending"
    work(service(app.registry, IJobQueue))
    for name in ("plan", "seats", "score"):
        assert index_of(testapp, tenant, name) == {"state": "ready", "error": None}
        assert indexes_on_users(tenancy, tenant)[index_name(name)] is True

    with plans(serving) as found:
        assert matching(testapp, tenant, "plan", "gold") == [gold]
        assert matching(testapp, tenant, "plan", ODD) == [odd]
        assert matching(testapp, tenant, "seats", "5") == [gold]
        assert matching(testapp, tenant, "score", "5.0") == [gold]  # stored 5.0, asked 5.0
        assert matching(testapp, tenant, "score", "5") == [gold]  # one key for 5 and 5.0
        assert matching(testapp, tenant, "plan", "bulk7") != []  # bulk rows are found too
    assert len(found) == 6
    for plan, name in zip(found, ("plan", "plan", "seats", "score", "score", "plan"), strict=True):
        assert index_name(name) in plan, plan
        assert "Seq Scan" not in plan, plan

    unmarked = set_indexed(testapp, tenant, "plan", False)
    assert unmarked["indexed"] is False and unmarked["index"] is None
    work(service(app.registry, IJobQueue))
    # its own index goes; shared mode's serves every shared tenant with a field of that name
    assert (index_name("plan") in indexes_on_users(tenancy, tenant)) == (tenant.mode == "shared")
    with plans(serving) as after:
        assert matching(testapp, tenant, "plan", "gold") == [gold]
    assert after == []  # back to containment


def test_a_failed_build_is_shown_with_its_reason_and_tried_again(app, testapp, tenant, tenancy):
    define(testapp, tenant, "region", "text")
    name = index_name("region")
    owner_sql(tenancy, tenant, f'CREATE TABLE "{tenant.schema_name}".{name} (x int)')
    set_indexed(testapp, tenant, "region", True)
    work(service(app.registry, IJobQueue))
    state = index_of(testapp, tenant, "region")
    assert state["state"] == "failed"
    assert name in state["error"]

    owner_sql(tenancy, tenant, f'DROP TABLE "{tenant.schema_name}".{name}')
    assert set_indexed(testapp, tenant, "region", True)["index"]["state"] == "pending"
    work(service(app.registry, IJobQueue))
    assert index_of(testapp, tenant, "region") == {"state": "ready", "error": None}


def test_indexing_is_for_owners_and_bounded(testapp, tenant, make_tenant):
    define(testapp, tenant, "secret", "text", sealed=True)
    refused = set_indexed(testapp, tenant, "secret", True, status=400)
    assert refused["fields"] == {"indexed": "the field is sealed"}
    testapp.post_json(
        f"/{tenant.slug}/fields",
        {"name": "both", "type": "text", "sealed": True, "indexed": True},
        headers=tenant.auth,
        status=400,
    )
    for i in range(5):
        define(testapp, tenant, f"f{i}", "integer", indexed=True)
    define(testapp, tenant, "sixth", "integer")
    full = set_indexed(testapp, tenant, "sixth", True, status=409)
    assert "at most 5 indexed fields" in full["message"]
    url = f"/{tenant.slug}/fields/f0"
    testapp.patch_json(url, {"indexed": "yes"}, headers=tenant.auth, status=400)
    other = make_tenant("o")  # another tenant's owner is nobody here
    testapp.patch_json(url, {"indexed": False}, headers=other.auth, status=401)
    assert index_of(testapp, tenant, "f0") == {"state": "pending", "error": None}


def test_shared_mode_without_a_leakproof_key_says_why(app, testapp, make_tenant, tenancy):
    shared = make_tenant("sh", mode="shared")
    define(testapp, shared, "tier", "text", indexed=True)
    function = f'"{shared.schema_name}".custom_value_key(jsonb, text)'
    owner_sql(tenancy, shared, f"ALTER FUNCTION {function} NOT LEAKPROOF")
    try:
        state = index_of(testapp, shared, "tier")
        assert state["state"] == "unavailable"
        assert "LEAKPROOF" in state["error"]
    finally:
        owner_sql(tenancy, shared, f"ALTER FUNCTION {function} LEAKPROOF")
    work(service(app.registry, IJobQueue))
    assert index_of(testapp, shared, "tier") == {"state": "ready", "error": None}


@pytest.mark.slow
def test_a_moved_or_imported_tenant_has_its_indexes_rebuilt(
    app, testapp, tenant, tenancy, fresh_slug, tmp_path
):
    define(testapp, tenant, "plan", "text", indexed=True)
    gold = add_user(testapp, tenant, "gold@x.example", {"plan": "gold"})
    work(service(app.registry, IJobQueue))
    to_mode = "schema" if tenant.mode == "database" else "database"
    tenancy.move_tenant(tenant.slug, to_mode)
    moved = replace(tenant, mode=to_mode, schema_name=tenancy.store(to_mode).schema_name(tenant.id))
    assert indexes_on_users(tenancy, moved)[index_name("plan")] is True
    assert index_of(testapp, moved, "plan") == {"state": "ready", "error": None}
    assert matching(testapp, moved, "plan", "gold") == [gold]

    archive = tmp_path / "t.zip"
    tenancy.export_tenant(tenant.slug, archive)
    info = tenancy.import_tenant(archive, fresh_slug)
    copy = replace(
        moved,
        slug=fresh_slug,
        id=info.id,
        schema_name=info.schema_name,
        mode=info.mode,
        server=info.server,
    )
    assert indexes_on_users(tenancy, copy)[index_name("plan")] is True


def test_the_operator_marks_fields_from_the_command_line(app, testapp, tenant, config_uri, capsys):
    from tenantapp.scripts.admin import main as admin

    define(testapp, tenant, "region", "text")
    define(testapp, tenant, "secret", "text", sealed=True)
    assert admin([config_uri, "custom-indexes", tenant.slug, "--index", "region"]) == 0
    assert '"state": "ready"' in capsys.readouterr().out
    assert index_of(testapp, tenant, "region") == {"state": "ready", "error": None}
    assert admin([config_uri, "custom-indexes", tenant.slug, "--index", "secret"]) == 1
    assert "is sealed" in capsys.readouterr().err
    assert admin([config_uri, "custom-indexes", tenant.slug, "--index", "nope"]) == 1
    assert "no custom field 'nope'" in capsys.readouterr().err
    assert admin([config_uri, "custom-indexes", tenant.slug, "--unindex", "region"]) == 0
    assert index_of(testapp, tenant, "region") is None
