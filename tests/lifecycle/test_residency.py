"""Residency: a tenant pinned to a region is created, moved, imported and restored only onto
that region's servers, its jobs run only by that region's workers, and the operator sees where
each tenant is pinned. The test settings label the ``second`` server ``eu``; ``default`` is in
no region."""

import pytest
import sqlalchemy as sa

from tenantapp import main
from tenantapp.interfaces import IJobQueue, service
from tenantapp.lifecycle.provisioning import ResidencyError
from tenantapp.throwaway import stop_app
from tests.quotas.test_quotas import OPERATOR


def test_a_pinned_tenant_is_placed_in_its_region_and_the_operator_sees_it(
    testapp, tenancy, fresh_slug
):
    made = testapp.post_json(
        "/-/tenants", {"slug": fresh_slug, "region": "eu"}, headers=OPERATOR, status=201
    ).json
    assert (made["server"], made["region"]) == ("second", "eu")
    shown = testapp.get(f"/-/tenants/{fresh_slug}", headers=OPERATOR).json
    assert shown["region"] == "eu"
    console = testapp.get("/-/tenants", headers=OPERATOR).json["items"]
    assert {t["slug"]: t["region"] for t in console}[fresh_slug] == "eu"


def test_placing_a_pinned_tenant_elsewhere_is_refused_before_anything_is_written(
    testapp, tenancy, fresh_slug
):
    refused = testapp.post_json(
        "/-/tenants",
        {"slug": fresh_slug, "region": "eu", "server": "default"},
        headers=OPERATOR,
        status=409,
    ).json
    assert refused["error"] == "residency"
    assert "pinned to region 'eu'" in refused["message"] and "'default'" in refused["message"]
    nowhere = testapp.post_json(
        "/-/tenants", {"slug": fresh_slug, "region": "us"}, headers=OPERATOR, status=409
    ).json
    assert "no server is in region 'us'" in nowhere["message"]
    assert fresh_slug not in [t.slug for t in tenancy.list_tenants()]


def test_a_pinned_tenant_moves_within_its_region_only(tenancy, fresh_slug):
    tenancy.create_tenant(fresh_slug, region="eu", mode="schema")
    with pytest.raises(ResidencyError, match="cannot move a tenant pinned to region 'eu'"):
        tenancy.move_tenant(fresh_slug, "shared", "default")
    assert tenancy.get_tenant(fresh_slug).server == "second"
    tenancy.move_tenant(fresh_slug, "shared")  # another mode, the same server: allowed
    info = tenancy.get_tenant(fresh_slug)
    assert (info.mode, info.server, info.region) == ("shared", "second", "eu")


def test_an_archive_of_a_pinned_tenant_goes_back_into_its_region_only(
    tenancy, fresh_slug, tmp_path, make_tenant
):
    tenancy.create_tenant(fresh_slug, region="eu")
    path = tmp_path / "eu.zip"
    tenancy.export_tenant(fresh_slug, path)
    copy = f"{fresh_slug}-c"
    with pytest.raises(ResidencyError, match="cannot place a tenant pinned to region 'eu'"):
        tenancy.import_tenant(path, copy, server="default")
    assert copy not in [t.slug for t in tenancy.list_tenants()]
    try:
        info = tenancy.import_tenant(path, copy)
        assert (info.server, info.region) == ("second", "eu")
    finally:
        tenancy.purge_tenant(copy)


def test_a_regions_jobs_are_run_by_that_regions_workers_only(settings, tenancy, fresh_slug):
    tenancy.create_tenant(fresh_slug, region="eu")
    apps = {
        region: main({}, **{**settings, "tenantapp.jobs.region": region}) for region in ("us", "eu")
    }
    try:
        us, eu = (service(apps[r].registry, IJobQueue) for r in ("us", "eu"))
        assert us.fan_out("quotas.measure_storage") >= 1
        engine = tenancy.registry

        def state() -> set[str]:
            with engine.connect() as connection:
                return set(
                    connection.execute(
                        sa.text(
                            "SELECT status::text FROM procrastinate.procrastinate_jobs"
                            " WHERE queue_name = 'tenants@eu' AND args->>'tenant' = :slug"
                        ),
                        {"slug": fresh_slug},
                    ).scalars()
                )

        us.drain(install_signal_handlers=False)
        assert state() == {"todo"}  # not the US worker's to run
        eu.drain(install_signal_handlers=False)
        assert state() == {"succeeded"}
    finally:
        for app in apps.values():
            stop_app(app)


def test_a_pinned_tenants_portable_archive_is_written_for_its_own_region_only(
    tenancy, fresh_slug, tmp_path
):
    tenancy.create_tenant(fresh_slug, region="eu")
    path = tmp_path / "out.zip"
    for to_region in (None, "us"):
        with pytest.raises(ResidencyError, match="pinned to region 'eu'"):
            tenancy.export_tenant(fresh_slug, path, portable=True, to_region=to_region)
        assert not path.exists()
    tenancy.export_tenant(fresh_slug, path, portable=True, to_region="eu")
    assert path.exists()
    tenancy.export_tenant(fresh_slug, tmp_path / "here.zip")  # not portable: for here, pinned
