"""The API described in OpenAPI 3.1: ``GET /openapi.json``, and a page of it, ``/openapi.html``.

Traversal has no route table to read paths from, so ``OPERATIONS`` names each view (its context
and view name) with its path; a test checks that every view the app registers is here, so a new
view cannot go undescribed. Request bodies are the pydantic models the views validate with
(``validated_body``), so the document and the validation cannot disagree; the settings bodies
are the models built from the ini's declarations. Built once per app.
"""

from dataclasses import dataclass
from html import escape

from pydantic import BaseModel
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.settings import asbool
from pyramid.view import view_config

from .audit.resources import AuditLog
from .console.pages import CSP
from .domains.resources import DomainCheck, ManagedDomain, ManagedDomains
from .domains.views import DomainClaim
from .identity.impersonation import ImpersonationRequest
from .identity.login import Login
from .identity.resources import Tokens
from .interfaces import IOpenAPIDocument, ISettingsCatalog, provide, service
from .metrics.resources import Metrics
from .pagination import MAX_ID, MAX_LIMIT
from .platform.actions import TenantCreate, TenantMove
from .platform.resources import ManagedTenant, ManagedTenants, Readiness, Stats
from .tenancy.resources import Root, Tenant
from .tenant_settings.resources import TenantSettings
from .users.custom import FieldDefinition
from .users.resources import CustomFieldResource, CustomFields, UserResource, Users
from .users.schemas import PasswordChange, RoleChange, UserCreate, UserUpdate

