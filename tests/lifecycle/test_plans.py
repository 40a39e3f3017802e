"""Plans that place tenants (``lifecycle.plans``): what a plan sets lies beneath the tenant's
own overrides; a plan that places the tenant elsewhere moves it online, and its limits change
at the switch, not before; over the operator API the move is a job."""

import pytest
from pyramid.exceptions import ConfigurationError

from tenantapp import tenancy_from
from tenantapp.interfaces import IJobQueue, ISettingsCatalog, service
from tenantapp.tenancy.directory import find_tenant
from tests.conftest import OPERATOR_TOKEN
from tests.jobs.test_jobs import work
from tests.lifecycle.test_moves import Traffic, all_emails

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def limits(app, tenancy, slug: str) -> tuple[int, bool]:
    """What the tenant's entry gives now: its user limit, and the new_dashboard flag."""
    entry = find_tenant(tenancy.registry, slug)
    catalog = service(app.registry, ISettingsCatalog)
    return catalog.values(entry)["quota_max_users"], catalog.feature(entry, "new_dashboard")


def test_a_plan_that_places_nothing_new_applies_at_once_beneath_the_tenants_overrides(
    app, testapp, tenant, tenancy
):
    url = f"/-/tenants/{tenant.slug}/plan"
    before = testapp.get(url, headers=OPERATOR).json
    assert before["plan"] is None and before["move"] is None
    changed = testapp.put_json(url, {"plan": "pro"}, headers=OPERATOR, status=200).json
    assert changed["plan"] == "pro" and changed["pending"] is None
    assert changed["mode"] == tenant.mode
    assert limits(app, tenancy, tenant.slug) == (200000, False)

    settings = f"/-/tenants/{tenant.slug}/settings"
    described = testapp.get(settings, headers=OPERATOR).json["settings"]["quota_max_users"]
    assert (described["value"], described["plan"], described["override"]) == (200000, 200000, None)
    # the tenant's own override wins over its plan's
    testapp.patch_json(settings, {"settings": {"quota_max_users": 7}}, headers=OPERATOR)
    assert limits(app, tenancy, tenant.slug)[0] == 7
    testapp.patch_json(settings, {"settings": {"quota_max_users": None}}, headers=OPERATOR)
    assert limits(app, tenancy, tenant.slug)[0] == 200000
    # and a member's view of its settings says the same
    mine = testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth).json
    assert mine["settings"]["quota_max_users"] == 200000


@pytest.mark.slow
def test_an_upgrade_from_shared_to_database_under_writes_loses_nothing_and_switches_limits(
    app, testapp, make_tenant, tenancy, add_user
):
    tenant = make_tenant("pl", mode="shared")
    assert tenancy.change_plan(tenant.slug, "free")["scheduled"] is False  # shared already
    for i in range(20):
        add_user(tenant.slug, f"before{i}@p.example")
    free = limits(app, tenancy, tenant.slug)
    assert free == (100000, False)

    seen: dict[str, tuple] = {}

    def probe(step: str) -> None:
        seen[step] = limits(app, tenancy, tenant.slug)

    with Traffic(app, tenant) as traffic:
        scheduled = tenancy.change_plan(tenant.slug, "enterprise")
        assert scheduled["scheduled"] is True and scheduled["pending"] == "enterprise"
        assert scheduled["plan"] == "free" and scheduled["move"]["state"] == "scheduled"
        assert limits(app, tenancy, tenant.slug) == free  # nothing changes before the move
        report = tenancy.move_to_plan(tenant.slug, step=probe)
    assert set(traffic.statuses) <= {200, 201}, traffic.failures
    expected = {tenant.owner_email, *(f"before{i}@p.example" for i in range(20)), *traffic.created}
    assert all_emails(testapp, tenant) == expected  # nothing lost
    # the limits changed at the switch: the old plan's up to the registry's update, then the new
    for step in ("prepare", "snapshot", "pause", "verify", "switch", "registry"):
        assert seen[step] == free, step
    assert seen["drop-source"] == (0, True)
    state = tenancy.plan_state(tenant.slug)
    assert (state["plan"], state["pending"], state["mode"]) == ("enterprise", None, "database")
    assert state["move"]["state"] == "done"
    assert state["move"]["write_pause_ms"] == round(report.pause_ms)
    assert report.rows >= 21


