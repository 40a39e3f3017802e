"""Proving a custom domain is the tenant's: a TXT record with a value only the operator API
hands out, looked up with dnspython (``tenantapp.dns_resolver`` names the server to ask, e.g.
``127.0.0.1:5353``; the system's resolvers otherwise)."""

import dns.exception
import dns.resolver

CHALLENGE_LABEL = "_tenantapp-challenge"
VALUE_PREFIX = "tenantapp-verify="
TIMEOUT_SECONDS = 5.0


def challenge(domain: str, token: str) -> dict:
    """The TXT record the domain's owner adds."""
    return {"type": "TXT", "name": f"{CHALLENGE_LABEL}.{domain}", "value": VALUE_PREFIX + token}


def make_resolver(address: str | None) -> dns.resolver.Resolver:
    if not address:
        resolver = dns.resolver.Resolver()
    else:
        host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = int(port or 53)
    resolver.lifetime = TIMEOUT_SECONDS
    return resolver


def txt_values(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at ``name``; none when the name or record is missing."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
        return []
    return [b"".join(record.strings).decode(errors="replace") for record in answer]


def proven(resolver: dns.resolver.Resolver, domain: str, token: str) -> bool:
    """Whether the domain's DNS carries the challenge. A resolver that does not answer raises
    ``dns.exception.Timeout``: the caller says so rather than "not found"."""
    wanted = challenge(domain, token)
    return wanted["value"] in txt_values(resolver, wanted["name"])


Timeout = dns.exception.Timeout
