"""The PostgreSQL servers tenants are placed on.

``default`` is the database of ``sqlalchemy.url`` (it also holds the tenant registry); more are
named in the settings, ``tenantapp.servers.eu1 = postgresql://...``. Each server has two engines,
one bounded pool each:

* ``owner``: the configured role, which owns the tables; migrations and the tenant lifecycle
  (DDL) use it;
* ``serving``: the application role (``tenantapp.app_role``, ``tenantapp_app`` by default), which
  is not a superuser, has no BYPASSRLS and owns nothing, so row-level security binds it. Every
  tenant request runs as this role. With ``tenantapp.pooler.NAME = postgresql://HOST:PORT`` its
  connections go through a pooler in transaction mode (PgBouncer) at that address instead: the
  serving path keeps nothing beyond a transaction. The owner's (migrations, listeners, which do)
  stay direct.

Residency: ``tenantapp.region.NAME = eu`` labels a server with the region it is in (a tenant
pinned to a region is only ever placed on that region's servers: ``tenantapp.residency``).

TLS: ``tenantapp.database_ca.NAME = /path/ca.pem`` (``default`` for ``sqlalchemy.url``'s
server) makes every connection to that server ``sslmode=verify-full`` against that CA: the
engines, the cache listener, the migrate workers and tenant databases all take their URL from
these, so none connects otherwise. ``tenantapp.database_tls_required = true`` refuses to start
while a server has no CA.
"""

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine, make_url

from ..interfaces import IServers, service
from .errors import ProvisioningError, UnknownServer

DEFAULT = "default"
SERVERS_PREFIX = "tenantapp.servers."
POOLERS_PREFIX = "tenantapp.pooler."
CA_PREFIX = "tenantapp.database_ca."
REGION_PREFIX = "tenantapp.region."
REGION = r"[a-z0-9][a-z0-9-]{0,31}"
APP_ROLE = "tenantapp_app"
APP_PASSWORD_ENV = "TENANTAPP_APP_PASSWORD"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class Server:
    name: str
    owner: Engine
    serving: Engine
    pooled: bool = False  # serving goes through a transaction-mode pooler (no LISTEN there)
    region: str | None = None  # where it is (``tenantapp.region.NAME``); None: not labelled


@dataclass(frozen=True)
class AppRole:
    """The role tenant requests run as; created by ``migrate`` where it is missing."""

    name: str
    password: str | None = None

    def url(self, owner_url: str) -> str:
        """The owner's URL with this role's name and password."""
        url = make_url(owner_url).set(username=self.name, password=self.password)
        return url.render_as_string(hide_password=False)


def app_role(settings: dict) -> AppRole:
    name = settings.get("tenantapp.app_role") or APP_ROLE
    password = settings.get("tenantapp.app_password") or os.environ.get(APP_PASSWORD_ENV)
    return AppRole(name, password or None)


def server_urls(settings: dict) -> dict[str, str]:
    """``tenantapp.servers.NAME`` settings, by name (the default server comes from
    ``sqlalchemy.url`` and is not among them)."""
    urls = {}
    for key, value in settings.items():
        if key.startswith(SERVERS_PREFIX) and value.strip():
            name = key.removeprefix(SERVERS_PREFIX)
            if name == DEFAULT:
                raise ProvisioningError(
                    f"{key}: the default server is sqlalchemy.url's; name this one otherwise"
                )
            urls[name] = value.strip()
    return urls


class Servers:
    """The configured servers by name."""

    def __init__(self, servers: dict[str, Server], app_role: AppRole):
        self._servers = servers
        self.app_role = app_role

    @property
    def default(self) -> Server:
        return self._servers[DEFAULT]

    def __iter__(self):
        return iter(self._servers.values())

    def __getitem__(self, name: str) -> Server:
        try:
            return self._servers[name]
        except KeyError:
            known = ", ".join(sorted(self._servers))
            raise UnknownServer(f"no server {name!r} is configured (known: {known})") from None

    @contextmanager
    def transaction(self, registry: Connection, name: str):
        """A transaction on server ``name`` as its owner: the registry's own when that is the
        default server, so the registry row and the tenant's storage commit together; else
        one that commits just before the registry's (a crash between leaves storage that no
        row names, which nothing can reach)."""
        if name == DEFAULT:
            yield registry
            return
        with self[name].owner.begin() as connection:
            yield connection

    def dispose(self) -> None:
        for server in self:
            server.owner.dispose()
            server.serving.dispose()


def pooler_urls(settings: dict) -> dict[str, str]:
    """``tenantapp.pooler.NAME`` settings, by server name (``default`` included)."""
    return {
        key.removeprefix(POOLERS_PREFIX): value.strip()
        for key, value in settings.items()
        if key.startswith(POOLERS_PREFIX) and value.strip()
    }


def through_pooler(url: str, pooler: str | None) -> str:
    """``url`` (its database, role and password) reached at ``pooler``'s host, port and query."""
    if not pooler:
        return url
    at = make_url(pooler)
    if at.host is None and "host" not in at.query:
        raise ProvisioningError(f"the pooler {pooler!r} names no host")
    url = make_url(url).set(host=at.host, port=at.port, query=at.query)
    return url.render_as_string(hide_password=False)


def server_regions(settings: dict) -> dict[str, str]:
    """``tenantapp.region.NAME`` settings, by server name: lowercase letters, digits, ``-``."""
    regions = {}
    for key, value in settings.items():
        if key.startswith(REGION_PREFIX) and value.strip():
            region = value.strip()
            if not re.fullmatch(REGION, region):
                raise ProvisioningError(
                    f"{key} = {region!r}: a region is lowercase letters, digits and -, 32 at most"
                )
            regions[key.removeprefix(REGION_PREFIX)] = region
    return regions


def server_cas(settings: dict) -> dict[str, str]:
    """``tenantapp.database_ca.NAME`` settings, by server name, each a readable PEM file."""
    cas = {}
    for key, value in settings.items():
        if key.startswith(CA_PREFIX) and value.strip():
            path = value.strip()
            try:
                with open(path, "rb") as pem:
                    if b"-----BEGIN CERTIFICATE-----" not in pem.read():
                        raise ProvisioningError(f"{key}: {path} holds no PEM certificate")
            except OSError as error:
                raise ProvisioningError(f"{key}: cannot read {path}: {error.strerror}") from None
            cas[key.removeprefix(CA_PREFIX)] = path
    return cas


def with_tls(url: str, ca: str | None) -> str:
    """``url`` verifying the server's certificate and name against ``ca`` (libpq's
    ``sslmode=verify-full``), when there is one."""
    if not ca:
        return url
    parsed = make_url(url)
    tls = {**parsed.query, "sslmode": "verify-full", "sslrootcert": ca}
    return parsed.set(query=tls).render_as_string(hide_password=False)


def registry_owner(registry):
    """The registry's engine as its owner (the default server's): where a feature keeps what
    belongs to a tenant but is read before anyone is known (SSO, SCIM tokens, policies)."""
    return service(registry, IServers).default.owner
