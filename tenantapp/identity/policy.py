"""The security policy: who is asking (bearer token), and whether the ACLs let them.

A tenant user's token is resolved with the request's session once traversal has bound it to the
tenant in the URL: the token is looked for among that tenant's rows only. Its owner is cached in
memory per (tenant scope, digest), forgotten on any change to the tenant's users or tokens,
where this process hears of such changes (a server's database, a tenant database's own pooled
connections); behind a transaction-mode pooler a tenant database's are not cached. The operator
token is only ever accepted below the platform resource, as a bearer token; the operator
console's cookie holds a session of its own (``operator_sessions``).
"""

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.request import RequestLocalCache
from pyramid.security import Denied
from pyramid.traversal import find_interface

from ..caching import PlaceListeners
from ..interfaces import (
    IConsole,
    IOperatorSessions,
    IPermissionChecks,
    IPlaceListeners,
    IPlatform,
    ITenantStore,
    service,
)
from ..tenancy.binding import bound_scope
from .impersonation import CREDENTIALS, impersonating
from .operator_sessions import OperatorSessions
from .tokens import CHANNEL, digest, owner_key, token_owner

OPERATOR = "operator"
CONSOLE_COOKIE = "tenantapp_console"
MAX_TOKEN = 200


@dataclass(frozen=True)
class Identity:
    userid: str
    principals: tuple[str, ...]
    token: str | None = None
    impersonator: str | None = None  # the operator acting as ``userid`` (``impersonation``)

    @property
    def user_id(self) -> int | None:
        """The tenant user's id (``user:ID``); None for the operator."""
        if not self.userid.startswith("user:"):
            return None
        return int(self.userid.removeprefix("user:"))

    @property
    def actor(self) -> str:
        """Who acted, as the audit log names them."""
        if self.impersonator is None:
            return self.userid
        return f"{self.impersonator} as {self.userid}"


def bearer_token(request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_TOKEN:
        return None
    return value


def console_token(request) -> str | None:
    """The console's cookie, on console pages only (see the module's docstring)."""
    if find_interface(getattr(request, "context", None), IConsole) is None:
        return None
    value = request.cookies.get(CONSOLE_COOKIE, "")
    return value if 0 < len(value) <= MAX_TOKEN else None


class TenantSecurityPolicy:
    def __init__(self, operator_token: str | None, registry):
        self.operator_token = operator_token
        self.registry = registry
        self.acl = ACLHelper()
        self.cache = RequestLocalCache(self._load_identity)

    @cached_property
    def places(self) -> PlaceListeners:
        """Where token owners are cached (found at first use: the policy is set while the app
        is assembled, before its services are)."""
        return service(self.registry, IPlaceListeners)

    @cached_property
    def sessions(self) -> OperatorSessions:
        return service(self.registry, IOperatorSessions)

    def _load_identity(self, request) -> Identity | None:
        bearer = bearer_token(request)
        cookie = None if bearer is not None else console_token(request)
        token = bearer or cookie
        if token is None:
            return None
        tenant = request.tenant
        if tenant is not None:
            session = request.dbsession
            hashed = digest(token)
            place = service(request.registry, ITenantStore, tenant.record.mode).heard_at(
                tenant.record
            )
            if place is None:  # nothing would tell this process of a change: not cached
                owner = token_owner(session, hashed)
            else:
                session.connection()  # a connection that hears changes: it reads what it heard
                owner = self.places.cache(*place, CHANNEL).lookup(
                    owner_key(bound_scope(session), hashed),
                    lambda key: token_owner(session, hashed),
                )
            if owner is None or owner.expires_at <= datetime.now(UTC):
                return None
            userid = f"user:{owner.user_id}"
            identity = Identity(userid, (userid, f"role:{owner.role}"), token)
            if owner.impersonated_by is not None:
                return impersonating(request, identity, owner.impersonated_by)
            return identity
        if find_interface(request.context, IPlatform) is None:
            return None
        # the operator token as a bearer; in the console's cookie, a session of its own
        if bearer is not None and self.is_operator_token(bearer):
            return Identity(OPERATOR, (OPERATOR,))
        if cookie is not None and self.operator_token and self.sessions.valid(cookie):
            return Identity(OPERATOR, (OPERATOR,), cookie)
        return None

    def is_operator_token(self, token: str) -> bool:
        return bool(self.operator_token) and hmac.compare_digest(
            token.encode(), self.operator_token.encode()
        )

    def known_token(self, request) -> bool:
        """Whether the request carries a token this process knows as valid for its tenant,
        from memory alone (no query, no connection): what the rate limit asks before the
        request's transaction starts. A token not in memory (a stranger's, or one not used
        here lately) is not known."""
        tenant = request.tenant
        token = bearer_token(request) or console_token(request)
        if tenant is None or token is None:
            return False
        place = service(request.registry, ITenantStore, tenant.record.mode).heard_at(tenant.record)
        if place is None:
            return False
        key = owner_key(bound_scope(request.dbsession), digest(token))
        owner = self.places.cache(*place, CHANNEL).peek(key)
        return owner is not None and owner.expires_at > datetime.now(UTC)

    def identity(self, request) -> Identity | None:
        """None (and not remembered) until traversal has found a tenant or the platform: only
        then is it known where to look."""
        if getattr(request, "context", None) is None and request.tenant is None:
            return None
        return self.cache.get_or_create(request)

    def authenticated_userid(self, request) -> str | None:
        identity = self.identity(request)
        return identity.userid if identity else None

    def permits(self, request, context, permission):
        principals = [Everyone]
        identity = self.identity(request)
        if identity is not None and identity.impersonator and permission in CREDENTIALS:
            return Denied("an impersonation cannot change credentials")
        if identity is not None:
            principals += [Authenticated, *identity.principals]
        granted = self.acl.permits(context, principals, permission)
        if not granted or identity is None:
            return granted  # the ACL denies first
        for check in self.checks:  # then what features add (``authz``: the tenant's policies)
            refused = check(request, context, permission)
            if refused is not None:
                return refused
        return granted

    @cached_property
    def checks(self) -> list:
        return service(self.registry, IPermissionChecks)

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []
