"""The console's Sign-in page (``/{tenant}/console/sign-in``): the tenant's identity provider
(OpenID Connect or SAML), its rules, and the email domains it has proven; owners change them
with the same actions as the API."""

from functools import partial

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ..console.pages import form_post, shown_link, shown_on
from ..console.resources import Page
from ..domains.views import DomainClaim
from ..errors import InvalidInput
from ..validation import form_fields, validated
from . import actions, domains, providers

PAGE = "sign_in.jinja2"  # in this package's templates, on the console's search path


class SignInPage(Page):
    segment = "sign-in"
    api_segment = "sso"


def role_map_of(text: str) -> dict[str, str]:
    """``group = role`` per line, as the page's text box holds the rules."""
    rules = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        group, sep, role = line.partition("=")
        if not sep or not group.strip() or not role.strip():
            raise InvalidInput("invalid rules", {"role_map": f"line {number}: write group = role"})
        rules[group.strip()] = role.strip()
    return rules


def _settings(fields: dict, model, **renamed):
    data = {k: v for k, v in fields.items() if k in model.model_fields and k != "role_map"}
    data["role_map"] = role_map_of(fields.get("role_map", ""))
    data["required"] = fields.get("required") == "true"
    return validated(model, {**data, **renamed}, strict=False)


def _page(context: SignInPage, request, **extra) -> dict:
    tenant_id = context.tenant.record.id
    provider = providers.load(request.registry, tenant_id)
    saml_api = context.api["saml"]
    return {
        "console": context.__parent__,
        "page": context,
        "provider": provider.out() if provider else None,
        "rules": "\n".join(
            f"{g} = {r}" for g, r in (provider.role_map if provider else {}).items()
        ),
        "domains": domains.listed(request.registry, tenant_id),
        "sp_metadata": shown_link(request, saml_api, "metadata"),
        "sp_acs": shown_link(request, saml_api, "acs"),
        "oidc_callback": shown_link(request, context.api["oidc"], "callback"),
        "form": {},
        **extra,
    }


page_view = view_config(
    context=SignInPage,
    request_method="GET",
    renderer=PAGE,
    permission="configure",
)
post = partial(form_post, SignInPage, PAGE, "configure")


@page_view
def sign_in(context: SignInPage, request):
    return _page(context, request)


@post(name="oidc")
@shown_on(_page, keep_form=True)
def set_oidc(context: SignInPage, request):
    actions.set_oidc(request, _settings(form_fields(request), providers.ProviderSettings))
    return HTTPSeeOther(request.link(context))


@post(name="saml")
@shown_on(_page, keep_form=True)
def set_saml(context: SignInPage, request):
    actions.set_saml(request, _settings(form_fields(request), providers.SamlSettings))
    return HTTPSeeOther(request.link(context))


@post(name="remove")
@shown_on(_page)
def remove(context: SignInPage, request):
    found = providers.load(request.registry, context.tenant.record.id)
    if found is not None:
        actions.remove_provider(request, found.protocol)
    return HTTPSeeOther(request.link(context))


@post(name="claim")
@shown_on(_page, keep_form=True)
def claim(context: SignInPage, request):
    actions.claim_domain(request, validated(DomainClaim, form_fields(request)).domain)
    return HTTPSeeOther(request.link(context))


@post(name="verify")
@shown_on(_page)
def verify(context: SignInPage, request):
    actions.verify_domain(request, form_fields(request).get("domain", ""))
    return HTTPSeeOther(request.link(context))


@post(name="release")
@shown_on(_page)
def release(context: SignInPage, request):
    actions.release_domain(request, form_fields(request).get("domain", ""))
    return HTTPSeeOther(request.link(context))
