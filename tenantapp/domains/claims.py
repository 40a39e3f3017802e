"""A tenant's custom domains in the registry: claimed, proven by DNS, removed."""

import ipaddress
import secrets
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import APIError, Conflict, InvalidInput, NotFound
from ..lifecycle.provisioning import find_row
from ..lifecycle.tenancy import Tenancy
from ..tenancy.models import TenantDomain
from . import verification
from .resolution import forget_domain, hostname

domains = TenantDomain.__table__


class NotVerified(APIError):
    status = 409
    code = "not_verified"


class DnsUnavailable(APIError):
    status = 503
    code = "dns_unavailable"


def as_json(row) -> dict:
    verified: datetime | None = row.verified_at
    return {
        "domain": row.domain,
        "verified": verified is not None,
        "verified_at": verified.isoformat() if verified else None,
        "challenge": verification.challenge(row.domain, row.token),
    }


def _an_address(name: str) -> bool:
    """An IP literal is no domain a TXT record could prove (``10.0.0.1`` parses as a name)."""
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name.rsplit(".", 1)[-1].isdigit()  # no top-level domain is all digits
    return True


def checked_domain(text: str, base_domain: str | None) -> str:
    name = hostname(text) if text == text.strip() else None
    if name is None or name != text.lower().rstrip(".") or _an_address(name):
        problem = "must be a DNS name, e.g. shop.acme.com"
        raise InvalidInput("not a domain name", {"domain": problem})
    if base_domain and (name == base_domain or name.endswith("." + base_domain)):
        raise InvalidInput(
            "the base domain's names are every tenant's already",
            {"domain": f"must not be under {base_domain}"},
        )
    return name


def prove(resolver, domain: str, token: str) -> None:
    """Look the challenge's TXT record up now: NotVerified (or DnsUnavailable) without it."""
    try:
        found = verification.proven(resolver, domain, token)
    except verification.Timeout:
        raise DnsUnavailable("DNS did not answer; try again") from None
    if not found:
        wanted = verification.challenge(domain, token)
        raise NotVerified(
            f"no TXT record {wanted['name']} with the value {wanted['value']!r} was found"
            " (DNS changes can take a while to be seen)"
        )


def claim(tenancy: Tenancy, slug: str, domain: str) -> dict:
    """Claim ``domain`` for the tenant, unverified, with a fresh challenge; claiming it again
    answers the same claim. Another tenant's domain is a conflict."""
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        try:
            with registry.begin_nested():
                registry.execute(
                    insert(domains).values(
                        domain=domain, tenant_id=entry.id, token=secrets.token_urlsafe(24)
                    )
                )
        except IntegrityError:
            pass
        row = registry.execute(select(domains).where(domains.c.domain == domain)).one()
        if row.tenant_id != entry.id:
            raise Conflict("another tenant has claimed this domain", {"domain": "taken"})
    return as_json(row)


def listed(tenancy: Tenancy, slug: str) -> list[dict]:
    with tenancy.registry.connect() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        rows = registry.execute(
            select(domains).where(domains.c.tenant_id == entry.id).order_by(domains.c.domain)
        ).all()
        registry.rollback()
    return [as_json(row) for row in rows]


def _claimed(registry, slug: str, domain: str):
    entry = find_row(registry, slug, ("active", "suspended"))
    row = registry.execute(
        select(domains).where(domains.c.domain == domain, domains.c.tenant_id == entry.id)
    ).first()
    if row is None:
        raise NotFound(f"tenant {slug!r} has not claimed {domain!r}")
    return row


def verify(tenancy: Tenancy, slug: str, domain: str, resolver) -> dict:
    """Look the challenge up in DNS now; once found, the domain serves the tenant."""
    with tenancy.registry.connect() as registry:
        row = _claimed(registry, slug, domain)
        registry.rollback()
    if row.verified_at is None:
        prove(resolver, row.domain, row.token)
        with tenancy.registry.begin() as registry:
            row = registry.execute(
                update(domains)
                .where(domains.c.domain == domain)
                .values(verified_at=func.now())
                .returning(*domains.c)
            ).one()
        forget_domain(domain)
    return as_json(row)


def remove(tenancy: Tenancy, slug: str, domain: str) -> None:
    with tenancy.registry.begin() as registry:
        _claimed(registry, slug, domain)
        registry.execute(delete(domains).where(domains.c.domain == domain))
    forget_domain(domain)
