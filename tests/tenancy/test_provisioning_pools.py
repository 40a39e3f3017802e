"""Making tenants never needs two connections of one pool at once: a pool of one will do."""

import pytest
import webtest

from tenantapp import main
from tenantapp.testing import stop_app
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
MODES = ["schema", "shared", "database"]


@pytest.fixture(scope="module")
def one_connection(settings):
    """The app with one connection per pool, and little patience for a second."""
    app = main(
        {},
        **settings,
        **{
            "sqlalchemy.pool_size": "1",
            "sqlalchemy.max_overflow": "0",
            "sqlalchemy.pool_timeout": "5",
        },
    )
    yield webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    stop_app(app)


@pytest.mark.parametrize("mode", MODES)
def test_a_tenant_is_made_on_a_pool_of_one(one_connection, fresh_slug, mode):
    made = one_connection.post_json(
        "/-/tenants", {"slug": fresh_slug, "mode": mode}, headers=OPERATOR, status=201
    )
    assert made.json["mode"] == mode
    one_connection.delete(f"/-/tenants/{fresh_slug}?purge=true", headers=OPERATOR, status=204)
