"""Defining a tenant's custom fields: members read them, owners change them (audited)."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.view import view_config
from sqlalchemy import func, select, update

from .. import audit
from ..errors import Conflict
from ..validation import validated_body
from .custom import MAX_FIELDS, CustomField, FieldDefinition, definitions, field_json
from .models import User
from .resources import CustomFieldResource, CustomFields


@view_config(context=CustomFields, request_method="GET", renderer="json", permission="view")
def list_fields(context: CustomFields, request):
    return {"items": [field_json(f) for f in definitions(request.dbsession)]}


@view_config(context=CustomFields, request_method="POST", renderer="json", permission="configure")
def define_field(context: CustomFields, request):
    data = validated_body(request, FieldDefinition)
    session = request.dbsession
    if session.get(CustomField, data.name) is not None:
        raise Conflict(f"a custom field {data.name!r} exists", {"name": "taken"})
    if session.scalar(select(func.count()).select_from(CustomField)) >= MAX_FIELDS:
        raise Conflict(f"a tenant has at most {MAX_FIELDS} custom fields")
    field = CustomField(**data.model_dump())
    session.add(field)
    session.flush()
    audit.record(request, "field.created", f"field:{field.name}", **field_json(field))
    request.response.status_int = 201
    request.response.location = request.link(CustomFieldResource(context, field))
    return field_json(field)


@view_config(context=CustomFieldResource, request_method="GET", renderer="json", permission="view")
def show_field(context: CustomFieldResource, request):
    return field_json(context.field)


@view_config(context=CustomFieldResource, request_method="DELETE", permission="configure")
def remove_field(context: CustomFieldResource, request):
    """The definition and every user's value of it."""
    name = context.field.name
    session = request.dbsession
    session.execute(
        update(User).where(User.custom.has_key(name)).values(custom=User.custom.op("-")(name))
    )
    session.delete(context.field)
    audit.record(request, "field.removed", f"field:{name}")
    return HTTPNoContent()
