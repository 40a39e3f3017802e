"""JSON views of a tenant's files, and their contents with ``Content-Disposition`` and ranges."""

from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field
from pyramid.httpexceptions import HTTPNoContent
from pyramid.response import Response
from pyramid.view import view_config

from ..openapi import PAGE, TENANT, Operation, row_id
from ..pagination import Page, keyset_page
from ..validation import Timestamp, query_params
from . import actions, digests
from .models import StoredFile
from .resources import FileResource, Files


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    content_type: str = Field(description="sniffed from the first bytes, never the upload's word")
    size: int
    sha256: str | None = Field(
        description="hex; known when the upload sent it in Repr-Digest or Content-Digest"
    )
    uploaded_by: int | None
    created_at: Timestamp


class FilePage(Page[FileOut]):
    """``GET /{tenant}/files``."""


def file_json(stored: StoredFile) -> dict:
    return FileOut.model_validate(stored).model_dump(mode="json")


@view_config(context=Files, request_method="GET", renderer="json", permission="view")
def list_files(context: Files, request):
    return keyset_page(request, context, StoredFile.id, file_json)


@view_config(context=Files, request_method="POST", renderer="json", permission="upload")
def upload_file(context: Files, request):
    """The body is the file's bytes, streamed (any Content-Type: it is sniffed, not trusted).
    A ``Repr-Digest: sha-256=:…:`` is checked: a body that does not match is not kept."""
    name = actions.file_name(query_params(request).get("name"))
    stored = actions.upload(request, name)
    request.response.status_int = 201
    request.response.location = request.link(context.child(stored))
    return file_json(stored)


@view_config(context=FileResource, request_method="GET", renderer="json", permission="view")
def get_file(context: FileResource, request):
    return file_json(context.file)


@view_config(context=FileResource, request_method="DELETE", permission="delete")
def delete_file(context: FileResource, request):
    actions.delete(request, context.file)
    return HTTPNoContent()


@view_config(context=FileResource, name="content", request_method="GET", permission="view")
def file_content(context: FileResource, request):
    """The bytes, as an attachment; one ``Range`` of bytes gives 206 (several, or one that
    does not parse, the whole file, as HTTP allows)."""
    stored = context.file
    start, stop, status = 0, stored.size, 200
    if request.range is not None:
        asked = request.range.range_for_length(stored.size)
        if asked is None:
            return _not_in_file(stored.size)
        (start, stop), status = asked, 206
    first, rest = actions.contents(request, stored, start, stop)
    response = Response(
        status=status,
        content_type=stored.content_type,
        app_iter=_joined(first, rest),
        content_length=stop - start,
        conditional_response=False,
    )
    response.headers["Content-Disposition"] = _attachment(stored.name)
    response.headers["Accept-Ranges"] = "bytes"
    response.etag = stored.blob  # a blob is never rewritten: a file's new bytes are a new blob
    if stored.sha256:
        response.headers["Repr-Digest"] = digests.field(stored.sha256)
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{stored.size}"
    return response


def _joined(first: bytes, rest):
    yield first
    yield from rest


def _not_in_file(size: int) -> Response:
    response = Response(
        json_body={"error": "range_not_satisfiable", "message": f"the file has {size} bytes"},
        status=416,
    )
    response.headers["Content-Range"] = f"bytes */{size}"
    return response


def _attachment(name: str) -> str:
    """``attachment`` with the name as ASCII (others replaced) and as UTF-8 (RFC 6266)."""
    plain = "".join(c if c.isascii() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


FILES = "/{tenant}/files"
FILE = "/{tenant}/files/{file_id}"
FILE_ID = row_id("file_id")
NAME = {
    "name": "name",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
BYTES = {"type": "string", "format": "binary"}
REPR_DIGEST = {
    "name": "Repr-Digest",
    "in": "header",
    "required": False,
    "description": "sha-256=:BASE64: (RFC 9530): checked, and kept as the file's sha256",
    "schema": {"type": "string"},
}
OPERATIONS = (
    Operation(Files, "", "GET", FILES, "List files", params=(TENANT, *PAGE), returns=FilePage),
    Operation(
        Files,
        "",
        "POST",
        FILES,
        "Upload a file (the body is its bytes)",
        201,
        BYTES,
        params=(TENANT, NAME, REPR_DIGEST),
        errors=(400, 401, 403, 404, 409, 413, 429, 503),
        returns=FileOut,
        body_content="application/octet-stream",
        body_required=False,  # an empty body is a file of no bytes
    ),
    Operation(FileResource, "", "GET", FILE, "A file", params=(TENANT, FILE_ID), returns=FileOut),
    Operation(FileResource, "", "DELETE", FILE, "Delete a file", 204, params=(TENANT, FILE_ID)),
    Operation(
        FileResource,
        "content",
        "GET",
        FILE + "/content",
        "A file's bytes (Range: one range of bytes)",
        params=(TENANT, FILE_ID),
        content="*/*",  # the type sniffed at upload
        returns=BYTES,
        errors=(400, 401, 403, 404, 416, 429, 500, 503),
        more=((206, BYTES),),
    ),
)
