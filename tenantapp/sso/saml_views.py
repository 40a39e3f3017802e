"""The SAML API: the owner sets the IdP by its metadata; the IdP's administrator reads this
tenant's own (``GET /{tenant}/sso/saml/metadata``); anyone starts a login
(``GET /{tenant}/sso/saml/login``), which the IdP posts back to ``…/acs``."""

from pydantic import BaseModel, ConfigDict, Field
from pyramid.httpexceptions import HTTPNoContent, HTTPSeeOther
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..errors import error_body
from ..identity.views import TokenOut
from ..openapi import TENANT, Operation
from ..tenancy.resources import absolute_link
from ..users.schemas import user_out
from ..validation import form_fields, query_params, validated, validated_body
from . import actions, logins, providers, saml
from .identities import Refused
from .resources import SamlProvider
from .views import into_console

METADATA_TYPE = "application/samlmetadata+xml"


class Assertion(BaseModel):
    """What the IdP's page posts to ``…/acs`` (HTTP-POST binding)."""

    model_config = ConfigDict(extra="ignore")

    # bounded by the request body limit (413), not by a length here: a form percent-encodes
    # base64's "+/=" to three bytes each, so no length would say what the limit allows
    SAMLResponse: str = Field(min_length=1)
    RelayState: str | None = Field(None, description="ignored: the login kept where to go")


def _entity_id(context: SamlProvider, request) -> str:
    return absolute_link(request, context, "metadata")


def _acs(context: SamlProvider, request) -> str:
    return absolute_link(request, context, "acs")


@view_config(context=SamlProvider, request_method="GET", renderer="json", permission="configure")
def show_provider(context: SamlProvider, request):
    return logins.provider_of(request, "saml").out().model_dump()


@view_config(context=SamlProvider, request_method="PUT", renderer="json", permission="configure")
def set_provider(context: SamlProvider, request):
    """The metadata must describe one IdP fit for logins before it is kept."""
    return (
        actions.set_saml(request, validated_body(request, providers.SamlSettings))
        .out()
        .model_dump()
    )


@view_config(context=SamlProvider, request_method="DELETE", permission="configure")
def remove_provider(context: SamlProvider, request):
    actions.remove_provider(request, "saml")
    return HTTPNoContent()


@view_config(
    context=SamlProvider, name="metadata", request_method="GET", permission=NO_PERMISSION_REQUIRED
)
def sp_metadata(context: SamlProvider, request):
    """Served before any IdP is set: its administrator needs it first."""
    body = saml.sp_metadata(_entity_id(context, request), _acs(context, request))
    return Response(body, content_type=METADATA_TYPE, charset="utf-8")


@view_config(
    context=SamlProvider, name="login", request_method="GET", permission=NO_PERMISSION_REQUIRED
)
def start_login(context: SamlProvider, request):
    """``?next=/{tenant}/console/…``: a console login; without it ``…/acs`` answers JSON."""
    next_path = logins.checked_next(request, query_params(request).get("next"))
    url = logins.start_saml(
        request, _entity_id(context, request), _acs(context, request), next_path
    )
    return HTTPSeeOther(url)


@view_config(
    context=SamlProvider, name="acs", request_method="POST", permission=NO_PERMISSION_REQUIRED
)
def consume_assertion(context: SamlProvider, request):
    """A refusal is answered, not raised: the audit entry saying why must commit. Where the
    browser goes next is what the login kept, never the posted RelayState."""
    posted = validated(Assertion, form_fields(request))
    try:
        token, expires_at, user, next_path = logins.finish_saml(
            request, _entity_id(context, request), _acs(context, request), posted.SAMLResponse
        )
    except Refused as error:
        return Response(json_body=error_body(error.code, error.message), status=error.status)
    if next_path is None:
        body = TokenOut(token=token, expires_at=expires_at, user=user_out(user)).model_dump()
        return Response(json_body=body, status=201)
    return into_console(request, context, token, next_path)


PROVIDER = "/{tenant}/sso/saml"
Out = providers.ProviderOut
OPERATIONS = (
    Operation(
        SamlProvider, "", "GET", PROVIDER, "The SAML provider", params=(TENANT,), returns=Out
    ),
    Operation(
        SamlProvider,
        "",
        "PUT",
        PROVIDER,
        "Set the SAML provider",
        200,
        providers.SamlSettings,
        params=(TENANT,),
        returns=Out,
    ),
    Operation(SamlProvider, "", "DELETE", PROVIDER, "Remove it", 204, params=(TENANT,)),
    Operation(
        SamlProvider,
        "metadata",
        "GET",
        PROVIDER + "/metadata",
        "This tenant's SAML service provider metadata",
        auth=None,
        params=(TENANT,),
        content=METADATA_TYPE,
        returns={"type": "string"},
        errors=(400, 404, 429, 502, 503),
    ),
    Operation(
        SamlProvider,
        "login",
        "GET",
        PROVIDER + "/login",
        "Start a SAML login",
        303,
        auth=None,
        params=(TENANT, {"name": "next", "in": "query", "schema": {"type": "string"}}),
        errors=(400, 404, 429, 502, 503),
    ),
    Operation(
        SamlProvider,
        "acs",
        "POST",
        PROVIDER + "/acs",
        "Finish a SAML login (the IdP's HTTP-POST)",
        201,
        Assertion,
        body_content="application/x-www-form-urlencoded",
        auth=None,
        returns=TokenOut,
        errors=(400, 401, 404, 413, 429, 502, 503),
        params=(TENANT,),
    ),
)
