"""Per-tenant settings and feature flags: declared in the ini, overridden per tenant by the
operator (API, CLI) and by the tenant's owner where the ini allows, read by app code."""

import json
import time

import pytest
import sqlalchemy as sa
import webtest

from tenantapp import configure
from tenantapp.interfaces import ICacheListener, IServers, service
from tenantapp.scripts.admin import main as admin
from tenantapp.tenancy.resources import Tenant
from tenantapp.tenant_settings.catalog import bucket
from tests.conftest import OPERATOR_TOKEN, PASSWORD, login

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
QUOTAS = ("requests_per_second", "burst", "requests_in_flight", "max_users")
QUOTAS += ("paced_requests_per_second",)
QUOTAS += ("statement_timeout_ms", "work_mem_kb", "max_storage_mb")
# the app's declarations, and the quota limits every tenant has (0: none), which it may read
DEFAULTS = (
    {"theme": "light", "max_upload_mb": 10, "support_email": "", "allow_impersonation": True}
    | {"mfa_required": "none"}
    | {f"quota_{name}": 0 for name in QUOTAS}
    | {"quota_jobs_at_once": 2}
)


def test_a_new_tenant_has_the_defaults(testapp, tenant):
    body = testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth, status=200).json
    assert body["settings"] == DEFAULTS
    assert body["flags"]["new_dashboard"] is False
    assert body["flags"]["fast_search"] == (bucket("fast_search", tenant.id) < 50)


def test_the_owner_changes_what_owners_may_and_it_is_audited(testapp, tenant):
    url = f"/{tenant.slug}/settings"
    change = {"settings": {"theme": "dark", "max_upload_mb": 25}}
    body = testapp.patch_json(url, change, headers=tenant.auth, status=200).json
    assert body["settings"] == {**DEFAULTS, "theme": "dark", "max_upload_mb": 25}
    assert testapp.get(url, headers=tenant.auth).json["settings"]["theme"] == "dark"
    entries = testapp.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    assert entries[0]["action"] == "settings.update"
    assert entries[0]["detail"] == {"changes": {"theme": "dark", "max_upload_mb": 25}}

    reset = testapp.patch_json(url, {"settings": {"theme": None}}, headers=tenant.auth).json
    assert reset["settings"]["theme"] == "light"
    assert reset["settings"]["max_upload_mb"] == 25


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"settings": {"support_email": "x@y.example"}}, "settings.support_email"),  # operator's
        ({"settings": {"no_such": 1}}, "settings.no_such"),
        ({"settings": {"max_upload_mb": "20"}}, "settings.max_upload_mb"),  # a string
        ({"settings": {"max_upload_mb": True}}, "settings.max_upload_mb"),
        ({"settings": {"theme": "neon"}}, "settings.theme"),
        ({"flags": {"new_dashboard": True}}, "flags.new_dashboard"),  # flags are the operator's
        ({"theme": "dark"}, "theme"),
    ],
)
def test_bad_changes_are_refused_with_the_field_named_and_change_nothing(
    testapp, tenant, change, field
):
    url = f"/{tenant.slug}/settings"
    response = testapp.patch_json(url, change, headers=tenant.auth, status=400)
    assert response.json["error"] == "invalid_input"
    assert field in response.json["fields"]
    if field in ("settings.support_email", "flags.new_dashboard"):  # listed, not the owner's
        assert response.json["fields"][field] == "only the operator can change this"
    assert testapp.get(url, headers=tenant.auth).json["settings"] == DEFAULTS


def test_only_the_owner_changes_settings_and_members_read_them(testapp, tenant, add_user):
    admin_user = add_user(tenant.slug, "admin@s.example", "Admin", password=PASSWORD)
    role_url = f"/{tenant.slug}/users/{admin_user['id']}/role"
    testapp.put_json(role_url, {"role": "admin"}, headers=tenant.auth)
    token = login(testapp, tenant.slug, "admin@s.example")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/{tenant.slug}/settings"
    testapp.get(url, headers=headers, status=200)
    testapp.patch_json(url, {"settings": {"theme": "dark"}}, headers=headers, status=403)
    testapp.get(url, status=401)


def test_the_operator_sets_anything_and_sees_defaults_and_overrides(testapp, tenant):
    url = f"/-/tenants/{tenant.slug}/settings"
    change = {"settings": {"support_email": "help@acme.example"}, "flags": {"new_dashboard": True}}
    body = testapp.patch_json(url, change, headers=OPERATOR, status=200).json
    assert body["settings"]["support_email"] == {
        "type": "str",
        "default": "",
        "override": "help@acme.example",
        "value": "help@acme.example",
        "owner_editable": False,
        "plan": None,  # the tenant is on no plan (``tests/lifecycle/test_plans.py``)
    }
    assert body["flags"]["new_dashboard"]["on"] is True
    assert testapp.get(url, headers=OPERATOR).json == body
    mine = testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth).json
    assert mine["settings"]["support_email"] == "help@acme.example"
    assert mine["flags"]["new_dashboard"] is True
    testapp.patch_json(url, {"flags": {"fast_search": 101}}, headers=OPERATOR, status=400)
    testapp.get(url, headers=tenant.auth, status=401)  # a tenant's token is no operator's


