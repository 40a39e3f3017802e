"""The SSO API: the owner sets the provider and proves email domains; anyone starts a login
(``GET /{tenant}/sso/oidc/login``), which the provider sends back to ``…/callback``."""

from pyramid.httpexceptions import HTTPNoContent, HTTPSeeOther
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..console.pages import log_in_browser, onward
from ..domains.views import DomainClaim  # the same claim as a custom domain's
from ..errors import InvalidInput, error_body
from ..identity.views import TokenOut
from ..interfaces import IIdentitySettings, service
from ..openapi import TENANT, Operation
from ..tenancy.resources import absolute_link
from ..users.schemas import user_out
from ..validation import query_params, validated_body
from . import actions, domains, logins, providers
from .identities import Refused
from .resources import EmailDomain, EmailDomains, OidcProvider


def _tenant_id(context) -> int:
    return context.tenant.record.id


@view_config(context=OidcProvider, request_method="GET", renderer="json", permission="configure")
def show_provider(context: OidcProvider, request):
    return logins.provider_of(request, "oidc").out().model_dump()


@view_config(context=OidcProvider, request_method="PUT", renderer="json", permission="configure")
def set_provider(context: OidcProvider, request):
    """Checked against the provider's discovery document before it is kept."""
    return (
        actions.set_oidc(request, validated_body(request, providers.ProviderSettings))
        .out()
        .model_dump()
    )


@view_config(context=OidcProvider, request_method="DELETE", permission="configure")
def remove_provider(context: OidcProvider, request):
    actions.remove_provider(request, "oidc")
    return HTTPNoContent()


@view_config(
    context=OidcProvider, name="login", request_method="GET", permission=NO_PERMISSION_REQUIRED
)
def start_login(context: OidcProvider, request):
    """``?next=/{tenant}/console/…``: a console login (the cookie, then that page); without
    it the callback answers the token as JSON."""
    next_path = logins.checked_next(request, query_params(request).get("next"))
    url = logins.start(request, absolute_link(request, context, "callback"), next_path)
    return HTTPSeeOther(url)


@view_config(
    context=OidcProvider, name="callback", request_method="GET", permission=NO_PERMISSION_REQUIRED
)
def finish_login(context: OidcProvider, request):
    """A refusal is answered, not raised: the audit entry saying why must commit."""
    params = query_params(request)
    state, code = params.get("state"), params.get("code")
    if not state or not code:
        raise InvalidInput("the provider sent no code", {"code": params.get("error", "missing")})
    try:
        token, expires_at, user, next_path = logins.finish(
            request, absolute_link(request, context, "callback"), state, code
        )
    except Refused as error:
        return Response(json_body=error_body(error.code, error.message), status=error.status)
    if next_path is None:
        body = TokenOut(token=token, expires_at=expires_at, user=user_out(user)).model_dump()
        return Response(json_body=body, status=201)
    return into_console(request, context, token, next_path)


def into_console(request, context, token: str, next_path: str) -> Response:
    """The console's cookie, then a page that moves on to ``next``: a navigation of this site's
    own, which carries the SameSite=Strict cookie (the redirect from the provider would not)."""
    response = onward(next_path, "Signed in")
    ttl = service(request.registry, IIdentitySettings).token_ttl
    log_in_browser(request, response, context.tenant["console"], token, ttl)
    return response


@view_config(context=EmailDomains, request_method="GET", renderer="json", permission="configure")
def list_domains(context: EmailDomains, request):
    return {"items": domains.listed(request.registry, _tenant_id(context))}


@view_config(context=EmailDomains, request_method="POST", renderer="json", permission="configure")
def claim_domain(context: EmailDomains, request):
    claimed = actions.claim_domain(request, validated_body(request, DomainClaim).domain)
    request.response.status_int = 201
    return claimed


@view_config(context=EmailDomain, request_method="GET", renderer="json", permission="configure")
def show_domain(context: EmailDomain, request):
    return domains.shown(request.registry, _tenant_id(context), context.domain)


@view_config(
    context=EmailDomain,
    name="verify",
    request_method="POST",
    renderer="json",
    permission="configure",
)
def verify_domain(context: EmailDomain, request):
    return actions.verify_domain(request, context.domain)


@view_config(context=EmailDomain, request_method="DELETE", permission="configure")
def remove_domain(context: EmailDomain, request):
    actions.release_domain(request, context.domain)
    return HTTPNoContent()


PROVIDER, DOMAINS = "/{tenant}/sso/oidc", "/{tenant}/sso/domains"
DOMAIN = {"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}
ONE = DOMAINS + "/{domain}"
Out = providers.ProviderOut
OPERATIONS = (
    Operation(OidcProvider, "", "GET", PROVIDER, "The SSO provider", params=(TENANT,), returns=Out),
    Operation(
        OidcProvider,
        "",
        "PUT",
        PROVIDER,
        "Set the SSO provider",
        200,
        providers.ProviderSettings,
        params=(TENANT,),
        returns=Out,
    ),
    Operation(OidcProvider, "", "DELETE", PROVIDER, "Remove it", 204, params=(TENANT,)),
    Operation(
        OidcProvider,
        "login",
        "GET",
        PROVIDER + "/login",
        "Start an SSO login",
        303,
        auth=None,
        params=(TENANT, {"name": "next", "in": "query", "schema": {"type": "string"}}),
        errors=(400, 404, 429, 502, 503),
    ),
    Operation(
        OidcProvider,
        "callback",
        "GET",
        PROVIDER + "/callback",
        "Finish an SSO login",
        201,
        auth=None,
        returns=TokenOut,
        errors=(400, 401, 404, 429, 502, 503),
        params=(
            TENANT,
            {"name": "state", "in": "query", "schema": {"type": "string"}},
            {"name": "code", "in": "query", "schema": {"type": "string"}},
        ),
    ),
    Operation(
        EmailDomains,
        "",
        "GET",
        DOMAINS,
        "Email domains",
        params=(TENANT,),
        returns=domains.EmailDomainList,
    ),
    Operation(
        EmailDomains,
        "",
        "POST",
        DOMAINS,
        "Claim an email domain",
        201,
        DomainClaim,
        params=(TENANT,),
        returns=domains.EmailDomainOut,
    ),
    Operation(
        EmailDomain,
        "",
        "GET",
        ONE,
        "An email domain",
        params=(TENANT, DOMAIN),
        returns=domains.EmailDomainOut,
    ),
    Operation(
        EmailDomain,
        "verify",
        "POST",
        ONE + "/verify",
        "Verify by DNS TXT",
        params=(TENANT, DOMAIN),
        returns=domains.EmailDomainOut,
    ),
    Operation(EmailDomain, "", "DELETE", ONE, "Release", 204, params=(TENANT, DOMAIN)),
)
