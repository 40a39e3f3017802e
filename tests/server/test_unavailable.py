"""A database that goes away under requests: each gets its answer or a 503, never a 500."""

import collections
import threading

import pytest
import sqlalchemy as sa
import webtest
from sqlalchemy.exc import DisconnectionError, InvalidRequestError

from tenantapp.errors import POOL_EXHAUSTED, database_unavailable

TERMINATE = sa.text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE usename = 'tenantapp_app' AND pid <> pg_backend_pid()"
)


def test_requests_while_every_connection_is_cut_get_200_or_503(app, tenant, engine):
    """What a server restart does to 8 requests in flight, again and again."""
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    stop = threading.Event()
    statuses: collections.Counter = collections.Counter()
    failures: list[BaseException] = []

    def cut():
        while not stop.wait(0.02):
            with engine.connect() as connection:
                connection.execute(TERMINATE)

    def ask():
        try:
            for _ in range(100):
                answer = client.get(
                    f"/{tenant.slug}/users", headers=tenant.auth, expect_errors=True
                )
                statuses[answer.status_int] += 1
                if answer.status_int == 503:
                    assert answer.headers["Retry-After"]
                    assert answer.json["error"] == "database_unavailable"
        except BaseException as error:
            failures.append(error)

    cutter = threading.Thread(target=cut)
    cutter.start()
    askers = [threading.Thread(target=ask) for _ in range(8)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    stop.set()
    cutter.join()
    assert failures == []
    assert set(statuses) <= {200, 503} and sum(statuses.values()) == 800
    assert statuses[200] > 0


def test_sqlalchemys_words_for_a_pool_of_closed_connections_are_known(database_url):
    """A checkout that finds only closed connections raises this; it is a 503 here."""
    pooled = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))

    def refuse(*args):
        raise DisconnectionError("closed")

    sa.event.listen(pooled, "checkout", refuse)
    try:
        with pytest.raises(InvalidRequestError) as refused:
            pooled.connect()
    finally:
        pooled.dispose()
    assert str(refused.value) == POOL_EXHAUSTED
    assert database_unavailable(refused.value)
