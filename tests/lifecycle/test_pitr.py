"""Point-in-time restore of one tenant, on a PostgreSQL of the test's own that archives its WAL
(the embedded server, as the app runs it): rows deleted after a moment come back, as a new
tenant while the original keeps serving, or in place; a time before the tenant existed, or
before any base backup, is refused."""

from datetime import UTC, timedelta

import pytest
import sqlalchemy as sa
import webtest

from tenantapp import main
from tenantapp.interfaces import IPasswordHasher, service
from tenantapp.lifecycle.pitr import RestoreError, base_backup, restore_tenant, wal_archive
from tenantapp.scripts.admin import main as admin
from tenantapp.testing import OPERATOR_TOKEN, PASSWORD, login
from tenantapp.throwaway import archived_app_settings, embedded_server, stop_app
from tests.conftest import TEST_MODE, tenancy_for, write_ini

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """An app on a server of its own whose WAL is archived, with a tenant of three users."""
    directory = tmp_path_factory.mktemp("pitr")
    with embedded_server(directory / "pgdata", archive=True) as server:
        settings = {
            **archived_app_settings(server, directory),
            "tenantapp.operator_token": OPERATOR_TOKEN,
            "tenantapp.default_mode": TEST_MODE,  # each CI suite: its mode
        }
        tenancy = tenancy_for(settings)
        tenancy.migrate()
        app = main({}, **settings)
        try:
            yield settings, tenancy, app
        finally:
            stop_app(app)
            tenancy.servers.dispose()


def users_of(client, slug: str, token: str) -> set[str]:
    answer = client.get(f"/{slug}/users", headers={"Authorization": f"Bearer {token}"})
    return {u["email"] for u in answer.json["items"]}


def test_deleted_rows_come_back_as_a_new_tenant_and_in_place(archived, tmp_path, capsys):
    settings, tenancy, app = archived
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    hasher = service(app.registry, IPasswordHasher)
    with tenancy.registry.connect() as connection:
        before_any_backup = connection.scalar(sa.text("SELECT now()"))
    base_backup(wal_archive(settings), settings["sqlalchemy.url"])  # the rest: replayed WAL
    with tenancy.registry.connect() as connection:
        before_it_existed = connection.scalar(sa.text("SELECT now()"))
    tenancy.create_tenant("acme", None, "owner@acme.example", PASSWORD, hasher=hasher)
    tenancy.create_tenant("globex", None, "owner@globex.example", PASSWORD, hasher=hasher)
    token = login(client, "acme", "owner@acme.example")
    other = login(client, "globex", "owner@globex.example")
    auth = {"Authorization": f"Bearer {token}"}
    for email in ("ann@example.com", "bob@example.com"):
        client.post_json("/acme/users", {"email": email, "name": email[:3]}, headers=auth)
    file_id = client.post("/acme/files?name=a.txt", b"kept in a file", headers=auth).json["id"]
    client.post_json("/acme/users", {"email": "cy@example.com", "name": "Cy"}, headers=auth)
    with tenancy.registry.connect() as connection:  # every write above has committed by now
        moment = connection.scalar(sa.text("SELECT now()"))
    everyone = {"owner@acme.example", "ann@example.com", "bob@example.com", "cy@example.com"}
    assert users_of(client, "acme", token) == everyone
    for user in client.get("/acme/users", headers=auth).json["items"]:
        if user["email"] in ("bob@example.com", "cy@example.com"):
            client.delete(f"/acme/users/{user['id']}", headers=auth, status=204)
    client.delete(f"/acme/files/{file_id}", headers=auth, status=204)  # its blob: set aside
    client.post_json(
        "/globex/users",
        {"email": "gus@example.com", "name": "Gus"},
        headers={"Authorization": f"Bearer {other}"},
    )

    done = restore_tenant(tenancy, settings, "acme", moment, as_slug="acme-then")
    assert done["tenant"] == "acme-then" and done["replaced"] is None
    copy = login(client, "acme-then", "owner@acme.example")
    assert users_of(client, "acme-then", copy) == everyone
    content = client.get(
        f"/acme-then/files/{file_id}/content", headers={"Authorization": f"Bearer {copy}"}
    )
    assert content.body == b"kept in a file"
    # the original kept serving, as it is now; another tenant is untouched
    assert users_of(client, "acme", token) == {"owner@acme.example", "ann@example.com"}
    assert "gus@example.com" in users_of(client, "globex", other)

    done = restore_tenant(tenancy, settings, "acme", moment)  # in place
    assert done["replaced"].startswith("acme-replaced-")
    again = login(client, "acme", "owner@acme.example")
    assert users_of(client, "acme", again) == everyone
    archived_one = tenancy.get_tenant(done["replaced"])
    assert archived_one.status == "deleted"  # the one it replaced: archived, restorable

    # the same through tenantapp-admin, as an operator runs it
    ini = write_ini(tmp_path / "app.ini", settings["sqlalchemy.url"], settings)
    assert admin([ini, "base-backup", "--keep", "2"]) == 0
    assert "base backup in" in capsys.readouterr().out
    when = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # UTC: it says no zone
    assert admin([ini, "restore-tenant", "acme", "--to", when, "--as", "acme-cli"]) == 0
    assert "as it was at" in capsys.readouterr().out
    cli = login(client, "acme-cli", "owner@acme.example")
    assert users_of(client, "acme-cli", cli) == everyone
    with pytest.raises(SystemExit):  # argparse's usage error, saying why
        admin([ini, "restore-tenant", "acme", "--to", "yesterday-ish"])
    assert "not a time: 'yesterday-ish'" in capsys.readouterr().err

    with pytest.raises(RestoreError, match="did not exist"):
        restore_tenant(tenancy, settings, "globex", before_it_existed)
    with pytest.raises(RestoreError, match="no base backup"):
        restore_tenant(tenancy, settings, "acme", before_any_backup)
    with pytest.raises(RestoreError, match="in the future"):
        restore_tenant(tenancy, settings, "acme", moment + timedelta(days=1))
