"""The API described in OpenAPI 3.1: ``GET /openapi.json``, and a page of it, ``/openapi.html``.

Traversal has no route table to read paths from, so each feature declares its operations
where its views are (an ``OPERATIONS`` tuple in its views module, which its ``includeme``
scans with ``config.add_api_views``): each names its view (context and view name), its path,
the pydantic model of its request body (the one the view validates with) and of its answer
(the one the view returns through). A test checks that every view the app registers is
described, so a new view cannot go undescribed. This module imports no feature. Built once
per app, at its first request.
"""

from dataclasses import dataclass, field
from html import escape

from pydantic import BaseModel
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.settings import asbool
from pyramid.view import view_config

from .hardening import PAGE_CSP
from .interfaces import IOpenAPIDocument, ISettingsCatalog, provide, service
from .pagination import MAX_ID, MAX_LIMIT
from .tenancy.resources import Root

TENANT = {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}


def row_id(name: str) -> dict:
    """A path parameter naming a row by its id."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


USER_ID = row_id("user_id")
SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
PAGE = (
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    },
    {
        "name": "after",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    },
)
MANAGED = "/-/tenants/{slug}"


@dataclass(frozen=True)
class Operation:
    context: type
    name: str
    method: str
    path: str
    summary: str
    status: int = 200
    # a model, the catalog's model by attribute, or a schema (a file's bytes)
    body: type[BaseModel] | str | dict | None = None
    auth: str | None = "tenant"  # "tenant", "operator" or None
    params: tuple = ()
    errors: tuple[int, ...] | None = None  # None: what any operation of its kind may answer
    content: str = "application/json"
    setting: str | None = None  # described only when this setting is on
    returns: type[BaseModel] | dict | None = None  # the answer's model (or schema), if any
    more: tuple = ()  # other successful answers: (status, model)
    body_content: str = "application/json"  # or a form's, as a SAML IdP posts
    body_required: bool = True  # False: no body means an empty one (a file of no bytes)

    def offered(self, settings) -> bool:
        return self.setting is None or asbool(settings.get(self.setting))

    def statuses(self) -> tuple[int, ...]:
        if self.errors is not None:
            return self.errors
        found = [400, 403, 404, 503]
        if self.auth is not None:
            found += [401, 429]
        if self.method != "GET" or self.auth == "operator":
            found.append(409)  # a taken email, the last owner, an archived tenant, …
        if self.body is not None:
            found += [413, 415]
        return tuple(sorted(found))


DESCRIBED_ELSEWHERE = {(Root, "openapi.json", "GET"), (Root, "openapi.html", "GET")}
ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    206: "Part of the file: the Range asked for (Content-Range says which)",
    303: "See Other: on to the Location",
    400: "Invalid input: the fields say which",
    401: "No valid token",
    403: "Not allowed",
    404: "No such resource (or not yours to know of)",
    409: "Conflicts with what is there (a taken email, the last owner, …)",
    413: "Body too large",
    415: "The body must be JSON (Content-Type: application/json)",
    416: "The Range asked for is not in the file",
    500: "A stored file does not open (changed or cut short in the store): restore it",
    429: "Too many requests: Retry-After says when to ask again",
    502: "An upstream service (an identity provider) did not answer",
    503: "Cannot serve now (a move, a migration, the database): Retry-After says when",
}


def build(registry) -> dict:
    catalog = service(registry, ISettingsCatalog)
    schemas = {"Error": ERROR}
    paths: dict = {}
    for op in service(registry, IOpenAPIDocument).operations:
        if not op.offered(registry.settings):
            continue
        model = getattr(catalog, op.body) if isinstance(op.body, str) else op.body
        operation = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path}",
            "parameters": list(op.params),
            "responses": _responses(op, schemas),
        }
        if op.auth is not None:
            operation["security"] = [{op.auth: []}]
        if model is not None:
            operation["requestBody"] = {
                "required": op.body_required,
                "content": {
                    op.body_content: {
                        "schema": model if isinstance(model, dict) else _component(model, schemas)
                    }
                },
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "tenantapp", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "tenant": {"type": "http", "scheme": "bearer", "description": "a user's token"},
                "operator": {"type": "http", "scheme": "bearer", "description": "the operator's"},
            },
        },
    }


def _without_null_defaults(schema):
    """pydantic writes ``"default": null`` for a field left out by default that may not be sent
    as null (``UserUpdate``): true of the model, but not a value of its own schema."""
    if isinstance(schema, dict):
        cleaned = {key: _without_null_defaults(value) for key, value in schema.items()}
        if cleaned.get("default", 0) is None and cleaned.get("type") not in (None, "null"):
            del cleaned["default"]
        return cleaned
    if isinstance(schema, list):
        return [_without_null_defaults(item) for item in schema]
    return schema


def _component(model: type[BaseModel], schemas: dict) -> dict:
    """``model``'s schema among the components (and the models it uses), by reference."""
    name = model.__name__
    if name not in schemas:
        schema = _without_null_defaults(
            model.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}


