"""The operator's custom-domain API, and the check a TLS proxy asks."""

from functools import partial
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pyramid.httpexceptions import HTTPNoContent
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..errors import NotFound, error_body
from ..interfaces import IDnsResolver, IHostResolver, ITenantDirectory, service
from ..openapi import MANAGED, SLUG, Operation
from ..validation import query_params, validated_body
from . import claims
from .resolution import hostname
from .resources import DomainCheck, ManagedDomain, ManagedDomains


class DomainClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: Annotated[str, StringConstraints(max_length=253)]


def _base(request) -> str | None:
    return service(request.registry, IHostResolver).base_domain


@view_config(context=ManagedDomains, request_method="GET", renderer="json", permission="operate")
def list_domains(context: ManagedDomains, request):
    return {"items": claims.listed(context.tenancy, context.slug)}


@view_config(context=ManagedDomains, request_method="POST", renderer="json", permission="operate")
def claim_domain(context: ManagedDomains, request):
    """201 with the TXT record that proves the domain; the domain serves nothing until then."""
    domain = claims.checked_domain(validated_body(request, DomainClaim).domain, _base(request))
    request.response.status_int = 201
    return claims.claim(context.tenancy, context.slug, domain)


@view_config(context=ManagedDomain, request_method="GET", renderer="json", permission="operate")
def show_domain(context: ManagedDomain, request):
    for item in claims.listed(context.tenancy, context.slug):
        if item["domain"] == context.domain:
            return item
    raise NotFound(f"tenant {context.slug!r} has not claimed {context.domain!r}")


@view_config(
    context=ManagedDomain,
    name="verify",
    request_method="POST",
    renderer="json",
    permission="operate",
)
def verify_domain(context: ManagedDomain, request):
    return claims.verify(
        context.tenancy, context.slug, context.domain, service(request.registry, IDnsResolver)
    )


@view_config(context=ManagedDomain, request_method="DELETE", permission="operate")
def remove_domain(context: ManagedDomain, request):
    claims.remove(context.tenancy, context.slug, context.domain)
    return HTTPNoContent()


@view_config(
    context=DomainCheck, request_method="GET", renderer="json", permission=NO_PERMISSION_REQUIRED
)
def check_domain(context: DomainCheck, request):
    """200 when ``?domain=`` names an active or suspended tenant's host, else 404."""
    name = hostname(query_params(request).get("domain", ""))
    slug = None if name is None else service(request.registry, IHostResolver).slug_for(name)
    entry = None if slug is None else service(request.registry, ITenantDirectory).resolve(slug)
    if entry is None:
        request.response.status_int = 404
        return error_body("not_found", "no tenant is served at this domain")
    return {"domain": name, "tenant": entry.slug}


CUSTOM_DOMAINS = "tenantapp.custom_domains"  # described only when custom domains are on
DOMAIN = {"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}
DOMAINS, ONE = MANAGED + "/domains", MANAGED + "/domains/{domain}"
operated = partial(Operation, auth="operator", setting=CUSTOM_DOMAINS)
OPERATIONS = (
    Operation(DomainCheck, "", "GET", "/-/domain-check", "May a TLS proxy certify?", auth=None),
    operated(ManagedDomains, "", "GET", DOMAINS, "Custom domains", params=(SLUG,)),
    operated(ManagedDomains, "", "POST", DOMAINS, "Claim", 201, DomainClaim, params=(SLUG,)),
    operated(ManagedDomain, "", "GET", ONE, "A domain", params=(SLUG, DOMAIN)),
    operated(ManagedDomain, "", "DELETE", ONE, "Release a domain", 204, params=(SLUG, DOMAIN)),
    operated(ManagedDomain, "verify", "POST", ONE + "/verify", "Verify", params=(SLUG, DOMAIN)),
)
