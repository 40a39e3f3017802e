"""The pytest plugin app authors get (``tenantapp.testing``): their tests, run as theirs are."""

EXAMPLE = """
from tenantapp.users.models import User


def test_members_cannot_add_users_but_admins_can(tenant, tenant_app):
    body = {"email": "new@example.com", "name": "New"}
    tenant_app("member").post_json(f"/{tenant.slug}/users", body, status=403)
    tenant_app("admin").post_json(f"/{tenant.slug}/users", body, status=201)


def test_rows_added_in_the_tenant_session_are_the_tenants(tenant, tenant_session, tenant_app):
    tenant_session.add(User(email="direct@example.com", name="Direct"))
    tenant_session.commit()
    listed = tenant_app().get(f"/{tenant.slug}/users").json["items"]
    assert "direct@example.com" in [user["email"] for user in listed]


SEEN = []


def test_each_test_has_a_tenant_of_its_own(tenant, tenant_app):
    SEEN.append(tenant.slug)
    assert len(tenant_app().get(f"/{tenant.slug}/users").json["items"]) == 1


def test_and_another(tenant, tenant_app):
    SEEN.append(tenant.slug)
    assert len(tenant_app().get(f"/{tenant.slug}/users").json["items"]) == 1
    assert len(set(SEEN)) == 2
"""


TASKS = """
from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from tenantapp.jobs import tenant_task
from tenantapp.tenancy.models import TenantBase


class Order(TenantBase):
    __tablename__ = "shop_orders"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)


class Note(TenantBase):  # forgotten: the coverage fixture names it
    __tablename__ = "shop_notes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


@tenant_task("shop.welcome")
def welcome(request, user_id: int):
    ...


def includeme(config):
    config.scan(__name__)
    config.include("tenantapp.privacy")
    config.add_personal_data(Order, export=lambda request, user: [], erase=lambda r, u: None)
"""

CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def tenantapp_settings():
    return {"pyramid.includes": "shop_tasks"}  # the app's own configuration, as in its ini
"""

TASKS_TEST = """
from tenantapp.interfaces import IJobQueue, service


def test_the_apps_tasks_are_declared_through_its_includes(tenantapp_app):
    assert "shop.welcome" in service(tenantapp_app.registry, IJobQueue).tasks


def test_the_models_missing_from_the_personal_data_are_named(personal_data_coverage):
    assert personal_data_coverage == ["Note"]
"""


def test_an_app_authors_tests_run_on_the_plugins_fixtures(pytester, server_url, monkeypatch):
    monkeypatch.setenv("TENANTAPP_TEST_DATABASE_URL", server_url)  # no second embedded server
    pytester.makepyfile(test_example=EXAMPLE, shop_tasks=TASKS, test_tasks=TASKS_TEST)
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6)