def _responses(op: Operation, schemas: dict) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses = {str(op.status): {"description": REASONS[op.status]}}
    if op.status != 204 and not 300 <= op.status < 400:
        returned = op.returns if op.returns is not None else {}
        if isinstance(returned, type):
            returned = _component(returned, schemas)
        responses[str(op.status)]["content"] = {op.content: {"schema": returned}}
    for status, model in op.more:
        if isinstance(model, dict):  # bytes, as the main answer's
            content = {op.content: {"schema": model}}
        else:
            content = {"application/json": {"schema": _component(model, schemas)}}
        responses[str(status)] = {"description": REASONS[status], "content": content}
    for status in op.statuses():
        responses[str(status)] = {"description": REASONS[status], **error}
    return responses


@dataclass
class Document:
    """The operations the features declared, and the document built of them at its first
    request (every view is registered by then)."""

    operations: list[Operation] = field(default_factory=list)
    spec: dict | None = None

    def __call__(self, registry) -> dict:
        if self.spec is None:
            self.spec = build(registry)
        return self.spec


def document(request) -> dict:
    return service(request.registry, IOpenAPIDocument)(request.registry)


@view_config(
    context=Root,
    name="openapi.json",
    request_method="GET",
    renderer="json",
    permission=NO_PERMISSION_REQUIRED,
)
def openapi_json(context, request):
    return document(request)


@view_config(
    context=Root, name="openapi.html", request_method="GET", permission=NO_PERMISSION_REQUIRED
)
def openapi_html(context, request):
    """Every operation, server-rendered: no script, so the strict CSP stands."""
    spec = document(request)
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            model = body["schema"]["$ref"].rsplit("/", 1)[1] if body else ""
            statuses = ", ".join(operation["responses"])
            auth = ", ".join(next(iter(s)) for s in operation.get("security", [])) or "none"
            rows.append(
                f"<tr><td>{escape(method.upper())}</td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(operation['summary'])}</td><td>{escape(model)}</td>"
                f"<td>{escape(auth)}</td><td>{escape(statuses)}</td></tr>"
            )
    stylesheet = escape(request.console_asset("console.css"))
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>tenantapp API</title>"
        f'<link rel="stylesheet" href="{stylesheet}"></head><body>'
        '<header><span class="brand">tenantapp</span><span class="where">API</span></header>'
        '<main><section class="card"><h1>tenantapp API</h1><p>The full description: '
        '<a href="openapi.json">openapi.json</a> (OpenAPI 3.1).</p><table><thead><tr>'
        "<th>method</th><th>path</th><th>what</th><th>body</th><th>token</th><th>answers</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section></main></body></html>"
    )
    response = Response(html, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = PAGE_CSP  # its stylesheet loads
    return response


def includeme(config):
    """The document, and ``config.add_api_views(module)`` for the features (each includes this
    module first: Pyramid includes it once)."""
    described = Document()
    provide(config, described, IOpenAPIDocument)

    def add_api_views(config, module: str) -> None:
        """Scan ``module`` (a dotted name, relative to the feature) for its views, and describe
        them by its ``OPERATIONS``."""
        module = config.maybe_dotted(module)
        config.scan(module)
        described.operations.extend(getattr(module, "OPERATIONS", ()))

    config.add_directive("add_api_views", add_api_views)
    config.scan(__name__)  # /openapi.json and /openapi.html
