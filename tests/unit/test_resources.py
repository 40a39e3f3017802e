"""Traversal resources with a dummy request and a real session."""

import pytest
from pyramid import testing
from sqlalchemy import event, select

from tenantapp.database import make_session_factory
from tenantapp.identity.resources import Tokens
from tenantapp.resources import Root, Tenant
from tenantapp.tenancy.binding import bound_schema
from tenantapp.users.models import User
from tenantapp.users.resources import UserResource, Users


@pytest.fixture
def request_(app, engine, tenant):
    """As the owner of ``tenant``. Depends on the tenant fixtures so that its session closes
    before the tenants are dropped."""
    request = testing.DummyRequest(host="example.com", headers=tenant.auth)
    request.registry = app.registry
    request.dbsession = make_session_factory(engine)()
    yield request
    request.dbsession.close()


@pytest.fixture
def statements(engine):
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_root_resolves_a_tenant_and_binds_the_session(request_, tenant):
    context = Root(request_)[tenant.slug]
    assert isinstance(context, Tenant)
    assert context.__name__ == tenant.slug
    assert bound_schema(request_.dbsession) == tenant.schema_name


def test_unknown_tenant_is_a_key_error(request_):
    with pytest.raises(KeyError):
        Root(request_)["no-such-tenant"]
    assert bound_schema(request_.dbsession) is None


@pytest.mark.parametrize("segment", ["Acme", "a'; DROP SCHEMA x --", "..", "x" * 10_000, "a\x00"])
def test_invalid_segments_never_reach_sql(request_, statements, segment):
    with pytest.raises(KeyError):
        Root(request_)[segment]
    assert statements == []


def test_tenant_children(request_, tenant):
    context = Root(request_)[tenant.slug]
    assert isinstance(context["users"], Users)
    with pytest.raises(KeyError):
        context["nope"]


@pytest.mark.parametrize("auth", [{}, {"Authorization": "Bearer tnt_not-a-token"}])
def test_the_tree_is_walkable_without_an_identity(app, engine, tenant, auth):
    """As pshell's ``root["acme"]["users"]`` and pviews walk it: permissions are the views'."""
    request = testing.DummyRequest(host="example.com", headers=auth)
    request.registry = app.registry
    request.dbsession = make_session_factory(engine)()
    try:
        context = Root(request)[tenant.slug]
        assert isinstance(context["tokens"], Tokens)
        users = context["users"]
        owner = request.dbsession.scalars(select(User.id)).first()
        assert users[str(owner)].user.email == tenant.owner_email
        assert context["audit"].__name__ == "audit"
    finally:
        request.dbsession.close()


@pytest.mark.parametrize("segment", ["abc", "0", "-1", "1.5", "9" * 30, "\u0661"])
def test_users_container_rejects_ids_that_cannot_exist(request_, tenant, segment):
    users = Root(request_)[tenant.slug]["users"]
    with pytest.raises(KeyError):
        users[segment]


def test_user_leaf_wraps_its_row_and_keeps_the_tenant_in_its_url(request_, tenant):
    users = Root(request_)[tenant.slug]["users"]
    user = User(email="u@a.example", name="U")
    request_.dbsession.add(user)
    request_.dbsession.flush()
    leaf = users[str(user.id)]
    assert isinstance(leaf, UserResource)
    assert leaf.user is user
    assert request_.resource_url(leaf) == f"http://example.com/{tenant.slug}/users/{user.id}"
    assert request_.resource_url(users) == f"http://example.com/{tenant.slug}/users"
    request_.dbsession.rollback()
