"""Online moves of a tenant with many users while a client keeps writing to it: total time, the
write pause the move measures, and the slowest write the client saw. Aim: pause under 1 s.

    python -m bench.move [--users 100000] [--database-url URL]

The second server is a second throwaway database on the same PostgreSQL server.
"""

import argparse
import threading
import time
import uuid

import webtest
from sqlalchemy import text

from tenantapp.interfaces import ICacheListener, IPasswordHasher, service
from tenantapp.tenancy.binding import bind_connection
from tenantapp.tenancy.directory import TenantEntry

from .database import migrated_app, throwaway_database

PASSWORD = "bench password 1"
MOVES = [
    ("schema", "shared", "default"),
    ("shared", "database", "default"),
    ("database", "schema", "default"),
    ("schema", "schema", "second"),
]
USERS_SQL = """
INSERT INTO users (email, name, role)
SELECT 'user' || g || '@bench.example', convert_to('User ' || g, 'UTF8'), 'member'
FROM generate_series(1, :users) AS g
"""


def populate(tenancy, info, users: int) -> None:
    store = tenancy.store(info.mode)
    entry = TenantEntry(info.id, info.slug, info.schema_name, "", "active", info.mode, info.server)
    with store.owner_engine(entry).begin() as connection:
        bind_connection(connection, store.binding(entry))
        connection.execute(text(USERS_SQL), {"users": users})


class Writer(threading.Thread):
    """Creates users one after another, timing each request as the client sees it."""

    def __init__(self, app, slug: str, token: str):
        super().__init__(daemon=True)
        self.client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "bench.example"})
        self.slug, self.token = slug, token
        self.latencies: list[float] = []
        self.failures = 0
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            n += 1
            started = time.perf_counter()
            response = self.client.post_json(
                f"/{self.slug}/users",
                {"email": f"w{n}@bench.example", "name": "Writer"},
                headers={"Authorization": f"Bearer {self.token}"},
                expect_errors=True,
            )
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.failures += response.status_int != 201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with (
        throwaway_database(args.database_url) as url,
        throwaway_database(args.database_url) as second,
    ):
        tenancy, app = migrated_app(url, **{"tenantapp.servers.second": second})
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "bench.example"})
        print(f"{'move':<34} {'rows':>8} {'total s':>8} {'pause ms':>9} {'slowest write ms':>17}")
        for source, target, server in MOVES:
            slug = f"m-{uuid.uuid4().hex[:8]}"
            email = f"owner@{slug}.example"
            info, _ = tenancy.create_tenant(
                slug,
                owner_email=email,
                owner_password=PASSWORD,
                hasher=service(app.registry, IPasswordHasher),
                mode=source,
            )
            populate(tenancy, info, args.users)
            token = client.post_json(
                f"/{slug}/tokens", {"email": email, "password": PASSWORD}
            ).json["token"]
            writer = Writer(app, slug, token)
            writer.start()
            while len(writer.latencies) < 5:
                time.sleep(0.01)
            report = tenancy.move_tenant(slug, target, server)
            writer.halt.set()
            writer.join()
            label = f"{report.source} -> {report.target}"
            print(
                f"{label:<34} {report.rows:>8} {report.total_ms / 1000:>8.1f}"
                f" {report.pause_ms:>9.0f} {max(writer.latencies):>17.0f}"
                f"   ({len(writer.latencies)} writes, {writer.failures} failed)",
                flush=True,
            )
            tenancy.purge_tenant(slug)
        service(app.registry, ICacheListener).stop()
        tenancy.servers.dispose()


if __name__ == "__main__":
    main()