def test_a_percentage_flag_is_on_for_that_share_and_growing_it_only_adds(testapp, make_tenant):
    made = [make_tenant("pf") for _ in range(8)]
    on_at = {}
    for percent in (0, 30, 70, 100):
        for tenant in made:
            testapp.patch_json(
                f"/-/tenants/{tenant.slug}/settings",
                {"flags": {"fast_search": percent}},
                headers=OPERATOR,
            )
        on_at[percent] = {
            t.slug
            for t in made
            if testapp.get(f"/{t.slug}/settings", headers=t.auth).json["flags"]["fast_search"]
        }
    assert on_at[0] == set()
    assert on_at[100] == {t.slug for t in made}
    assert on_at[0] <= on_at[30] <= on_at[70] <= on_at[100]
    assert on_at[30] == {t.slug for t in made if bucket("fast_search", t.id) < 30}


def test_a_change_made_in_sql_reaches_the_cached_tenant(engine, testapp, tenant):
    """The overrides travel with the directory entry, which the registry's trigger keeps true:
    even a change made behind the app's back is seen (the cache has no expiry: only the
    notification can bring it; the deadline is generous, a loaded CI machine once took over a
    second, and how fast belongs to a benchmark)."""
    url = f"/{tenant.slug}/settings"
    testapp.get(url, headers=tenant.auth)  # cached now
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE tenantapp.tenants SET settings = :s WHERE id = :i"),
            {"s": '{"theme": "dark"}', "i": tenant.id},
        )
    started = time.monotonic()
    while testapp.get(url, headers=tenant.auth).json["settings"]["theme"] != "dark":
        assert time.monotonic() - started < 10, "the change never reached the cache"


def test_app_code_reads_settings_and_flags(settings, tenant, testapp):
    """What an app author writes: ``request.tenant.settings`` and ``request.feature``."""
    testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings",
        {"settings": {"theme": "dark"}, "flags": {"new_dashboard": True}},
        headers=OPERATOR,
    )

    def dashboard(context, request):
        return {"theme": request.tenant.settings["theme"], "new": request.feature("new_dashboard")}

    config = configure(settings)
    config.add_view(dashboard, context=Tenant, name="dashboard", renderer="json", permission="view")
    app = config.make_wsgi_app()
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
        body = client.get(f"/{tenant.slug}/dashboard", headers=tenant.auth).json
        assert body == {"theme": "dark", "new": True}
    finally:
        service(app.registry, ICacheListener).stop()
        service(app.registry, IServers).dispose()


def test_the_cli_shows_and_changes_them_as_the_api_does(config_uri, tenant, capsys):
    assert admin([config_uri, "tenant-settings", tenant.slug, "--set", "theme=dark"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["settings"]["theme"]["value"] == "dark"
    assert admin([config_uri, "tenant-settings", tenant.slug, "--flag", "fast_search=100"]) == 0
    assert json.loads(capsys.readouterr().out)["flags"]["fast_search"]["on"] is True
    assert admin([config_uri, "tenant-settings", tenant.slug, "--set", "theme="]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["theme"]["override"] is None

    assert admin([config_uri, "tenant-settings", tenant.slug, "--set", "theme=neon"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("tenantapp-admin: invalid change: settings.theme")
    assert len(error.strip().splitlines()) == 1


def test_overrides_travel_with_an_exported_tenant(testapp, tenancy, tenant, fresh_slug, tmp_path):
    testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings",
        {"settings": {"theme": "dark"}, "flags": {"fast_search": 100}},
        headers=OPERATOR,
    )
    tenancy.export_tenant(tenant.slug, tmp_path / "a.zip")
    tenancy.import_tenant(tmp_path / "a.zip", fresh_slug)
    body = testapp.get(f"/-/tenants/{fresh_slug}/settings", headers=OPERATOR).json
    assert body["settings"]["theme"]["value"] == "dark"
    assert body["flags"]["fast_search"]["on"] is True


def test_an_override_that_no_longer_fits_its_declaration_reads_as_the_default(
    engine, testapp, tenant
):
    """An archive from an app declared otherwise, or an ini changed since: never a wrong type
    in app code."""
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE tenantapp.tenants SET settings = :s WHERE id = :i"),
            {"s": '{"max_upload_mb": "lots", "theme": "neon"}', "i": tenant.id},
        )
    started = time.monotonic()
    while True:
        body = testapp.get(f"/-/tenants/{tenant.slug}/settings", headers=OPERATOR).json
        if body["settings"]["theme"]["override"] == "neon":
            break
        assert time.monotonic() - started < 1
    assert body["settings"]["theme"]["value"] == "light"
    mine = testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth).json
    assert mine["settings"] == DEFAULTS
