"""``/-/metrics`` scraped and parsed as Prometheus parses it, and the per-tenant usage ledger."""

import json
import re
from pathlib import Path

import pytest
import webtest
from prometheus_client.parser import text_string_to_metric_families

from tenantapp import main
from tenantapp.interfaces import ICacheListener, IJobQueue, IServers, IUsageLedger, service
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def measured(app, settings):
    """An app of its own (its own counters), naming at most two tenants in its labels."""
    made = main({}, **settings, **{"tenantapp.metrics.top_tenants": "2"})
    yield webtest.TestApp(made, extra_environ={"HTTP_HOST": "example.com"})
    service(made.registry, ICacheListener).stop()
    service(made.registry, IUsageLedger).stop()
    service(made.registry, IServers).dispose()


def scrape(client) -> dict:
    """{(name, frozenset(labels)): value} for every sample."""
    response = client.get("/-/metrics", headers=OPERATOR, status=200)
    assert response.content_type == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_are_counted_per_tenant_with_bounded_labels(measured, make_tenant):
    made = [make_tenant("mx") for _ in range(4)]
    for tenant, times in zip(made, (5, 3, 1, 2), strict=True):
        for _ in range(times):
            measured.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    measured.get(f"/{made[0].slug}/nothing-here", headers=made[0].auth, status=404)
    for method in ("BREW", "WHEN", "PROPFIND"):  # a client's own method names no series
        measured.request(f"/{made[0].slug}/users", method=method, headers=made[0].auth, status=405)
    samples = scrape(measured)

    first, second = made[0].slug, made[1].slug
    requests = "tenantapp_requests_total"
    assert value(samples, requests, tenant=first, method="GET", status="200") == 5
    assert value(samples, requests, tenant=first, method="GET", status="404") == 1
    assert value(samples, requests, tenant=second, method="GET", status="200") == 3
    assert value(samples, requests, tenant="other", method="GET", status="200") == 3
    assert value(samples, requests, tenant=first, method="other", status="405") == 3
    methods = {dict(labels).get("method") for name, labels in samples if name == requests}
    assert methods == {"GET", "other"}
    tenants = {dict(labels).get("tenant") for name, labels in samples if name == requests}
    assert tenants == {first, second, "other"}  # two named, whatever the tenant count

    histogram = "tenantapp_request_duration_seconds"
    assert value(samples, f"{histogram}_count", tenant=first) == 9
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == f"{histogram}_bucket" and dict(labels)["tenant"] == first
    )
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert buckets[-1] == (float("inf"), 9)
    assert value(samples, "tenantapp_db_seconds_total", tenant=first) > 0
    assert value(samples, "tenantapp_cache_hits_total", cache="tenants") >= 1
    assert ("tenantapp_cache_entries", frozenset({("cache", "token_owners")})) in samples


def test_metrics_are_the_operators(measured, tenant):
    measured.get("/-/metrics", status=401)
    measured.get("/-/metrics", headers=tenant.auth, status=401)


def test_the_usage_ledger_sums_each_tenants_day(app, measured, tenant):
    service(app.registry, IUsageLedger).flush()  # what the suite's own app counted for it
    url = f"/-/tenants/{tenant.slug}/usage"
    before = measured.get(url, headers=OPERATOR).json["items"]
    base = before[0] if before else {"requests": 0, "rows": 0, "bytes": 0, "db_ms": 0}
    for _ in range(4):
        measured.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    today = measured.get(url, headers=OPERATOR).json["items"][0]
    assert today["requests"] == base["requests"] + 4
    assert today["rows"] >= base["rows"] + 4  # a token owner and a page of users each
    assert today["bytes"] > base["bytes"]
    assert today["errors"] == (before[0]["errors"] if before else 0)
    measured.get(f"{url}?days=0", headers=OPERATOR, status=400)
    measured.get(f"{url}?days=x", headers=OPERATOR, status=400)


def test_the_grafana_dashboard_asks_for_metrics_that_exist(measured, tenant):
    """Every series the shipped dashboard queries is one the app exposes."""
    measured.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    users = measured.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    measured.post(f"/{tenant.slug}/users/{users[0]['id']}/invitation", headers=tenant.auth)
    service(measured.app.registry, IJobQueue).drain(install_signal_handlers=False)
    exposed = {name for name, _ in scrape(measured)}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"tenantapp_[a-z_]+", target["expr"])
    }
    assert queried and queried <= exposed, queried - exposed
