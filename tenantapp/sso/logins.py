"""A login through the tenant's provider, OpenID Connect or SAML: started with a ``state`` (the
SAML request's id) kept in the registry (used once, for ten minutes, by this tenant and this
protocol only), finished by the protocol's checks and the email's domain, then the user found or
made (a member unless the owner's rules map a group to a role), and the same token a password
login gives. Every login and every refusal is audited with the provider's subject."""

import secrets
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select, text

from .. import audit
from ..errors import APIError, InvalidInput, NotFound
from ..identity.tokens import issue_token
from ..interfaces import IIdentitySettings, service
from ..tenancy.servers import registry_owner
from ..tenancy.sessions import tenant_session
from ..users.actions import within_max_users
from ..users.models import ROLES, User
from . import domains, oidc, providers, saml
from .identities import Refused, Vouched

LOGIN_MINUTES = 10
KEEP = text(
    "WITH gone AS (DELETE FROM tenantapp.sso_logins"
    " WHERE created_at < now() - make_interval(mins => :minutes))"
    " INSERT INTO tenantapp.sso_logins (state, tenant_id, protocol, nonce, code_verifier, next)"
    " VALUES (:state, :tenant_id, :protocol, :nonce, :verifier, :next)"
)
TAKE = text(
    "DELETE FROM tenantapp.sso_logins WHERE state = :state AND tenant_id = :tenant_id"
    " AND protocol = :protocol AND created_at > now() - make_interval(mins => :minutes)"
    " RETURNING state, nonce, code_verifier, next"
)


class SsoRequired(APIError):
    status = 403
    code = "sso_required"


def provider_of(request, protocol: str | None = None):
    """The tenant's provider (of that protocol, when one is named), or a 404."""
    found = providers.load(request.registry, request.tenant.record.id)
    if found is None:
        raise NotFound("this tenant has no identity provider")
    if protocol is not None and found.protocol != protocol:
        raise NotFound(f"this tenant's identity provider speaks {found.protocol}, not {protocol}")
    return found


def checked_next(request, value: str | None) -> str | None:
    """Where the browser goes after: a path inside this tenant, never another site."""
    if value is None:
        return None
    parts = urlsplit(value)
    prefix = request.resource_path(request.tenant) + "/"
    if parts.scheme or parts.netloc or not value.startswith(prefix) or "\\" in value:
        raise InvalidInput("invalid next", {"next": f"must be a path under {prefix}"})
    return value


def _keep(request, protocol: str, state: str, next_path, nonce=None, verifier=None) -> None:
    with registry_owner(request.registry).begin() as connection:
        connection.execute(
            KEEP,
            {
                "minutes": LOGIN_MINUTES,
                "state": state,
                "tenant_id": request.tenant.record.id,
                "protocol": protocol,
                "nonce": nonce,
                "verifier": verifier,
                "next": next_path,
            },
        )


def start(request, callback_url: str, next_path: str | None) -> str:
    """The OpenID provider's authorization URL for a new login of this tenant."""
    provider = provider_of(request, "oidc")
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    _keep(request, "oidc", state, next_path, nonce, verifier)
    return oidc.authorization_url(provider, callback_url, state, nonce, verifier)


def start_saml(request, entity_id: str, acs_url: str, next_path: str | None) -> str:
    """The SAML IdP's URL carrying a new AuthnRequest of this tenant."""
    provider = provider_of(request, "saml")
    request_id, url = saml.authorization_url(provider, entity_id, acs_url)
    _keep(request, "saml", request_id, next_path)
    return url


def finish(request, callback_url: str, state: str, code: str):
    """An OpenID login's end: see ``signed_in``."""

    def vouch(provider, found) -> Vouched:
        return oidc.identity(provider, callback_url, code, found.code_verifier, found.nonce)

    return signed_in(request, "oidc", lambda: state, vouch)


def finish_saml(request, entity_id: str, acs_url: str, saml_response: str):
    """A SAML login's end: the Response must answer a request this tenant made."""

    def vouch(provider, found) -> Vouched:
        return saml.identity(provider, entity_id, acs_url, saml_response, found.state)

    return signed_in(request, "saml", lambda: saml.answered_request(saml_response), vouch)


