"""Attribute-based policies per tenant (Cedar): validated on save with where the error is,
evaluated after the roles, pushed into SQL for lists (full pages), explained to owners."""

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD, login
from tests.console.test_console import console_login, csrf_of

SAME_DEPARTMENT = """
// members see only the users of their own department
forbid(principal, action == Action::"view", resource)
when { principal.role == "member" && principal.id != resource.id }
unless {
  resource.custom has department && principal.custom has department &&
  resource.custom.department == principal.custom.department
};
"""
OWNERS_FIELDS = """
forbid(principal, action == Action::"update", resource)
when { principal.role == "admin" && resource.role == "owner" };
"""


@pytest.fixture
def department(testapp, tenant):
    body = {"name": "department", "type": "text"}
    testapp.post_json(f"/{tenant.slug}/fields", body, headers=tenant.auth, status=201)


def put(testapp, tenant, source: str, status=200):
    url = f"/{tenant.slug}/authz/policies"
    return testapp.put_json(url, {"source": source}, headers=tenant.auth, status=status).json


def as_user(testapp, tenant, email: str) -> dict:
    return {"Authorization": f"Bearer {login(testapp, tenant.slug, email)}"}


def people(add_user, tenant, department: str, count: int, prefix: str) -> list[dict]:
    return [
        add_user(
            tenant.slug,
            f"{prefix}{n}@example.com",
            password=PASSWORD,
            custom={"department": department},
        )
        for n in range(count)
    ]


def test_a_member_sees_only_their_department_in_full_pages(
    testapp, tenant, department, add_user, engine
):
    people(add_user, tenant, "eng", 60, "eng")
    sales = people(add_user, tenant, "sales", 3, "sales")
    put(testapp, tenant, SAME_DEPARTMENT)
    member = as_user(testapp, tenant, "sales0@example.com")
    statements = []
    capture = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        page = testapp.get(f"/{tenant.slug}/users?limit=50", headers=member).json
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    assert sorted(u["email"] for u in page["items"]) == sorted(u["email"] for u in sales)
    assert page["next"] is None
    listing = [s for s in statements if "FROM" in s and "users" in s and "LIMIT" in s]
    assert len(listing) == 1 and "custom" in listing[0].split("WHERE", 1)[1]  # filtered in SQL
    testapp.get(f"/{tenant.slug}/users/{sales[1]['id']}", headers=member, status=200)
    eng = testapp.get(f"/{tenant.slug}/users?limit=1", headers=tenant.auth).json["items"][0]
    denied = testapp.get(f"/{tenant.slug}/users/{eng['id']}", headers=member, status=403)
    assert "policies" in denied.json["message"] or denied.json["error"] == "forbidden"
    owners = testapp.get(f"/{tenant.slug}/users?limit=50", headers=tenant.auth).json
    assert len(owners["items"]) == 50 and owners["next"]  # the policy binds members only


def test_a_policy_sql_cannot_say_is_applied_row_by_row_and_pages_stay_full(
    testapp, tenant, department, add_user
):
    people(add_user, tenant, "eng", 5, "eng")
    kept = people(add_user, tenant, "ops", 4, "ops")
    put(
        testapp,
        tenant,
        'forbid(principal, action == Action::"view", resource)'
        ' when { principal.role == "member" && !(resource.email like "ops*") };',
    )
    member = as_user(testapp, tenant, "ops0@example.com")
    first = testapp.get(f"/{tenant.slug}/users?limit=2", headers=member).json
    assert len(first["items"]) == 2 and first["next"]
    second = testapp.get(first["next"], headers=member).json
    emails = [u["email"] for u in first["items"] + second["items"]]
    assert sorted(emails) == sorted(u["email"] for u in kept) and second["next"] is None