@pytest.mark.slow
def test_the_operator_api_schedules_the_move_as_a_job_and_shows_how_it_went(
    app, testapp, make_tenant, tenancy
):
    tenant = make_tenant("pj", mode="schema")
    url = f"/-/tenants/{tenant.slug}/plan"
    refused = testapp.put_json(url, {"plan": "platinum"}, headers=OPERATOR, status=400).json
    assert "no plan 'platinum'" in refused["message"] and "enterprise" in refused["message"]
    testapp.put_json(url, {"plan": 3}, headers=OPERATOR, status=400)
    testapp.put_json(url, {"plan": "enterprise"}, headers=tenant.auth, status=401)

    accepted = testapp.put_json(url, {"plan": "enterprise"}, headers=OPERATOR, status=202).json
    assert accepted["pending"] == "enterprise" and accepted["move"]["state"] == "scheduled"
    assert accepted["move"]["to"] == "database@default"
    assert testapp.get(url, headers=OPERATOR).json["plan"] is None  # until the switch
    work(service(app.registry, IJobQueue))
    done = testapp.get(url, headers=OPERATOR).json
    assert (done["plan"], done["pending"], done["mode"]) == ("enterprise", None, "database")
    assert done["move"]["state"] == "done" and done["move"]["write_pause_ms"] is not None
    assert testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).status_int == 200

    # a plan by region: onto that region's server, with the plan set at the switch
    testapp.put_json(url, {"plan": "eu"}, headers=OPERATOR, status=202)
    work(service(app.registry, IJobQueue))
    moved = testapp.get(url, headers=OPERATOR).json
    assert (moved["plan"], moved["mode"], moved["server"]) == ("eu", "database", "second")

    listed = testapp.get("/-/plans", headers=OPERATOR).json["items"]
    enterprise = next(p for p in listed if p["name"] == "enterprise")
    assert enterprise["mode"] == "database"
    assert enterprise["settings"] == {"quota_max_users": 0, "quota_max_storage_mb": 50000}
    assert enterprise["flags"] == {"new_dashboard": True}


def test_the_cli_puts_a_tenant_on_a_plan_and_moves_it_there(
    make_tenant, config_uri, capsys, tenancy
):
    from tenantapp.scripts.admin import main as admin

    tenant = make_tenant("pc", mode="schema")
    assert admin([config_uri, "set-plan", tenant.slug, "free"]) == 0
    assert '"plan": "free"' in capsys.readouterr().out
    info = tenancy.get_tenant(tenant.slug)
    assert info.mode == "shared"
    assert admin([config_uri, "set-plan", tenant.slug, "gold"]) == 1
    assert "no plan 'gold'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("tenantapp.plan.x.mode", "cluster", "mode: one of"),
        ("tenantapp.plan.x.server", "nowhere", "nowhere"),
        ("tenantapp.plan.x.region", "mars", "no server is in region 'mars'"),
        ("tenantapp.plan.x.colour", "blue", "a plan sets mode, server, region"),
        ("tenantapp.plan.x.settings", "quota_max_users=many", "quota_max_users"),
        ("tenantapp.plan.x.settings", "undeclared=1", "undeclared"),
        ("tenantapp.plan.x.flags", "nope=true", "nope"),
    ],
)
def test_a_wrong_plan_stops_the_app_at_start_with_the_reason(settings, key, value, problem):
    with pytest.raises(ConfigurationError, match=problem):
        tenancy_from({**settings, key: value})
