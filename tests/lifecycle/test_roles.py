"""Members read; admins manage users; owners manage roles and the tenant."""

import pytest

from tests.conftest import login


@pytest.fixture
def people(client, testapp, tenant):
    """An admin and two members, each logged in: role -> (user json, auth headers)."""
    made = {}
    for key, role in (("admin", "admin"), ("member", "member"), ("other", "member")):
        email = f"{key}@x.example"
        body = {"email": email, "name": key, "password": "password-" + key}
        user = client.post_json(f"/{tenant.slug}/users", body).json
        if role != "member":
            client.put_json(f"/{tenant.slug}/users/{user['id']}/role", {"role": role})
        token = login(testapp, tenant.slug, email, "password-" + key)
        made[key] = (user, {"Authorization": f"Bearer {token}"})
    return made


def test_members_read_but_change_nothing(testapp, tenant, people):
    other, _ = people["other"]
    _, auth = people["member"]
    users = f"/{tenant.slug}/users"
    assert len(testapp.get(users, headers=auth).json["items"]) == 4
    testapp.get(f"{users}/{other['id']}", headers=auth, status=200)
    body = {"email": "x@x.example", "name": "x"}
    assert testapp.post_json(users, body, headers=auth, status=403).json["error"] == "forbidden"
    testapp.patch_json(f"{users}/{other['id']}", {"name": "y"}, headers=auth, status=403)
    testapp.delete(f"{users}/{other['id']}", headers=auth, status=403)
    testapp.put_json(f"{users}/{other['id']}/role", {"role": "admin"}, headers=auth, status=403)
    testapp.get(f"/{tenant.slug}/audit", headers=auth, status=403)


def test_admins_manage_members_but_not_owners_admins_or_roles(testapp, tenant, people):
    member, _ = people["member"]
    _, auth = people["admin"]
    users = f"/{tenant.slug}/users"
    created = testapp.post_json(users, {"email": "n@x.example", "name": "n"}, headers=auth).json
    assert created["role"] == "member"
    testapp.patch_json(f"{users}/{member['id']}", {"name": "renamed"}, headers=auth, status=200)
    testapp.delete(f"{users}/{created['id']}", headers=auth, status=204)
    testapp.put_json(f"{users}/{member['id']}/role", {"role": "admin"}, headers=auth, status=403)
    owner_id = testapp.get(users, headers=auth).json["items"][0]["id"]
    testapp.patch_json(f"{users}/{owner_id}", {"name": "pwned"}, headers=auth, status=403)
    testapp.delete(f"{users}/{owner_id}", headers=auth, status=403)
    body = {"password": "new password 1"}
    testapp.put_json(f"{users}/{owner_id}/password", body, headers=auth, status=403)
    testapp.get(f"/{tenant.slug}/audit", headers=auth, status=200)


def test_role_is_not_settable_through_create_or_patch(client, tenant, people):
    member, _ = people["member"]
    url = f"/{tenant.slug}/users"
    body = {"email": "z@x.example", "name": "z", "role": "owner"}
    assert "role" in client.post_json(url, body, status=400).json["fields"]
    client.patch_json(f"{url}/{member['id']}", {"role": "owner"}, status=400)


def test_owners_change_roles_and_the_last_owner_stays(client, testapp, tenant, people):
    member, member_auth = people["member"]
    users = f"/{tenant.slug}/users"
    owner_id = client.get(users).json["items"][0]["id"]
    client.put_json(f"{users}/{owner_id}/role", {"role": "member"}, status=409)
    client.delete(f"{users}/{owner_id}", status=409)
    client.put_json(f"{users}/{member['id']}/role", {"role": "owner"}, status=200)
    # now there are two owners: the first may step down, and the new one is in charge
    client.put_json(f"{users}/{owner_id}/role", {"role": "member"}, status=200)
    assert testapp.get(f"{users}/{owner_id}", headers=member_auth).json["role"] == "member"
    response = client.put_json(f"{users}/{member['id']}/role", {"role": "king"}, status=403)
    assert response.json["error"] == "forbidden"  # the former owner is a member now


def test_users_set_their_own_password_but_no_one_elses(testapp, tenant, people):
    member, auth = people["member"]
    other, _ = people["other"]
    users = f"/{tenant.slug}/users"
    body = {"password": "my new password"}
    testapp.put_json(f"{users}/{member['id']}/password", body, headers=auth, status=204)
    login(testapp, tenant.slug, "member@x.example", "my new password")
    testapp.put_json(f"{users}/{other['id']}/password", body, headers=auth, status=403)
