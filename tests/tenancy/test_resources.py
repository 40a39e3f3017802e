"""Traversal resources with a dummy request and a real session."""

from contextlib import contextmanager

import pytest
from pyramid.interfaces import IRootFactory
from pyramid.request import Request
from pyramid.scripting import prepare
from sqlalchemy import event, select

from tenantapp.identity.resources import Tokens
from tenantapp.tenancy.binding import bound_scope
from tenantapp.tenancy.resources import Root, Tenant
from tenantapp.users.models import User
from tenantapp.users.resources import UserResource, Users


def root(request) -> Root:
    """The app's root factory, as the router calls it."""
    made = request.registry.getUtility(IRootFactory)(request)
    assert isinstance(made, Root)
    return made


@contextmanager
def prepared(app, headers: dict):
    """A request with the app's request methods, as pshell prepares one."""
    request = Request.blank("/", headers={"Host": "example.com", **headers})
    env = prepare(request=request, registry=app.registry)
    try:
        yield request
    finally:
        env["closer"]()  # runs the finished callbacks, which close a read-only session


@pytest.fixture
def request_(app, tenant):
    """As the owner of ``tenant``. Depends on the tenant fixtures so that its session closes
    before the tenants are dropped."""
    with prepared(app, tenant.auth) as request:
        yield request


@pytest.fixture
def statements(tenancy):
    engine = tenancy.servers.default.serving
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_root_resolves_a_tenant_and_its_session_is_bound_to_it(request_, tenant):
    context = root(request_)[tenant.slug]
    assert isinstance(context, Tenant)
    assert context.__name__ == tenant.slug
    assert request_.tenant is context
    assert bound_scope(request_.dbsession) == tenant.binding.scope


def test_unknown_tenant_is_a_key_error_and_no_session_is_made(request_):
    with pytest.raises(KeyError):
        root(request_)["no-such-tenant"]
    assert request_.tenant is None
    with pytest.raises(LookupError):
        getattr(request_, "dbsession")  # noqa: B009 - the property raises


@pytest.mark.parametrize("segment", ["Acme", "a'; DROP SCHEMA x --", "..", "x" * 10_000, "a\x00"])
def test_invalid_segments_never_reach_sql(request_, statements, segment):
    with pytest.raises(KeyError):
        root(request_)[segment]
    assert statements == []


def test_tenant_children(request_, tenant):
    context = root(request_)[tenant.slug]
    assert isinstance(context["users"], Users)
    with pytest.raises(KeyError):
        context["nope"]


@pytest.mark.parametrize("auth", [{}, {"Authorization": "Bearer tnt_not-a-token"}])
def test_the_tree_is_walkable_without_an_identity(app, tenant, auth):
    """As pshell's ``root["acme"]["users"]`` and pviews walk it: permissions are the views'."""
    with prepared(app, auth) as request:
        context = root(request)[tenant.slug]
        assert isinstance(context["tokens"], Tokens)
        users = context["users"]
        owner = request.dbsession.scalars(select(User.id)).first()
        assert users[str(owner)].user.email == tenant.owner_email
        assert context["audit"].__name__ == "audit"


@pytest.mark.parametrize("segment", ["abc", "0", "-1", "1.5", "9" * 30, "\u0661"])
def test_users_container_rejects_ids_that_cannot_exist(request_, tenant, segment):
    users = root(request_)[tenant.slug]["users"]
    with pytest.raises(KeyError):
        users[segment]


def test_user_leaf_wraps_its_row_and_keeps_the_tenant_in_its_url(request_, tenant, add_user):
    added = add_user(tenant.slug, "u@a.example")
    users = root(request_)[tenant.slug]["users"]
    leaf = users[str(added["id"])]
    assert isinstance(leaf, UserResource)
    assert leaf.user.email == "u@a.example"
    assert request_.resource_url(leaf) == f"http://example.com/{tenant.slug}/users/{added['id']}"
    assert request_.resource_url(users) == f"http://example.com/{tenant.slug}/users"
