"""``/{tenant}/scim/v2/…``: SCIM 2.0 (RFC 7643, 7644) for the tenant's directory, served by
scim2-server over the tenant's users; ``/{tenant}/scim/tokens``: the owner's tokens for it."""

from http import HTTPStatus

from pyramid.httpexceptions import HTTPNoContent
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config
from scim2_models import (
    AuthenticationScheme,
    External,
    Group,
    Reference,
    SCIMException,
    ScimProvider,
    ServiceProviderConfig,
    UnauthorizedException,
    User,
)
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.service import ScimService

from ..interfaces import IBodyLimit, service
from ..openapi import TENANT, Operation
from ..validation import validated_body
from . import actions, tokens
from .resources import Scim, ScimToken, ScimTokens
from .storage import TenantUsers

CONFIG = ServiceProviderConfig.model_validate(
    {
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": 200},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": True},
        "authenticationSchemes": [
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="a token the tenant's owner made at /{tenant}/scim/tokens",
                spec_uri=Reference[External]("https://datatracker.ietf.org/doc/html/rfc6750"),
            )
        ],
    }
)
SERVICE = ScimService(ScimProvider(models=[User, Group], config=CONFIG))


@view_config(context=Scim, name="v2", permission=NO_PERMISSION_REQUIRED)
def scim(context: Scim, request):
    """Every SCIM request of the tenant: its token checked (but for the service provider's
    configuration, RFC 7643 §5), then served by scim2-server in the request's transaction."""
    base = request.link(context) + "/v2"
    scim_request = ScimRequest(
        method=request.method,
        base_url=base,
        path="/" + "/".join(request.subpath),
        query=dict(request.GET.items()),
        headers=dict(request.headers.items()),
    )
    try:
        limit = service(request.registry, IBodyLimit).max_bytes
        scim_request.body = request.body_file.read(limit + 1)
        if len(scim_request.body) > limit:
            return _response(ScimResponse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE))
        holder = tokens.holder(
            request.registry, context.tenant.record.id, request.headers.get("Authorization")
        )
        public = scim_request.path.rstrip("/").endswith("/ServiceProviderConfig")
        if holder is None and not public:
            raise UnauthorizedException(detail="a SCIM token of this tenant is required")
        storage = TenantUsers(request, actor=f"scim:{holder}")
        answer = ScimHandler(SERVICE, storage).handle(scim_request)
    except SCIMException as error:
        if request.method not in ("GET", "HEAD"):
            request.tm.doom()  # refused: nothing it did is kept
        answer = SERVICE.error_response(error)
    answer.headers.setdefault("Cache-Control", "no-cache")
    return _response(answer)


def _response(answer: ScimResponse) -> Response:
    response = Response(status=answer.status.value)
    for name, value in answer.headers.items():
        response.headers[name] = value
    if answer.body is not None:
        response.json_body = answer.body
        response.content_type = answer.headers.get("Content-Type", "application/scim+json")
    return response


@view_config(context=ScimTokens, request_method="GET", renderer="json", permission="configure")
def list_tokens(context: ScimTokens, request):
    items = tokens.listed(request.registry, context.tenant.record.id)
    return tokens.ScimTokenList(items=items).model_dump(mode="json")


@view_config(context=ScimTokens, request_method="POST", renderer="json", permission="configure")
def make_token(context: ScimTokens, request):
    """The token is in this answer only."""
    made = actions.make_token(request, validated_body(request, tokens.TokenRequest).name)
    request.response.status_int = 201
    return made.model_dump(mode="json")


@view_config(context=ScimToken, request_method="DELETE", permission="configure")
def revoke_token(context: ScimToken, request):
    actions.revoke_token(request, context.token_id)
    return HTTPNoContent()


TOKENS = "/{tenant}/scim/tokens"
TOKEN_ID = {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}
OPERATIONS = (
    Operation(
        ScimTokens,
        "",
        "GET",
        TOKENS,
        "SCIM tokens",
        params=(TENANT,),
        returns=tokens.ScimTokenList,
    ),
    Operation(
        ScimTokens,
        "",
        "POST",
        TOKENS,
        "Make a SCIM token",
        201,
        tokens.TokenRequest,
        params=(TENANT,),
        returns=tokens.ScimTokenOut,
    ),
    Operation(
        ScimToken,
        "",
        "DELETE",
        TOKENS + "/{token_id}",
        "Revoke",
        204,
        params=(TENANT, TOKEN_ID),
    ),
)
