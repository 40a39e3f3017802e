"""The operator's console: tenants listed with their usage; created, suspended, resumed,
moved, archived and restored; their settings and flags changed, as the operator API does."""

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.interfaces import ISecurityPolicy
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..errors import Conflict
from ..interfaces import IOperatorSessions, IServers, ISettingsCatalog, IUsageLedger, service
from ..metrics.statements import top_statements
from ..metrics.usage import busiest_tenants, usage_of
from ..platform.actions import STATUS_FOR_ACTION, TenantCreate, TenantMove, create, move
from ..tenancy.directory import find_tenant
from ..tenancy.models import MODES
from ..tenant_settings.catalog import changes
from ..tenant_settings.overrides import update_overrides
from ..validation import form_fields, validated
from .pages import is_htmx, log_in_browser, log_out_browser, shown_on, template
from .resources import OperatorConsole, TenantPage

USAGE_DAYS = 30


def _tenants_page(context: OperatorConsole, request, **extra) -> dict:
    return {
        "console": context,
        "tenants": [
            {"info": info, "link": request.link(context[info.slug])}
            for info in context.tenants.tenancy.list_tenants()
        ],
        "modes": MODES,
        "servers": [server.name for server in service(request.registry, IServers)],
        "busiest": busiest_tenants(context.tenants.tenancy.registry, 1, 10),
        "form": {},
        **extra,
    }


@view_config(
    context=OperatorConsole,
    name="login",
    request_method="GET",
    renderer=template("operator_login.jinja2"),
    permission=NO_PERMISSION_REQUIRED,
)
def login_form(context: OperatorConsole, request):
    return {"console": context}


@view_config(
    context=OperatorConsole,
    name="login",
    request_method="POST",
    renderer=template("operator_login.jinja2"),
    permission=NO_PERMISSION_REQUIRED,
    require_csrf=True,
)
def login(context: OperatorConsole, request):
    """The operator token, checked as the API checks it, opens a session of the console's own
    (its cookie never holds the token); failures are throttled per client address."""
    sessions = service(request.registry, IOperatorSessions)
    address = request.remote_addr or ""  # the proxy's rewrite if trusted, never a header
    wait = sessions.wait(address)
    if wait is not None:
        request.response.status_int = 429
        request.response.headers["Retry-After"] = str(wait)
        error = f"too many failed logins from here: try again in {wait} s"
        return {"console": context, "error": error, "problems": {}}
    token = form_fields(request).get("token", "")
    if not request.registry.getUtility(ISecurityPolicy).is_operator_token(token):
        sessions.failed(address)
        request.response.status_int = 401
        return {"console": context, "error": "that is not the operator token", "problems": {}}
    response = HTTPSeeOther(request.link(context))
    session = sessions.open(address)
    log_in_browser(request, response, context, session, sessions.ttl)
    return response


@view_config(context=OperatorConsole, name="logout", request_method="POST", require_csrf=True)
def logout(context: OperatorConsole, request):
    """The session is deleted, not only the cookie: a copy of it opens nothing any more."""
    identity = request.identity
    if identity is not None and identity.token is not None:
        service(request.registry, IOperatorSessions).close(identity.token)
    response = HTTPSeeOther(request.link(context) + "/login")
    log_out_browser(request, response, context)
    return response


@view_config(
    context=OperatorConsole,
    request_method="GET",
    renderer=template("tenants.jinja2"),
    permission="operate",
)
def tenants(context: OperatorConsole, request):
    return _tenants_page(context, request)


@view_config(
    context=OperatorConsole,
    request_method="POST",
    renderer=template("tenants.jinja2"),
    permission="operate",
    require_csrf=True,
)
@shown_on(_tenants_page, keep_form=True)
def create_tenant(context: OperatorConsole, request):
    """The page again, saying what was made: a new owner's password is shown this once."""
    data = validated(TenantCreate, form_fields(request), strict=False)
    info, owner = create(context.tenants.tenancy, data, request)
    request.response.status_int = 201
    return _tenants_page(context, request, created=info, owner=owner)


