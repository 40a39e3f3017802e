"""Random sequences of operations across three tenants, each response checked against a model in
which tenants share nothing. Ids and emails are drawn across tenants on purpose."""

import json

import hypothesis.strategies as st
import pytest
import webtest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, text

from tenantapp.tenancy.binding import bind_connection
from tenantapp.users.models import User

EMAILS = ["ann@shared.example", "bob@shared.example", "cy@shared.example", "dee@x.example"]
NAMES = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12)
    .map(str.strip)
    .filter(bool)
)


@pytest.mark.slow
def test_tenants_share_nothing_under_random_operations(app, tenancy, make_tenant):
    tenants = [make_tenant("m") for _ in range(3)]
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    tenant_ids = st.sampled_from(range(len(tenants)))

    class SharedNothing(RuleBasedStateMachine):
        ids = Bundle("ids")

        @initialize()
        def reset(self):
            """Every tenant back to just its owner, and its ids counting from there again, so a
            replayed example meets the same ids (and the same cross-tenant id collisions) and
            Hypothesis can trust its replays; the model knows each owner."""
            self.model: list[dict[int, tuple[str, str]]] = []
            for t in tenants:
                with t.owner_engine(tenancy).begin() as connection:
                    bind_connection(connection, t.binding)
                    own = text(t.where().removeprefix(" WHERE ") or "true")  # the owner is no RLS
                    connection.execute(delete(User).where(User.role != "owner", own))
                    connection.execute(
                        text(
                            "SELECT setval(pg_get_serial_sequence('users', 'id'), "
                            "(SELECT max(id) FROM users))"
                        )
                    )
                (owner,) = self.call("GET", t, "/users").json["items"]
                self.model.append({owner["id"]: (owner["email"], owner["name"])})

        def call(self, method, t, path, body=None):
            return client.request(
                f"/{t.slug}{path}",
                method=method,
                headers={**t.auth, "Content-Type": "application/json"},
                body=b"" if body is None else json.dumps(body).encode(),
                expect_errors=True,
            )

        def emails(self, i):
            return {email for email, _ in self.model[i].values()}

        def owner_id(self, i):
            return min(self.model[i])

        @rule(target=ids, i=tenant_ids, email=st.sampled_from(EMAILS), name=NAMES)
        def create(self, i, email, name):
            response = self.call("POST", tenants[i], "/users", {"email": email, "name": name})
            if email in self.emails(i):
                assert response.status_int == 409
                return multiple()
            assert response.status_int == 201, response.text
            user = response.json
            assert (user["email"], user["name"]) == (email, name)
            self.model[i][user["id"]] = (email, name)
            return user["id"]

        @rule(i=tenant_ids, user_id=st.one_of(ids, st.integers(1, 60)))
        def get(self, i, user_id):
            response = self.call("GET", tenants[i], f"/users/{user_id}")
            expected = self.model[i].get(user_id)
            if expected is None:
                assert response.status_int == 404
            else:
                assert response.status_int == 200
                assert (response.json["email"], response.json["name"]) == expected

        @rule(i=tenant_ids, user_id=ids, name=NAMES)
        def rename(self, i, user_id, name):
            response = self.call("PATCH", tenants[i], f"/users/{user_id}", {"name": name})
            if user_id not in self.model[i]:
                assert response.status_int == 404
            else:
                assert response.status_int == 200
                self.model[i][user_id] = (self.model[i][user_id][0], name)

        @rule(i=tenant_ids, user_id=ids, email=st.sampled_from(EMAILS))
        def change_email(self, i, user_id, email):
            response = self.call("PATCH", tenants[i], f"/users/{user_id}", {"email": email})
            if user_id not in self.model[i]:
                assert response.status_int == 404
            elif email != self.model[i][user_id][0] and email in self.emails(i):
                assert response.status_int == 409
            else:
                assert response.status_int == 200
                self.model[i][user_id] = (email, self.model[i][user_id][1])

        @rule(i=tenant_ids, user_id=ids)
        def remove(self, i, user_id):
            response = self.call("DELETE", tenants[i], f"/users/{user_id}")
            if user_id not in self.model[i]:
                assert response.status_int == 404
            else:
                assert response.status_int == 204
                del self.model[i][user_id]

        @rule(i=tenant_ids)
        def list_all(self, i):
            response = self.call("GET", tenants[i], "/users?limit=200")
            assert response.status_int == 200
            listed = {u["id"]: (u["email"], u["name"]) for u in response.json["items"]}
            assert listed == self.model[i]

        @rule(i=tenant_ids, j=tenant_ids, user_id=ids)
        def foreign_token(self, i, j, user_id):
            if i == j:
                return
            intruder = tenants[i]
            victim = tenants[j]
            response = client.get(
                f"/{victim.slug}/users/{user_id}", headers=intruder.auth, expect_errors=True
            )
            assert response.status_int == 401
            assert victim.slug not in response.text

    run_state_machine_as_test(
        SharedNothing,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
