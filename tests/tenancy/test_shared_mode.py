"""Shared mode: many tenants' rows in one set of tables, kept apart by row-level security.

The facts are checked from SQL, as the serving role the app connects as, not only through the
API: what holds for the role holds for any code path that runs as it.
"""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tenantapp.tenancy import pooling
from tenantapp.tenancy.binding import Binding, bind_connection
from tenantapp.tenancy.models import POOLED_SCHEMA


@pytest.fixture
def serving(tenancy):
    return tenancy.servers.default.serving


@pytest.fixture
def shared(make_tenant):
    return make_tenant("sa", mode="shared")


@pytest.fixture
def other_shared(make_tenant):
    return make_tenant("sb", mode="shared")


def pooled_tables(engine) -> list[str]:
    with engine.connect() as connection:
        return pooling.pooled_tables(connection)


def test_every_pooled_table_enables_and_forces_row_level_security(engine):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :schema AND c.relkind = 'r' AND c.relname <> 'alembic_version'"
            ),
            {"schema": POOLED_SCHEMA},
        ).all()
    assert {name for name, *_ in rows} >= {"users", "tokens", "login_throttle", "audit_log"}
    for name, enabled, forced, policies in rows:
        assert (name, enabled, forced, policies) == (name, True, True, 1)


def test_tenant_id_leads_every_key_and_index(engine):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT i.relname, a.attname FROM pg_index x"
                " JOIN pg_class i ON i.oid = x.indexrelid"
                " JOIN pg_class t ON t.oid = x.indrelid"
                " JOIN pg_namespace n ON n.oid = t.relnamespace"
                " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]"
                " WHERE n.nspname = :schema AND t.relname <> 'alembic_version'"
            ),
            {"schema": POOLED_SCHEMA},
        ).all()
        foreign = connection.execute(
            sa.text(
                "SELECT c.conname, a.attname, r.attname FROM pg_constraint c"
                " JOIN pg_namespace n ON n.oid = c.connamespace"
                " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                " JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1]"
                " WHERE n.nspname = :schema AND c.contype = 'f'"
            ),
            {"schema": POOLED_SCHEMA},
        ).all()
    assert len(rows) >= 6 and foreign
    assert [(name, column) for name, column in rows if column != "tenant_id"] == []
    assert [f for f in foreign if f[1:] != ("tenant_id", "tenant_id")] == []


def test_the_serving_role_cannot_bypass_row_level_security(serving, tenancy):
    with serving.connect() as connection:
        role = connection.execute(
            sa.text(
                "SELECT r.rolname, r.rolsuper, r.rolbypassrls FROM pg_roles r"
                " WHERE r.rolname = current_user"
            )
        ).one()
        owned = connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = :schema AND pg_get_userbyid(c.relowner) = current_user"
            ),
            {"schema": POOLED_SCHEMA},
        )
    assert role == (tenancy.servers.app_role.name, False, False)
    assert owned == 0


def test_without_a_tenant_a_transaction_sees_no_rows_and_cannot_write(serving, shared):
    with serving.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM tenant_shared.users")) == 0
        assert connection.scalar(sa.text("SELECT count(*) FROM tenant_shared.audit_log")) == 0
        with pytest.raises(DBAPIError):
            connection.execute(
                sa.text("INSERT INTO tenant_shared.users (email, name) VALUES ('x@x', 'x')")
            )
        connection.rollback()
        with pytest.raises(DBAPIError):  # naming a tenant outright does not help
            connection.execute(
                sa.text(
                    "INSERT INTO tenant_shared.users (tenant_id, email, name)"
                    " VALUES (:id, 'x@x', 'x')"
                ),
                {"id": shared.id},
            )


def test_a_bound_transaction_sees_and_writes_only_its_tenant(serving, shared, other_shared):
    with serving.connect() as connection:
        bind_connection(connection, Binding(POOLED_SCHEMA, shared.id))
        emails = connection.scalars(sa.text("SELECT email FROM users")).all()
        assert emails == [shared.owner_email]
        with pytest.raises(DBAPIError):
            connection.execute(
                sa.text("INSERT INTO users (tenant_id, email, name) VALUES (:id, 'x@x', 'x')"),
                {"id": other_shared.id},
            )
        connection.rollback()
        bind_connection(connection, Binding(POOLED_SCHEMA, shared.id))
        with pytest.raises(DBAPIError):  # nor move a row into another tenant
            connection.execute(sa.text("UPDATE users SET tenant_id = :id"), {"id": other_shared.id})
        connection.rollback()
        # the setting was SET LOCAL: the next transaction on this connection sees nothing
        assert connection.scalar(sa.text("SELECT count(*) FROM tenant_shared.users")) == 0


def test_shared_tenants_keep_apart_through_the_api(testapp, shared, other_shared, add_user):
    add_user(shared.slug, "same@example.com")
    add_user(other_shared.slug, "same@example.com")  # unique per tenant, not across
    listed = testapp.get(f"/{shared.slug}/users", headers=shared.auth).json["items"]
    assert sorted(u["email"] for u in listed) == sorted([shared.owner_email, "same@example.com"])
    testapp.get(f"/{other_shared.slug}/users", headers=shared.auth, status=401)
    other_user = testapp.get(f"/{other_shared.slug}/users", headers=other_shared.auth).json
    foreign_id = next(u["id"] for u in other_user["items"] if u["email"] == "same@example.com")
    testapp.get(f"/{shared.slug}/users/{foreign_id}", headers=shared.auth, status=404)


def test_a_logout_in_one_shared_tenant_forgets_only_its_tokens(app, testapp, shared, other_shared):
    testapp.get(f"/{shared.slug}/users", headers=shared.auth)
    testapp.get(f"/{other_shared.slug}/users", headers=other_shared.auth)
    testapp.delete(f"/{shared.slug}/tokens", headers=shared.auth, status=204)
    testapp.get(f"/{shared.slug}/users", headers=shared.auth, status=401)
    testapp.get(f"/{other_shared.slug}/users", headers=other_shared.auth, status=200)


def test_purge_removes_every_row_of_the_tenant_and_no_other(engine, tenancy, shared, other_shared):

    def counts():
        with engine.connect() as connection:
            return {
                table: dict(
                    connection.execute(
                        sa.text(
                            f"SELECT tenant_id, count(*) FROM tenant_shared.{table}"
                            " WHERE tenant_id IN (:a, :b) GROUP BY tenant_id"
                        ),
                        {"a": shared.id, "b": other_shared.id},
                    ).all()
                )
                for table in ("users", "tokens", "audit_log")
            }

    before = counts()
    assert before["users"] == {shared.id: 1, other_shared.id: 1}
    tenancy.purge_tenant(shared.slug)
    after = counts()
    assert all(shared.id not in rows for rows in after.values())
    assert after["users"] == {other_shared.id: 1}
    assert after["tokens"] == {other_shared.id: before["tokens"][other_shared.id]}


def test_pooling_is_idempotent(engine):
    with engine.begin() as connection:
        before = connection.scalar(
            sa.text("SELECT count(*) FROM pg_indexes WHERE schemaname = 'tenant_shared'")
        )
        pooling.pool_tables(connection)
        after = connection.scalar(
            sa.text("SELECT count(*) FROM pg_indexes WHERE schemaname = 'tenant_shared'")
        )
    assert before == after