TENANT = {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}
USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
SLUG = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
FIELD = {"name": "field", "in": "path", "required": True, "schema": {"type": "string"}}
DOMAIN = {"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}
PAGE = [
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
]


@dataclass(frozen=True)
class Operation:
    context: type
    name: str
    method: str
    path: str
    summary: str
    status: int = 200
    body: type[BaseModel] | str | None = None  # a model, or the catalog's model by attribute
    auth: str | None = "tenant"  # "tenant", "operator" or None
    params: tuple = ()
    errors: tuple[int, ...] | None = None  # None: what any operation of its kind may answer
    content: str = "application/json"
    setting: str | None = None  # described only when this setting is on

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


USERS = "/{tenant}/users"
USER = "/{tenant}/users/{user_id}"
MANAGED = "/-/tenants/{slug}"
CUSTOM_DOMAINS = "tenantapp.custom_domains"
OPERATIONS = (
    Operation(Root, "", "GET", "/", "What this server is", auth=None, errors=(503,)),
    Operation(Readiness, "", "GET", "/-/ready", "Ready to serve (503 until migrated)", auth=None),
    Operation(
        DomainCheck, "", "GET", "/-/domain-check", "May a TLS proxy get a certificate?", auth=None
    ),
    Operation(Tenant, "", "GET", "/{tenant}", "The tenant", params=(TENANT,)),
    Operation(
        Tokens,
        "",
        "POST",
        "/{tenant}/tokens",
        "Log in",
        201,
        Login,
        None,
        (TENANT,),
        (400, 401, 403, 404, 413, 415, 429, 503),
    ),
    Operation(Tokens, "", "DELETE", "/{tenant}/tokens", "Log out", 204, params=(TENANT,)),
    Operation(Users, "", "GET", USERS, "List users", params=(TENANT, *PAGE)),
    Operation(Users, "", "POST", USERS, "Add a user", 201, UserCreate, params=(TENANT,)),
    Operation(UserResource, "", "GET", USER, "A user", params=(TENANT, USER_ID)),
    Operation(
        UserResource, "", "PATCH", USER, "Change a user", body=UserUpdate, params=(TENANT, USER_ID)
    ),
    Operation(UserResource, "", "DELETE", USER, "Remove a user", 204, params=(TENANT, USER_ID)),
    Operation(
        UserResource,
        "role",
        "PUT",
        USER + "/role",
        "Set a role",
        200,
        RoleChange,
        params=(TENANT, USER_ID),
    ),
    Operation(
        UserResource,
        "password",
        "PUT",
        USER + "/password",
        "Set a password",
        204,
        PasswordChange,
        params=(TENANT, USER_ID),
    ),
    Operation(
        UserResource,
        "invitation",
        "POST",
        USER + "/invitation",
        "Invite (a job)",
        202,
        params=(TENANT, USER_ID),
    ),
    Operation(AuditLog, "", "GET", "/{tenant}/audit", "The audit log", params=(TENANT, *PAGE)),
    Operation(TenantSettings, "", "GET", "/{tenant}/settings", "Settings", params=(TENANT,)),
    Operation(
        TenantSettings,
        "",
        "PATCH",
        "/{tenant}/settings",
        "Change settings",
        200,
        "owner_change",
        params=(TENANT,),
    ),
    Operation(CustomFields, "", "GET", "/{tenant}/fields", "Custom fields", params=(TENANT,)),
    Operation(
        CustomFields,
        "",
        "POST",
        "/{tenant}/fields",
        "Define a field",
        201,
        FieldDefinition,
        params=(TENANT,),
    ),
    Operation(
        CustomFieldResource,
        "",
        "GET",
        "/{tenant}/fields/{field}",
        "A field",
        params=(TENANT, FIELD),
    ),
    Operation(
        CustomFieldResource,
        "",
        "DELETE",
        "/{tenant}/fields/{field}",
        "Remove a field",
        204,
        params=(TENANT, FIELD),
    ),
    Operation(ManagedTenants, "", "GET", "/-/tenants", "Tenants", auth="operator"),
    Operation(
        ManagedTenants, "", "POST", "/-/tenants", "Create a tenant", 201, TenantCreate, "operator"
    ),
    Operation(ManagedTenant, "", "GET", MANAGED, "A tenant", auth="operator", params=(SLUG,)),
    Operation(
        ManagedTenant,
        "",
        "DELETE",
        MANAGED,
        "Archive (or purge) a tenant",
        204,
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "move",
        "POST",
        MANAGED + "/move",
        "Move a tenant online",
        200,
        TenantMove,
        "operator",
        (SLUG,),
    ),
    Operation(
        ManagedTenant,
        "suspend",
        "POST",
        MANAGED + "/suspend",
        "Suspend",
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "resume",
        "POST",
        MANAGED + "/resume",
        "Resume",
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "restore",
        "POST",
        MANAGED + "/restore",
        "Restore",
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "settings",
        "GET",
        MANAGED + "/settings",
        "Settings and flags",
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "settings",
        "PATCH",
        MANAGED + "/settings",
        "Change settings and flags",
        200,
        "operator_change",
        "operator",
        (SLUG,),
    ),
    Operation(
        ManagedTenant,
        "usage",
        "GET",
        MANAGED + "/usage",
        "Usage by day",
        auth="operator",
        params=(SLUG, {"name": "days", "in": "query", "schema": {"type": "integer"}}),
    ),
    Operation(
        ManagedTenant,
        "impersonation",
        "POST",
        MANAGED + "/impersonation",
        "A token acting as a user",
        201,
        ImpersonationRequest,
        "operator",
        (SLUG,),
    ),
    Operation(
        ManagedDomains,
        "",
        "GET",
        MANAGED + "/domains",
        "Custom domains",
        auth="operator",
        params=(SLUG,),
        setting=CUSTOM_DOMAINS,
    ),
    Operation(
        ManagedDomains,
        "",
        "POST",
        MANAGED + "/domains",
        "Claim a domain",
        201,
        DomainClaim,
        "operator",
        (SLUG,),
        setting=CUSTOM_DOMAINS,
    ),
    Operation(
        ManagedDomain,
        "",
        "GET",
        MANAGED + "/domains/{domain}",
        "A domain",
        auth="operator",
        params=(SLUG, DOMAIN),
        setting=CUSTOM_DOMAINS,
    ),
    Operation(
        ManagedDomain,
        "",
        "DELETE",
        MANAGED + "/domains/{domain}",
        "Release a domain",
        204,
        auth="operator",
        params=(SLUG, DOMAIN),
        setting=CUSTOM_DOMAINS,
    ),
    Operation(
        ManagedDomain,
        "verify",
        "POST",
        MANAGED + "/domains/{domain}/verify",
        "Verify by DNS TXT",
        auth="operator",
        params=(SLUG, DOMAIN),
        setting=CUSTOM_DOMAINS,
    ),
    Operation(
        Metrics,
        "",
        "GET",
        "/-/metrics",
        "Prometheus metrics",
        auth="operator",
        content="text/plain",
    ),
    Operation(Stats, "", "GET", "/-/stats", "This process's caches and pools", auth="operator"),
)
DESCRIBED_ELSEWHERE = {(Root, "openapi.json", "GET"), (Root, "openapi.html", "GET")}
NULLABLE_STRING = {"type": ["string", "null"]}
USER_SCHEMA = {
    "type": "object",
    "required": ["id", "email", "name", "role", "custom", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "role": {"enum": ["owner", "admin", "member"]},
        "custom": {"type": "object", "description": "the tenant's custom fields' values"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
AUDIT_ENTRY_SCHEMA = {
    "type": "object",
    "required": ["id", "occurred_at", "actor", "action", "target", "request_id", "detail"],
    "properties": {
        "id": {"type": "integer"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "target": NULLABLE_STRING,
        "request_id": NULLABLE_STRING,
        "client_request_id": NULLABLE_STRING,
        "detail": {"type": ["object", "null"]},
    },
}
TOKEN_SCHEMA = {
    "type": "object",
    "required": ["token", "token_type", "expires_at", "user"],
    "properties": {
        "token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_at": {"type": "string", "format": "date-time"},
        "user": {"$ref": "#/components/schemas/User"},
    },
}


def page_of(ref: str) -> dict:
    return {
        "type": "object",
        "required": ["items", "limit", "next"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": ref}},
            "limit": {"type": "integer"},
            "next": NULLABLE_STRING,
        },
    }


TENANT_SCHEMA = {
    "type": "object",
    "required": ["id", "slug", "name", "status", "mode", "server", "revision", "schema"],
    "properties": {
        "id": {"type": "integer"},
        "slug": {"type": "string"},
        "name": {"type": "string"},
        "status": {"enum": ["active", "suspended", "deleted"]},
        "mode": {"enum": ["schema", "shared", "database"]},
        "server": {"type": "string"},
        "revision": NULLABLE_STRING,
        "schema": {"type": "string"},
        "size_bytes": {"type": ["integer", "null"]},
        "migration": {"type": "object"},
    },
}
DESCRIBED_SETTINGS = {
    "type": "object",
    "required": ["settings", "flags"],
    "properties": {
        "settings": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["type", "default", "override", "value", "owner_editable"],
            },
        },
        "flags": {"type": "object"},
    },
}
USER_REF = {"$ref": "#/components/schemas/User"}
TENANT_REF = {"$ref": "#/components/schemas/Tenant"}
RETURNS = {  # the success bodies described so far, by operation
    (Users, "", "GET"): page_of("#/components/schemas/User"),
    (Users, "", "POST"): USER_REF,
    (UserResource, "", "GET"): USER_REF,
    (UserResource, "", "PATCH"): USER_REF,
    (UserResource, "role", "PUT"): USER_REF,
    (UserResource, "invitation", "POST"): {
        "type": "object",
        "required": ["user", "status"],
        "properties": {"user": {"type": "integer"}, "status": {"const": "queued"}},
    },
    (Tokens, "", "POST"): {"$ref": "#/components/schemas/Token"},
    (AuditLog, "", "GET"): page_of("#/components/schemas/AuditEntry"),
    (ManagedTenants, "", "GET"): {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": TENANT_REF}},
    },
    (ManagedTenants, "", "POST"): TENANT_REF,
    (ManagedTenant, "", "GET"): TENANT_REF,
    (ManagedTenant, "suspend", "POST"): TENANT_REF,
    (ManagedTenant, "resume", "POST"): TENANT_REF,
    (ManagedTenant, "restore", "POST"): TENANT_REF,
    (ManagedTenant, "settings", "GET"): DESCRIBED_SETTINGS,
    (ManagedTenant, "settings", "PATCH"): DESCRIBED_SETTINGS,
    (ManagedTenant, "usage", "GET"): {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["day", "requests", "errors", "db_ms", "rows", "bytes"],
                },
            }
        },
    },
    (ManagedTenant, "impersonation", "POST"): {
        "type": "object",
        "required": ["token", "token_type", "expires_at", "user", "operator"],
        "properties": {"user": USER_REF, "operator": {"type": "string"}},
    },
}
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
    400: "Invalid input: the fields say which",
    401: "No valid token",
    403: "Not allowed",
    404: "No such resource (or not yours to know of)",
    409: "Conflicts with what is there (a taken email, the last owner, …)",
    413: "Body too large",
    415: "The body must be JSON (Content-Type: application/json)",
    429: "Too many requests: Retry-After says when to ask again",
    503: "Cannot serve now (a move, a migration, the database): Retry-After says when",
}