def signed_in(request, protocol: str, state_of, vouch):
    """``(token, expires_at, user, next)``; a refusal raises ``Refused``, audited. ``state_of()``
    names the login in flight, ``vouch(provider, login)`` runs the protocol's checks. The login
    writes (the user, the token, the audit) in a session of its own, committed here: a GET's
    request session only reads, and a refusal's audit entry must commit."""
    session = tenant_session(request.registry, request.tenant.record)
    try:
        done = _finish(request, session, protocol, state_of(), vouch)
    except Refused as refusal:
        session.rollback()
        audit.record(
            request,
            "sso.refused",
            refusal.subject,
            actor=f"sso:{refusal.subject or 'unknown'}",
            session=session,
            why=refusal.message,
            protocol=protocol,
        )
        session.commit()
        raise
    else:
        session.commit()
        return done
    finally:
        session.close()


def _finish(request, session, protocol: str, state: str, vouch):
    tenant_id = request.tenant.record.id
    with registry_owner(request.registry).begin() as connection:
        found = connection.execute(
            TAKE,
            {
                "state": state,
                "tenant_id": tenant_id,
                "protocol": protocol,
                "minutes": LOGIN_MINUTES,
            },
        ).first()
    if found is None:
        raise Refused("unknown, used or expired state")
    provider = provider_of(request, protocol)
    vouched = vouch(provider, found)
    email = (vouched.email or "").strip().lower()
    if "@" not in email:
        raise Refused("the provider vouched for no email", subject=vouched.subject)
    with registry_owner(request.registry).connect() as connection:
        in_domain = domains.proven(connection, tenant_id, email.rsplit("@", 1)[1])
    if not in_domain:
        raise Refused(
            "the email is not in a domain this tenant has verified", subject=vouched.subject
        )
    user = _member(request, session, provider, vouched, email)
    expires_at = datetime.now(UTC) + service(request.registry, IIdentitySettings).token_ttl
    token, _ = issue_token(session, user, expires_at)
    audit.record(
        request,
        "sso.login",
        f"user:{user.id}",
        actor=f"user:{user.id}",
        session=session,
        subject=vouched.subject,
        protocol=protocol,
    )
    return token, expires_at, user, found.next


def _member(request, session, provider, vouched: Vouched, email: str) -> User:
    """The user with this email, or a new one: a member unless a rule maps a group to a role."""
    subject = vouched.subject
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and not user.active:
        raise Refused("this user is deactivated", subject=subject)
    if user is not None:
        return user
    within_max_users(request, session)
    name = (vouched.name or email)[:200]
    user = User(email=email, name=name, role=role_of(provider, vouched.groups))
    session.add(user)
    session.flush()
    audit.record(
        request,
        "user.created",
        f"user:{user.id}",
        actor=f"sso:{subject}",
        session=session,
        email=email,
        via="sso",
    )
    return user


def role_of(provider, groups) -> str:
    """The highest role a rule maps one of the user's groups to; member without one."""
    mapped = {provider.role_map.get(str(group)) for group in groups} & set(ROLES)
    return next((role for role in ROLES if role in mapped), "member")


def password_gate(request, user: User | None) -> None:
    """Password logins are off where SSO is required, but for the break-glass owner."""
    required, break_glass = providers.requirement(request.registry, request.tenant.record.id)
    if not required:
        return
    if user is not None and user.role == "owner" and user.email == break_glass:
        return
    raise SsoRequired("this tenant signs in through its identity provider only")


def route(request, email: str, next_path: str | None) -> str | None:
    """Identifier first: an email in a domain this tenant proved, where it has a provider,
    signs in there (the console's login asks no password for it)."""
    if "@" not in email:
        return None
    tenant_id = request.tenant.record.id
    with registry_owner(request.registry).connect() as connection:
        in_domain = domains.proven(connection, tenant_id, email.rsplit("@", 1)[1].lower())
    provider = providers.load(request.registry, tenant_id) if in_domain else None
    if provider is None:
        return None
    query = urlencode({"next": next_path}) if next_path else ""
    login = f"/sso/{provider.protocol}/login"
    return request.link(request.tenant) + login + (f"?{query}" if query else "")