def test_admins_may_not_change_owners_but_may_change_members(testapp, tenant, add_user):
    admin = add_user(tenant.slug, "ad@example.com", password=PASSWORD)
    testapp.put_json(
        f"/{tenant.slug}/users/{admin['id']}/role", {"role": "admin"}, headers=tenant.auth
    )
    member = add_user(tenant.slug, "me@example.com")
    put(testapp, tenant, OWNERS_FIELDS)
    auth = as_user(testapp, tenant, "ad@example.com")
    owner_id = testapp.get(f"/{tenant.slug}/users?limit=1", headers=tenant.auth).json["items"][0]
    change = {"name": "Renamed"}
    testapp.patch_json(f"/{tenant.slug}/users/{owner_id['id']}", change, headers=auth, status=403)
    testapp.patch_json(f"/{tenant.slug}/users/{member['id']}", change, headers=auth, status=200)
    # the owner is no admin: what was worked out for the admin's role is not theirs
    testapp.patch_json(
        f"/{tenant.slug}/users/{owner_id['id']}", change, headers=tenant.auth, status=200
    )
    why = testapp.get(
        f"/{tenant.slug}/authz/explain?principal={admin['id']}&action=update"
        f"&resource={owner_id['id']}",
        headers=tenant.auth,
    ).json
    assert why == {"allowed": False, "forbidding": ["policy0"], "errors": []}


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("forbid(principal, action, resource)\nwhen { principal.role == };", "line 1, column 1"),
        (
            OWNERS_FIELDS + "\nforbid(principal, action, resource) when { resource.nope == 1 };",
            "line 5, column 1",
        ),
        ("permit(principal, action, resource);", "line 1, column 1"),
        ('forbid(principal, action == Action::"fly", resource);', "line 1, column 1"),
    ],
)
def test_a_bad_policy_is_refused_saying_where(testapp, tenant, source, where):
    refused = put(testapp, tenant, source, status=400)
    assert refused["fields"]["source"].startswith(where), refused
    assert testapp.get(f"/{tenant.slug}/authz/policies", headers=tenant.auth).json["source"] == ""


def test_policies_are_the_tenants_own(testapp, tenant, other_tenant, department, add_user):
    put(testapp, tenant, SAME_DEPARTMENT)
    add_user(other_tenant.slug, "x@example.com", password=PASSWORD)
    add_user(other_tenant.slug, "y@example.com")
    member = as_user(testapp, other_tenant, "x@example.com")
    users = testapp.get(f"/{other_tenant.slug}/users", headers=member).json["items"]
    assert len(users) == 3  # the other tenant has no policies: its members see everyone
    members_only = as_user(testapp, other_tenant, "x@example.com")
    testapp.get(f"/{other_tenant.slug}/authz/policies", headers=members_only, status=403)


POLICY_SETS = [
    SAME_DEPARTMENT,
    OWNERS_FIELDS,
    "forbid(principal, action, resource)"
    " when { resource.custom has level && resource.custom.level == 3 };",
    'forbid(principal, action == Action::"delete", resource)'
    ' unless { principal.role == "owner" || resource.email == "x@a.example" };',
    'forbid(principal, action, resource) when { resource.email like "*@b.example" };',
    # equalities kept as sets (one SQL ANY), beside one that is not, and a scope
    'forbid(principal, action == Action::"view", resource)'
    ' when { resource.email == "m@b.example" };'
    'forbid(principal, action, resource) when { resource.email == "x@a.example" };'
    'forbid(principal, action == Action::"update", resource) when { resource.role == "owner" };'
    'forbid(principal, action, resource) when { principal.role == "member" && resource.id == 1 };',
    'forbid(principal == User::"3", action, resource);'
    'forbid(principal, action, resource) when { resource.email == "o@a.example" };',
]


@pytest.mark.parametrize("source", POLICY_SETS)
def test_the_quick_decision_agrees_with_cedar(source):
    """What the kept residuals decide is what Cedar decides, over every pair of these users
    and every action (or they leave it to Cedar: None)."""
    from types import SimpleNamespace

    from tenantapp.authz import cedar

    policies = cedar.checked(source, None)
    users = [
        SimpleNamespace(id=n, role=role, email=email, custom=custom)
        for n, (role, email, custom) in enumerate(
            [
                ("owner", "o@a.example", {"department": "eng"}),
                ("admin", "x@a.example", {"department": "sales", "level": 3}),
                ("member", "m@b.example", {"department": "sales"}),
                ("member", "n@a.example", {}),
                ("member", "p@a.example", {"department": "eng", "level": "3"}),
            ],
            start=1,
        )
    ]
    for principal in users:
        for resource in users:
            for action in cedar.ACTIONS:
                full = cedar.decide(policies, None, principal, action, resource).allowed
                quick = cedar.quick_decision(policies, None, principal, action, resource)
                assert quick in (full, None) or (quick is False and not full), (
                    principal.id,
                    resource.id,
                    action,
                    quick,
                    full,
                )
                assert not (quick is True and not full)