def _tenant_page(context: TenantPage, request, **extra) -> dict:
    tenancy = context.managed.tenancy
    info = tenancy.get_tenant(context.info.slug)
    service(request.registry, IUsageLedger).flush()
    entry = find_tenant(tenancy.registry, info.slug)  # None once archived
    catalog = service(request.registry, ISettingsCatalog)
    return {
        "console": context.__parent__,
        "page": context,
        "info": info,
        "usage": usage_of(tenancy.registry, info.id, USAGE_DAYS),
        "statements": top_statements(tenancy.registry, info.id, 1, "total_ms", 10),
        "usage_days": USAGE_DAYS,
        "described": catalog.describe(entry) if entry is not None else None,
        "choices": catalog.choices(),
        "modes": MODES,
        "servers": [server.name for server in service(request.registry, IServers)],
        **extra,
    }


@view_config(
    context=TenantPage,
    request_method="GET",
    renderer=template("tenant.jinja2"),
    permission="operate",
)
def tenant(context: TenantPage, request):
    return _tenant_page(context, request)


@view_config(
    context=TenantPage,
    name="suspend",
    request_method="POST",
    renderer=template("tenant_row.jinja2"),
    permission="operate",
    require_csrf=True,
)
@view_config(
    context=TenantPage,
    name="resume",
    request_method="POST",
    renderer=template("tenant_row.jinja2"),
    permission="operate",
    require_csrf=True,
)
def change_status(context: TenantPage, request):
    """htmx swaps the tenant's row in the list; without htmx, to the tenant's page."""
    status = STATUS_FOR_ACTION[request.view_name]
    info = context.managed.tenancy.set_status(context.info.slug, status)
    if not is_htmx(request):
        return HTTPSeeOther(request.link(context))
    return {"row": {"info": info, "link": request.link(context)}}


@view_config(
    context=TenantPage,
    name="move",
    request_method="POST",
    renderer=template("tenant.jinja2"),
    permission="operate",
    require_csrf=True,
)
@shown_on(_tenant_page)
def move_tenant(context: TenantPage, request):
    """Moved while served; the page says how long writes were paused."""
    data = validated(TenantMove, form_fields(request), strict=False)
    report = move(context.managed.tenancy, context.info.slug, data)
    return _tenant_page(context, request, moved=report)


@view_config(
    context=TenantPage,
    name="archive",
    request_method="POST",
    permission="operate",
    require_csrf=True,
)
@view_config(
    context=TenantPage,
    name="restore",
    request_method="POST",
    permission="operate",
    require_csrf=True,
)
def archive_or_restore(context: TenantPage, request):
    """Archived: out of service, restorable (as ``DELETE /-/tenants/{slug}``); restored."""
    tenancy = context.managed.tenancy
    change = tenancy.archive_tenant if request.view_name == "archive" else tenancy.restore_tenant
    change(context.info.slug)
    return HTTPSeeOther(request.link(context))


@view_config(
    context=TenantPage,
    name="settings",
    request_method="POST",
    renderer=template("tenant.jinja2"),
    permission="operate",
    require_csrf=True,
)
@shown_on(_tenant_page)
def change_settings(context: TenantPage, request):
    """Every declared setting and flag the form names (``setting.NAME``, ``flag.NAME``); a
    blank one goes back to its default."""
    catalog = service(request.registry, ISettingsCatalog)
    given = form_fields(request)
    change = {
        part: {
            name: given.get(f"{prefix}.{name}")
            for name in specs
            if f"{prefix}.{name}" in request.POST
        }
        for part, prefix, specs in (
            ("settings", "setting", catalog.settings),
            ("flags", "flag", catalog.flags),
        )
    }
    if find_tenant(context.managed.tenancy.registry, context.info.slug) is None:
        raise Conflict("the tenant is archived: restore it first")
    settings, flags = changes(validated(catalog.operator_change, change, strict=False))
    update_overrides(context.managed.tenancy, context.info.slug, settings, flags)
    return HTTPSeeOther(request.link(context))
