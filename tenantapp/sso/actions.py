"""What an owner does to the tenant's sign-in, from the API or the console alike: set or
remove its provider (checked first: an OpenID issuer by its discovery document, SAML metadata by
what it describes), claim, verify and release email domains; each audited."""

from .. import audit
from ..errors import InvalidInput, NotFound
from . import domains, oidc, providers, saml
from .identities import ProviderUnavailable, Refused


def _tenant_id(request) -> int:
    return request.tenant.record.id


def set_oidc(request, given: providers.ProviderSettings) -> providers.Provider:
    try:
        oidc.DISCOVERY.get(given.issuer, fresh=True)
    except (Refused, ProviderUnavailable) as error:
        raise InvalidInput("not an OpenID provider", {"issuer": error.message}) from None
    issuer = given.issuer.rstrip("/")
    providers.save(request.registry, _tenant_id(request), given, issuer)
    audit.record(request, "sso.configured", issuer, required=given.required, protocol="oidc")
    return providers.load(request.registry, _tenant_id(request))


def set_saml(request, given: providers.SamlSettings) -> providers.Provider:
    issuer = saml.idp_entity_id(given.metadata)
    providers.save(request.registry, _tenant_id(request), given, issuer)
    audit.record(request, "sso.configured", issuer, required=given.required, protocol="saml")
    return providers.load(request.registry, _tenant_id(request))


def remove_provider(request, protocol: str) -> None:
    if not providers.remove(request.registry, _tenant_id(request), protocol):
        raise NotFound(f"this tenant has no {protocol} identity provider")
    audit.record(request, "sso.removed", protocol=protocol)


def claim_domain(request, domain: str) -> dict:
    claimed = domains.claim(request.registry, _tenant_id(request), domain)
    audit.record(request, "sso.domain_claimed", claimed["domain"])
    return claimed


def verify_domain(request, domain: str) -> dict:
    verified = domains.verify(request.registry, _tenant_id(request), domain)
    audit.record(request, "sso.domain_verified", domain)
    return verified


def release_domain(request, domain: str) -> None:
    domains.remove(request.registry, _tenant_id(request), domain)
    audit.record(request, "sso.domain_removed", domain)
