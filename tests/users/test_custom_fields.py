"""Custom fields: a tenant's owner defines extra fields on its users; values are checked
against them, stored in JSONB, filterable, and travel with an exported tenant."""

import pytest

from tests.conftest import PASSWORD, login

FIELDS = [
    {"name": "plan", "type": "choice", "required": True, "choices": ["gold", "silver"]},
    {"name": "seats", "type": "integer"},
    {"name": "started", "type": "date"},
    {"name": "note", "type": "text"},
]


@pytest.fixture
def fielded(testapp, tenant):
    for field in FIELDS:
        testapp.post_json(f"/{tenant.slug}/fields", field, headers=tenant.auth, status=201)
    return tenant


def create(testapp, tenant, email: str, custom: dict | None, status: int = 201):
    body = {"email": email, "name": "Someone"}
    if custom is not None:
        body["custom"] = custom
    return testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth, status=status)


def test_fields_are_defined_and_listed(testapp, fielded, other_tenant):
    listed = testapp.get(f"/{fielded.slug}/fields", headers=fielded.auth).json["items"]
    assert [f["name"] for f in listed] == ["note", "plan", "seats", "started"]
    assert {
        "name": "seats",
        "type": "integer",
        "required": False,
        "choices": None,
        "sealed": False,
        "indexed": False,
        "index": None,
    } in listed
    again = testapp.post_json(
        f"/{fielded.slug}/fields", FIELDS[1], headers=fielded.auth, status=409
    )
    assert again.json["fields"] == {"name": "taken"}
    theirs = testapp.get(f"/{other_tenant.slug}/fields", headers=other_tenant.auth).json
    assert theirs["items"] == []  # one tenant's fields are its own


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Plan", "type": "text"},
        {"name": "x", "type": "colour"},
        {"name": "x", "type": "choice"},
        {"name": "x", "type": "text", "choices": ["a"]},
        {"name": "x", "type": "choice", "choices": []},
        {"name": "x", "type": "text", "required": "yes"},
    ],
)
def test_a_bad_definition_is_refused(testapp, tenant, bad):
    testapp.post_json(f"/{tenant.slug}/fields", bad, headers=tenant.auth, status=400)
    assert testapp.get(f"/{tenant.slug}/fields", headers=tenant.auth).json["items"] == []


def test_values_are_checked_against_the_definitions(testapp, fielded):
    for custom, field in (
        (None, "custom.plan"),
        ({"seats": 3}, "custom.plan"),
        ({"plan": "bronze"}, "custom.plan"),
        ({"plan": "gold", "seats": "3"}, "custom.seats"),
        ({"plan": "gold", "seats": 2.5}, "custom.seats"),
        ({"plan": "gold", "started": "yesterday"}, "custom.started"),
        ({"plan": "gold", "started": 20260101}, "custom.started"),
        ({"plan": "gold", "nope": 1}, "custom.nope"),
    ):
        refused = create(testapp, fielded, "bad@c.example", custom, status=400)
        assert field in refused.json["fields"], (custom, refused.json)
    made = create(
        testapp, fielded, "ok@c.example", {"plan": "gold", "seats": 3, "started": "2026-01-31"}
    ).json
    assert made["custom"] == {"plan": "gold", "seats": 3, "started": "2026-01-31"}
    url = f"/{fielded.slug}/users/{made['id']}"
    changed = testapp.patch_json(
        url, {"custom": {"seats": 5, "note": "vip"}}, headers=fielded.auth
    ).json
    assert changed["custom"] == {"plan": "gold", "seats": 5, "started": "2026-01-31", "note": "vip"}
    cleared = testapp.patch_json(url, {"custom": {"note": None}}, headers=fielded.auth).json
    assert "note" not in cleared["custom"]
    testapp.patch_json(url, {"custom": {"plan": None}}, headers=fielded.auth, status=400)
    assert testapp.get(url, headers=fielded.auth).json["custom"]["plan"] == "gold"


def test_the_list_filters_on_custom_values_and_pages_keep_the_filter(testapp, fielded):
    for i, plan in enumerate(["gold", "silver", "gold", "gold"]):
        create(testapp, fielded, f"u{i}@c.example", {"plan": plan, "seats": i})
    url = f"/{fielded.slug}/users"
    gold = testapp.get(f"{url}?custom.plan=gold", headers=fielded.auth).json["items"]
    assert [u["email"] for u in gold] == ["u0@c.example", "u2@c.example", "u3@c.example"]
    seats = testapp.get(f"{url}?custom.seats=2", headers=fielded.auth).json["items"]
    assert [u["email"] for u in seats] == ["u2@c.example"]
    page = testapp.get(f"{url}?custom.plan=gold&limit=2", headers=fielded.auth).json
    assert "custom.plan=gold" in page["next"]
    rest = testapp.get(page["next"], headers=fielded.auth).json["items"]
    assert [u["email"] for u in rest] == ["u3@c.example"]
    for query, name in (
        ("custom.nope=1", "custom.nope"),
        ("custom.seats=many", "custom.seats"),
        ("custom.plan=bronze", "custom.plan"),
    ):
        refused = testapp.get(f"{url}?{query}", headers=fielded.auth, status=400)
        assert name in refused.json["fields"]


