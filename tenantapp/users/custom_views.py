"""Defining a tenant's custom fields: members read them, owners change them (audited)."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config

from ..openapi import TENANT, Operation
from ..validation import validated_body
from .actions import add_field, remove_field
from .custom import FieldDefinition, definitions, field_json
from .resources import CustomFieldResource, CustomFields


@view_config(context=CustomFields, request_method="GET", renderer="json", permission="view")
def list_fields(context: CustomFields, request):
    return {"items": [field_json(f) for f in definitions(request.dbsession)]}


@view_config(context=CustomFields, request_method="POST", renderer="json", permission="configure")
def define_field(context: CustomFields, request):
    field = add_field(request, validated_body(request, FieldDefinition))
    request.response.status_int = 201
    request.response.location = request.link(CustomFieldResource(context, field))
    return field_json(field)


@view_config(context=CustomFieldResource, request_method="GET", renderer="json", permission="view")
def show_field(context: CustomFieldResource, request):
    return field_json(context.field)


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
    Operation(CustomFieldResource, "", "DELETE", ONE, "Remove", 204, params=(TENANT, FIELD)),
)
