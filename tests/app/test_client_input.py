"""Nothing a client sends produces a 5xx, and no value that validates breaks a tenant: what
attacking the fields, filters, settings, quotas and operator endpoints found (issue 21)."""

import pytest

from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
HUGE = "1" + "0" * 400


@pytest.fixture
def fielded(testapp, tenant):
    for field in ({"name": "score", "type": "number"}, {"name": "note", "type": "text"}):
        testapp.post_json(f"/{tenant.slug}/fields", field, headers=tenant.auth, status=201)
    return tenant


def is_client_error(response, status: int = 400) -> None:
    assert response.status_int == status, response.text
    assert response.content_type == "application/json"
    assert response.json["message"]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("auth", [False, True])
def test_a_field_name_with_nul_is_404(testapp, fielded, method, auth):
    headers = fielded.auth if auth else {}
    answer = testapp.request(
        f"/{fielded.slug}/fields/%00", method=method, headers=headers, expect_errors=True
    )
    assert answer.status_int in (401, 404)
    answer = testapp.request(
        f"/{fielded.slug}/console/fields/%00/delete", method="POST", expect_errors=True
    )
    assert answer.status_int < 500


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "9" * 5000, "-1e999"]
)
def test_a_number_filter_that_is_no_finite_number_is_400(testapp, fielded, value):
    answer = testapp.get(
        f"/{fielded.slug}/users", {"custom.score": value}, headers=fielded.auth, status=400
    )
    is_client_error(answer)
    assert "custom.score" in answer.json.get("fields", {}) or "custom.score" in answer.text


def test_a_text_filter_with_nul_is_400(testapp, fielded):
    answer = testapp.get(
        f"/{fielded.slug}/users", {"custom.note": "a\x00b"}, headers=fielded.auth, status=400
    )
    is_client_error(answer)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_custom_number_that_is_no_finite_number_is_400(testapp, fielded, literal):
    body = f'{{"email": "n@example.com", "name": "N", "custom": {{"score": {literal}}}}}'
    answer = testapp.post(
        f"/{fielded.slug}/users",
        body,
        headers={**fielded.auth, "Content-Type": "application/json"},
        status=400,
    )
    is_client_error(answer)


def test_a_text_setting_with_nul_is_400(testapp, tenant):
    answer = testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings",
        {"settings": {"support_email": "a\x00b"}},
        headers=OPERATOR,
        status=400,
    )
    is_client_error(answer)


@pytest.mark.parametrize(
    "name, value",
    [
        ("quota_statement_timeout_ms", 2**31),
        ("quota_statement_timeout_ms", 10**15),
        ("quota_work_mem_kb", 1),
        ("quota_work_mem_kb", 2**40),
        ("quota_requests_per_second", int(HUGE)),
        ("quota_burst", int(HUGE)),
        ("quota_requests_per_second", -1),
        ("quota_max_users", -5),
        ("max_upload_mb", int(HUGE)),
    ],
)
def test_a_quota_out_of_its_range_is_refused_and_the_tenant_keeps_working(
    testapp, tenant, name, value
):
    answer = testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings",
        {"settings": {name: value}},
        headers=OPERATOR,
        expect_errors=True,
    )
    is_client_error(answer)
    assert f"settings.{name}" in answer.json["fields"]
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 1, "operator": "al\x00ice", "reason": "ticket"},
        {"user_id": 1, "operator": "alice", "reason": "tick\x00et"},
        {"user_id": int(HUGE), "operator": "alice", "reason": "ticket"},
    ],
)
def test_impersonation_input_is_checked(testapp, tenant, body):
    answer = testapp.post_json(
        f"/-/tenants/{tenant.slug}/impersonation", body, headers=OPERATOR, expect_errors=True
    )
    assert answer.status_int in (400, 404), answer.text


@pytest.mark.parametrize("days", ["²", "9" * 5000, "-1", "0", "x"])
def test_usage_days_that_are_no_count_are_400(testapp, tenant, days):
    answer = testapp.get(
        f"/-/tenants/{tenant.slug}/usage", {"days": days}, headers=OPERATOR, expect_errors=True
    )
    is_client_error(answer)