def build(registry) -> dict:
    catalog = service(registry, ISettingsCatalog)
    schemas = {
        "Error": ERROR,
        "User": USER_SCHEMA,
        "AuditEntry": AUDIT_ENTRY_SCHEMA,
        "Token": TOKEN_SCHEMA,
        "Tenant": TENANT_SCHEMA,
    }
    paths: dict = {}
    for op in OPERATIONS:
        if not op.offered(registry.settings):
            continue
        model = getattr(catalog, op.body) if isinstance(op.body, str) else op.body
        operation = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path}",
            "parameters": list(op.params),
            "responses": _responses(op),
        }
        if op.auth is not None:
            operation["security"] = [{op.auth: []}]
        if model is not None:
            name = model.__name__
            schema = _without_null_defaults(
                model.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
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


def _responses(op: Operation) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses = {str(op.status): {"description": REASONS[op.status]}}
    if op.status != 204:
        returned = RETURNS.get((op.context, op.name, op.method), {})
        responses[str(op.status)]["content"] = {op.content: {"schema": returned}}
    for status in op.statuses():
        responses[str(status)] = {"description": REASONS[status], **error}
    return responses


class Document:
    """The OpenAPI document, built at its first request (every view is registered by then)."""

    def __init__(self):
        self.spec: dict | None = None

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
    response.headers["Content-Security-Policy"] = CSP  # the console's: its stylesheet loads
    return response


def includeme(config):
    provide(config, Document(), IOpenAPIDocument)
    config.scan(__name__)  # /openapi.json and /openapi.html
