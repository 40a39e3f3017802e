"""Per-tenant query insight: each statement a request runs is attributed to its tenant, summed
across processes in the registry, and shown to the operator, in each isolation mode."""

import pytest
import webtest

from tenantapp import main
from tenantapp.interfaces import ICacheListener, IServers, IUsageLedger, service
from tenantapp.metrics.statements import OTHER_TEXT, PER_TENANT, StatementTally, normalized
from tests.conftest import OPERATOR_TOKEN
from tests.console.test_console import operator_login

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def authored(app, settings):
    """Two processes of an app whose author added a view with a slow statement."""
    made = [
        main({}, **settings, **{"pyramid.includes": "tests.metrics.slow_view"}) for _ in range(2)
    ]
    yield [webtest.TestApp(one, extra_environ={"HTTP_HOST": "example.com"}) for one in made]
    for one in made:
        service(one.registry, ICacheListener).stop()
        service(one.registry, IUsageLedger).stop()
        service(one.registry, IServers).dispose()


@pytest.mark.parametrize("mode", ["schema", "shared", "database"])
def test_a_tenants_slow_statement_is_its_top_one_and_no_one_elses(authored, make_tenant, mode):
    slow, quiet = make_tenant("slow", mode=mode), make_tenant("quiet", mode=mode)
    for n in range(6):  # three requests in each process
        authored[n % 2].get(f"/{slow.slug}/slow?seconds=0.02", headers=slow.auth, status=200)
        authored[n % 2].get(f"/{quiet.slug}/users", headers=quiet.auth, status=200)
    service(authored[1].app.registry, IUsageLedger).flush()  # the other's: when it is asked

    top = authored[0].get(f"/-/tenants/{slow.slug}/statements", headers=OPERATOR).json["items"]
    first = top[0]
    assert "pg_sleep" in first["query"] and first["calls"] == 6  # both processes' calls
    assert first["total_ms"] >= 6 * 20 and first["mean_ms"] >= 20 and first["max_ms"] >= 20
    by_calls = (
        authored[0]
        .get(f"/-/tenants/{slow.slug}/statements?order=calls&limit=50", headers=OPERATOR)
        .json["items"]
    )
    assert [s["calls"] for s in by_calls] == sorted((s["calls"] for s in by_calls), reverse=True)

    theirs = authored[0].get(f"/-/tenants/{quiet.slug}/statements?limit=200", headers=OPERATOR)
    queries = [s["query"] for s in theirs.json["items"]]
    assert queries and not any("pg_sleep" in q for q in queries)
    assert any("{tenant}.users" in q for q in queries)  # the schema, whatever it is, written so
    assert not any(f"{quiet.schema_name}." in q for q in queries)

    busiest = authored[0].get("/-/insight?limit=1000", headers=OPERATOR).json["items"]
    ranked = [b["tenant"] for b in busiest]
    assert ranked.index(slow.slug) < ranked.index(quiet.slug)
    assert busiest[ranked.index(slow.slug)]["db_ms"] >= 6 * 20

    console = operator_login(authored[0].app)
    assert "pg_sleep" in console.get(f"/-/console/{slow.slug}").text
    assert slow.slug in console.get("/-/console").text


def test_bad_parameters_are_400s_that_say_what_is_wrong(authored, tenant):
    for query, name in (("order=slowest", "order"), ("days=0", "days"), ("limit=x", "limit")):
        answer = (
            authored[0]
            .get(f"/-/tenants/{tenant.slug}/statements?{query}", headers=OPERATOR, status=400)
            .json
        )
        assert name in answer["fields"], query
    authored[0].get(f"/-/tenants/{tenant.slug}/statements", status=401)  # the operator's only


def test_statements_past_the_bound_are_summed_as_one():
    tally = StatementTally()
    ran = [(f"SELECT {n} FROM s.t", 0.001, 1) for n in range(PER_TENANT + 50)]
    tally.add(1, "s", ran)
    tally.add(2, "s", ran[:3])
    taken = tally.take()
    first = [key for key in taken if key[0] == 1]
    assert len(first) == PER_TENANT + 1  # the bound, and the rest as one
    (other,) = [taken[key] for key in first if key[3] == OTHER_TEXT]
    assert other[0] == 50 and other[3] == 50
    assert len([key for key in taken if key[0] == 2]) == 3  # another tenant's own bound
    assert normalized("SELECT * FROM tenant_7.users JOIN tenant_7.tokens", "tenant_7") == (
        "SELECT * FROM {tenant}.users JOIN {tenant}.tokens"
    )