def test_the_console_saves_policies_says_where_one_is_wrong_and_answers_the_test_box(
    app, testapp, tenant, add_user
):
    admin = add_user(tenant.slug, "ada@example.com", password=PASSWORD)
    testapp.put_json(
        f"/{tenant.slug}/users/{admin['id']}/role", {"role": "admin"}, headers=tenant.auth
    )
    owner = console_login(app, tenant.slug, tenant.owner_email)
    url = f"/{tenant.slug}/console/policies"
    page = owner.get(url)
    wrong = {"source": "forbid(principal, action, resource)\nwhen { principal.role == };"}
    refused = owner.post(url, {**wrong, "csrf_token": csrf_of(page)}, status=400)
    assert "line 1, column 1" in refused.text and "principal.role == }" in refused.text
    assert put(testapp, tenant, "", status=200)["source"] == ""  # nothing was kept
    owner.post(url, {"source": OWNERS_FIELDS, "csrf_token": csrf_of(page)}, status=303)
    assert "resource.role == &#34;owner&#34;" in owner.get(url).text
    asked = owner.get(
        url, {"principal": "ada@example.com", "action": "update", "resource": tenant.owner_email}
    )
    assert "No: forbidden by policy0." in asked.text
    allowed = owner.get(
        url, {"principal": "ada@example.com", "action": "view", "resource": tenant.owner_email}
    )
    assert "Yes: no policy forbids it." in allowed.text
    unknown = owner.get(
        url, {"principal": "nobody@example.com", "action": "view", "resource": "x"}, status=400
    )
    assert "principal" in unknown.text


def test_forbids_of_one_email_each_leave_full_pages_without_those_users(testapp, tenant, add_user):
    """Ten "never this one" policies are one condition in SQL (``email = ANY(...)``): the list
    leaves out exactly those users and its pages stay full."""
    people = [add_user(tenant.slug, f"p{n}@example.com") for n in range(12)]
    blocked = {f"p{n}@example.com" for n in range(0, 12, 2)}
    put(
        testapp,
        tenant,
        "\n".join(
            f'forbid(principal, action == Action::"view", resource)'
            f' when {{ resource.email == "{email}" }};'
            for email in sorted(blocked)
        ),
    )
    page = testapp.get(f"/{tenant.slug}/users?limit=3", headers=tenant.auth).json
    assert len(page["items"]) == 3
    seen, url = [], f"/{tenant.slug}/users?limit=3"
    while url:
        answer = testapp.get(url, headers=tenant.auth).json
        seen += [u["email"] for u in answer["items"]]
        url = answer.get("next")
    assert not blocked & set(seen) and len(seen) == 1 + len(people) - len(blocked)
    one = people[0]["id"]
    testapp.get(f"/{tenant.slug}/users/{one}", headers=tenant.auth, status=403)


def test_the_forbidden_values_reach_postgresql_as_they_were_written(tenantapp_database_url):
    """The ``ANY`` of equality forbids travels as one text[] literal: whatever a value holds
    (quotes, backslashes, commas, braces, the word NULL, nothing), PostgreSQL reads it back."""
    from tenantapp.authz.cedar import _text_array

    values = ['a"b', "c\\d", "e,f", "{g}", "NULL", "", " h ", "ü@example.com"]
    engine = sa.create_engine(tenantapp_database_url)
    try:
        with engine.connect() as connection:
            read = connection.scalar(
                sa.select(sa.cast(sa.literal(_text_array(values)), sa.ARRAY(sa.String)))
            )
    finally:
        engine.dispose()
    assert read == values
