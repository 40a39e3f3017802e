"""Identity: passwords, bearer tokens, login throttling and the security policy."""

import os
from dataclasses import dataclass
from datetime import timedelta

from pyramid.exceptions import ConfigurationError
from sqlalchemy import event

from ..config import setting
from ..interfaces import (
    IIdentitySettings,
    ILoginGates,
    ILoginThrottle,
    IOperatorSessions,
    IPasswordHasher,
    IPermissionChecks,
    IPlaceListeners,
    IRowFilters,
    IServers,
    ISignOnRoutes,
    ITenantSessions,
    provide,
    provide_factory,
    service,
    when_assembled,
)
from ..tenancy.binding import bound_scope
from . import mfa
from .operator_sessions import OperatorSessions
from .passwords import password_hasher
from .resources import Tokens
from .throttle import ThrottlePolicy
from .tokens import forget_token_owners, token_owners

MIN_OPERATOR_TOKEN = 32
OPERATOR_TOKEN_ENV = "TENANTAPP_OPERATOR_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class IdentitySettings:
    token_ttl: timedelta  # how long a token lives
    operator_enabled: bool  # an operator token is configured: the operator API answers


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    from .policy import TenantSecurityPolicy  # here: it imports the users, which import this

    config.add_tenant_resource("tokens", lambda tenant, request: Tokens(tenant))
    settings = config.get_settings()
    configured = settings.get("tenantapp.operator_token") or os.environ.get(OPERATOR_TOKEN_ENV)
    operator_token = (configured or "").strip() or None
    if operator_token is not None and len(operator_token) < MIN_OPERATOR_TOKEN:
        raise ConfigurationError(
            f"tenantapp.operator_token must be at least {MIN_OPERATOR_TOKEN} characters"
        )
    ttl = setting(settings, "tenantapp.token_ttl_seconds", int, 12 * 3600, minimum=1)
    provide(
        config,
        IdentitySettings(timedelta(seconds=ttl), operator_token is not None),
        IIdentitySettings,
    )
    provide(config, password_hasher(settings), IPasswordHasher)
    provide(config, [], ILoginGates)  # features add theirs (sso) when assembled
    provide(config, [], IPermissionChecks)  # (authz)
    provide(config, [], ISignOnRoutes)  # (sso)
    provide(config, [], IRowFilters)  # (authz)
    throttle = ThrottlePolicy(
        max_failures=setting(settings, "tenantapp.login.max_failures", int, 5, minimum=1),
        window=timedelta(
            seconds=setting(settings, "tenantapp.login.window_seconds", int, 900, minimum=1)
        ),
    )
    provide(config, throttle, ILoginThrottle)
    session_minutes = setting(
        settings, "tenantapp.operator_console.session_minutes", int, 60, minimum=1
    )

    def operator_sessions(registry) -> OperatorSessions:
        owner = service(registry, IServers).default.owner
        return OperatorSessions(owner, timedelta(minutes=session_minutes), throttle)

    provide_factory(config, operator_sessions, IOperatorSessions)
    owners = token_owners(setting(settings, "tenantapp.token_cache_size", int, 10_000, minimum=0))
    config.set_security_policy(TenantSecurityPolicy(operator_token, config.registry))

    def wire(registry):
        """The token owners' cache is kept by every place's listener; a commit that changed a
        tenant's users forgets its owners in this process at once (the trigger's notification
        tells the others)."""
        service(registry, IPlaceListeners).register(owners)

        @event.listens_for(service(registry, ITenantSessions).factory, "after_commit")
        def forget_owners_after_writes(session):
            scope = bound_scope(session)
            if scope is not None:
                forget_token_owners(scope)

    when_assembled(config, wire)
    # A view registered without a permission still needs "view": forgetting one never opens it.
    config.set_default_permission("view")
    config.include(".impersonation")
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
    config.add_api_views(".factor_views")
    config.add_api_views(".impersonation")
    settings.setdefault(f"tenantapp.setting.{mfa.SETTING}", mfa.DECLARATION)  # owners decide
