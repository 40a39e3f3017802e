"""Defining a tenant's custom fields: members read them, owners change them (audited)."""

from pydantic import BaseModel, ConfigDict
from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ..openapi import TENANT, Operation
from ..validation import validated_body
from .actions import add_field, remove_field, set_indexed
from .custom import FieldDefinition, definitions, field_json
from .custom_indexes import states
from .resources import CustomFieldResource, CustomFields


class IndexWish(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    indexed: bool


def described(request, fields: list) -> list[dict]:
    """Fields as the API shows them: an indexed one with its index's state."""
    found = states(request.dbsession.connection()) if any(f.indexed for f in fields) else {}
    return [{**field_json(f), "index": found.get(f.name)} for f in fields]


@view_config(context=CustomFields, request_method="GET", renderer="json", permission="view")
def list_fields(context: CustomFields, request):
    return {"items": described(request, definitions(request.dbsession))}


@view_config(context=CustomFields, request_method="POST", renderer="json", permission="configure")
def define_field(context: CustomFields, request):
    field = add_field(request, validated_body(request, FieldDefinition))
    request.response.status_int = 201
    request.response.location = request.link(CustomFieldResource(context, field))
    return field_json(field)


@view_config(context=CustomFieldResource, request_method="GET", renderer="json", permission="view")
def show_field(context: CustomFieldResource, request):
    return described(request, [context.field])[0]


@view_config(
    context=CustomFieldResource, request_method="PATCH", renderer="json", permission="configure"
)
def index_field(context: CustomFieldResource, request):
    set_indexed(request, context.field, validated_body(request, IndexWish).indexed)
    return described(request, [context.field])[0]


@view_config(context=CustomFieldResource, request_method="DELETE", permission="configure")
def delete_field(context: CustomFieldResource, request):
    remove_field(request, context.field)
    return HTTPNoContent()


FIELD = {"name": "field", "in": "path", "required": True, "schema": {"type": "string"}}
FIELDS, ONE = "/{tenant}/fields", "/{tenant}/fields/{field}"
OPERATIONS = (
    Operation(CustomFields, "", "GET", FIELDS, "Custom fields", params=(TENANT,)),
    Operation(CustomFields, "", "POST", FIELDS, "Define", 201, FieldDefinition, params=(TENANT,)),
    Operation(CustomFieldResource, "", "GET", ONE, "A field", params=(TENANT, FIELD)),
    Operation(
        CustomFieldResource,
        "",
        "PATCH",
        ONE,
        "Index or not",
        200,
        IndexWish,
        params=(TENANT, FIELD),
    ),
    Operation(CustomFieldResource, "", "DELETE", ONE, "Remove", 204, params=(TENANT, FIELD)),
)