def test_only_owners_define_fields_and_removing_one_removes_its_values(testapp, fielded, add_user):
    add_user(
        fielded.slug,
        "member@c.example",
        "Member",
        password=PASSWORD,
        custom={"plan": "silver", "note": "x"},
    )
    member = {"Authorization": f"Bearer {login(testapp, fielded.slug, 'member@c.example')}"}
    testapp.get(f"/{fielded.slug}/fields", headers=member, status=200)
    testapp.post_json(
        f"/{fielded.slug}/fields", {"name": "y", "type": "text"}, headers=member, status=403
    )
    testapp.delete(f"/{fielded.slug}/fields/note", headers=member, status=403)

    testapp.delete(f"/{fielded.slug}/fields/note", headers=fielded.auth, status=204)
    users = testapp.get(f"/{fielded.slug}/users?custom.plan=silver", headers=fielded.auth).json
    assert users["items"][0]["custom"] == {"plan": "silver"}
    actions = [
        e["action"]
        for e in testapp.get(f"/{fielded.slug}/audit", headers=fielded.auth).json["items"]
    ]
    assert "field.removed" in actions and "field.created" in actions


def test_fields_and_values_travel_with_an_exported_tenant(
    testapp, tenancy, fielded, fresh_slug, tmp_path
):
    create(testapp, fielded, "kept@c.example", {"plan": "gold", "started": "2026-02-01"})
    tenancy.export_tenant(fielded.slug, tmp_path / "f.zip")
    tenancy.import_tenant(tmp_path / "f.zip", fresh_slug)
    auth = {"Authorization": f"Bearer {login(testapp, fresh_slug, fielded.owner_email)}"}
    names = [f["name"] for f in testapp.get(f"/{fresh_slug}/fields", headers=auth).json["items"]]
    assert names == ["note", "plan", "seats", "started"]
    kept = testapp.get(f"/{fresh_slug}/users?custom.plan=gold", headers=auth).json["items"]
    assert [(u["email"], u["custom"]) for u in kept] == [
        ("kept@c.example", {"plan": "gold", "started": "2026-02-01"})
    ]


@pytest.mark.parametrize("name", ["BadName", "bad-name", "1abc", "_x"])
def test_a_bad_field_name_is_told_what_a_name_is(testapp, tenant, name):
    refused = testapp.post_json(
        f"/{tenant.slug}/fields", {"name": name, "type": "text"}, headers=tenant.auth, status=400
    )
    assert refused.json["fields"]["name"] == (
        "a name is a lowercase letter, then lowercase letters, digits or _ (63 at most)"
    )


def test_a_sealed_field_is_stored_sealed_read_in_the_clear_and_not_filtered(
    testapp, tenant, tenancy
):
    field = {"name": "ssn", "type": "text", "sealed": True}
    made = testapp.post_json(f"/{tenant.slug}/fields", field, headers=tenant.auth, status=201)
    assert made.json["sealed"] is True
    testapp.post_json(
        f"/{tenant.slug}/fields", {"name": "tier", "type": "integer"}, headers=tenant.auth
    )
    user = create(testapp, tenant, "s@f.example", {"ssn": "123-45-6789", "tier": 2}).json
    assert user["custom"] == {"ssn": "123-45-6789", "tier": 2}
    with tenant.owner_engine(tenancy).connect() as connection:
        stored = connection.exec_driver_sql(
            f'SELECT custom::text FROM "{tenant.schema_name}".users{tenant.where()}'
            f"{' AND' if tenant.where() else ' WHERE'} email = 's@f.example'"
        ).scalar()
    assert "123-45-6789" not in stored and '"tier": 2' in stored
    url = f"/{tenant.slug}/users/{user['id']}"
    changed = testapp.patch_json(url, {"custom": {"tier": 3}}, headers=tenant.auth).json
    assert changed["custom"] == {"ssn": "123-45-6789", "tier": 3}  # kept through a merge
    refused = testapp.get(
        f"/{tenant.slug}/users", {"custom.ssn": "123-45-6789"}, headers=tenant.auth, status=400
    )
    assert refused.json["fields"]["custom.ssn"] == "a sealed field cannot be filtered on"
