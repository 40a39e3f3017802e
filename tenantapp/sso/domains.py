"""The email domains a tenant has proven by DNS (the TXT record custom domains use): SSO takes
an identity only when its email is in one of them, and a domain proven by one tenant can be
proven by no other (a unique index over the verified ones)."""

import secrets
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ..domains import verification
from ..domains.claims import checked_domain, prove
from ..errors import Conflict, NotFound
from ..interfaces import IDnsResolver, service
from ..tenancy.servers import registry_owner


class EmailDomainOut(BaseModel):
    domain: str
    verified: bool
    verified_at: datetime | None
    challenge: dict  # the TXT record to add: type, name, value


class EmailDomainList(BaseModel):
    items: list[EmailDomainOut]


CLAIM = text(
    "INSERT INTO tenantapp.tenant_email_domains (tenant_id, domain, token)"
    " VALUES (:tenant_id, :domain, :token) ON CONFLICT (tenant_id, domain) DO NOTHING"
)
ONE = text(
    "SELECT domain, token, verified_at FROM tenantapp.tenant_email_domains"
    " WHERE tenant_id = :tenant_id AND domain = :domain"
)
ALL = text(
    "SELECT domain, token, verified_at FROM tenantapp.tenant_email_domains"
    " WHERE tenant_id = :tenant_id ORDER BY domain"
)
VERIFIED = text(
    "UPDATE tenantapp.tenant_email_domains SET verified_at = now()"
    " WHERE tenant_id = :tenant_id AND domain = :domain"
    " RETURNING domain, token, verified_at"
)
REMOVE = text(
    "DELETE FROM tenantapp.tenant_email_domains WHERE tenant_id = :tenant_id AND domain = :domain"
)
PROVEN = text(
    "SELECT 1 FROM tenantapp.tenant_email_domains"
    " WHERE tenant_id = :tenant_id AND domain = :domain AND verified_at IS NOT NULL"
)


def as_json(row) -> dict:
    return EmailDomainOut(
        domain=row.domain,
        verified=row.verified_at is not None,
        verified_at=row.verified_at,
        challenge=verification.challenge(row.domain, row.token),
    ).model_dump(mode="json")


def claim(registry, tenant_id: int, domain: str) -> dict:
    """Claim ``domain`` unverified, with its challenge; claiming it again answers the same."""
    domain = checked_domain(domain, None)
    with registry_owner(registry).begin() as connection:
        values = {"tenant_id": tenant_id, "domain": domain}
        connection.execute(CLAIM, {**values, "token": secrets.token_urlsafe(24)})
        return as_json(connection.execute(ONE, values).one())


def listed(registry, tenant_id: int) -> list[dict]:
    with registry_owner(registry).connect() as connection:
        return [as_json(row) for row in connection.execute(ALL, {"tenant_id": tenant_id})]


def _claimed(connection, tenant_id: int, domain: str):
    row = connection.execute(ONE, {"tenant_id": tenant_id, "domain": domain}).first()
    if row is None:
        raise NotFound(f"this tenant has not claimed {domain!r}")
    return row


def shown(registry, tenant_id: int, domain: str) -> dict:
    with registry_owner(registry).connect() as connection:
        return as_json(_claimed(connection, tenant_id, domain))


def verify(registry, tenant_id: int, domain: str) -> dict:
    """Look the challenge up in DNS now; once found, SSO takes emails of the domain."""
    with registry_owner(registry).connect() as connection:
        row = _claimed(connection, tenant_id, domain)
    if row.verified_at is not None:
        return as_json(row)
    prove(service(registry, IDnsResolver), row.domain, row.token)
    try:
        with registry_owner(registry).begin() as connection:
            row = connection.execute(VERIFIED, {"tenant_id": tenant_id, "domain": domain}).one()
    except IntegrityError:
        raise Conflict("another tenant has proven this domain", {"domain": "taken"}) from None
    return as_json(row)


def remove(registry, tenant_id: int, domain: str) -> None:
    with registry_owner(registry).begin() as connection:
        _claimed(connection, tenant_id, domain)
        connection.execute(REMOVE, {"tenant_id": tenant_id, "domain": domain})


def proven(connection, tenant_id: int, domain: str) -> bool:
    return (
        connection.execute(PROVEN, {"tenant_id": tenant_id, "domain": domain}).first() is not None
    )
