"""``/{tenant}/users/{id}/data``: a person's data as a zip (owners, and the person); and
``…/erase``: erasing it (owners)."""

from pyramid.httpexceptions import HTTPNoContent
from pyramid.response import FileIter, Response
from pyramid.view import view_config

from ..openapi import TENANT, USER_ID, Operation
from ..users.resources import UserResource
from .actions import erase_person, export_person


@view_config(context=UserResource, name="data", request_method="GET", permission="personal-data")
def personal_data(context: UserResource, request):
    archive = export_person(request, context.user)
    response = Response(content_type="application/zip", app_iter=FileIter(archive))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="user-{context.user.id}-data.zip"'
    )
    return response


@view_config(context=UserResource, name="erase", request_method="POST", permission="erase")
def erase(context: UserResource, request):
    erase_person(request, context.user)
    return HTTPNoContent()


USER = "/{tenant}/users/{user_id}"
ZIP = {"type": "string", "format": "binary"}
OPERATIONS = (
    Operation(
        UserResource,
        "data",
        "GET",
        USER + "/data",
        "Everything held about a person, as a zip (owners; the person themself)",
        params=(TENANT, USER_ID),
        content="application/zip",
        returns=ZIP,
    ),
    Operation(
        UserResource,
        "erase",
        "POST",
        USER + "/erase",
        "Erase a person: removed or pseudonymised everywhere in the tenant (owners)",
        204,
        params=(TENANT, USER_ID),
    ),
)
