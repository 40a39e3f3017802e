"""``/{tenant}/authz/policies`` (the owner's policies: read, replace) and
``/{tenant}/authz/explain`` (may this user do this to that one, and which policy says no)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pyramid.view import view_config

from ..errors import NotFound
from ..openapi import TENANT, Operation
from ..pagination import int_params
from ..users.models import User
from ..validation import Text, query_params, validated_body
from . import actions, cedar
from .resources import Authz
from .store import shown


class PoliciesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    source: Text = Field(max_length=60_000, description="Cedar forbid policies; empty: none")


class PoliciesOut(BaseModel):
    source: str
    updated_at: datetime | None


class Explanation(BaseModel):
    allowed: bool
    forbidding: list[str] = Field(description="the policies that forbid (policy0 is the first)")
    errors: list[str]


@view_config(
    context=Authz, name="policies", request_method="GET", renderer="json", permission="configure"
)
def read_policies(context: Authz, request):
    source, updated_at = shown(request.registry, context.tenant.record.id)
    return PoliciesOut(source=source, updated_at=updated_at).model_dump(mode="json")


@view_config(
    context=Authz, name="policies", request_method="PUT", renderer="json", permission="configure"
)
def replace_policies(context: Authz, request):
    """Validated against the tenant's schema (its users' attributes, its custom fields): a
    policy that does not parse, or names what is not there, is refused saying where."""
    actions.replace_policies(request, validated_body(request, PoliciesIn).source)
    return read_policies(context, request)


@view_config(
    context=Authz, name="explain", request_method="GET", renderer="json", permission="configure"
)
def explain(context: Authz, request):
    """``?principal=ID&action=view&resource=ID``: the decision the policies make (after the
    roles), and why."""
    ids = int_params(request, principal=(None, 1, 2**62), resource=(None, 1, 2**62))
    action = query_params(request).get("action", "view")
    session = request.dbsession
    principal, resource = (session.get(User, ids[k]) if ids[k] else None for k in ids)
    if principal is None or resource is None:
        raise NotFound("name a principal and a resource that are users of this tenant")
    decision = actions.explain(request, principal, action, resource)
    return Explanation(
        allowed=decision.allowed, forbidding=decision.forbidding, errors=decision.errors
    ).model_dump()


ACTION = {"name": "action", "in": "query", "schema": {"enum": list(cedar.ACTIONS)}}
IDS = [{"name": n, "in": "query", "schema": {"type": "integer"}} for n in ("principal", "resource")]
OPERATIONS = (
    Operation(
        Authz,
        "policies",
        "GET",
        "/{tenant}/authz/policies",
        "The tenant's policies",
        params=(TENANT,),
        returns=PoliciesOut,
    ),
    Operation(
        Authz,
        "policies",
        "PUT",
        "/{tenant}/authz/policies",
        "Replace them",
        200,
        PoliciesIn,
        params=(TENANT,),
        returns=PoliciesOut,
    ),
    Operation(
        Authz,
        "explain",
        "GET",
        "/{tenant}/authz/explain",
        "Why a decision",
        params=(TENANT, ACTION, *IDS),
        returns=Explanation,
    ),
)
