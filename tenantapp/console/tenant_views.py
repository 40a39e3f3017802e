"""A tenant's console: its owners and admins manage users, roles, settings and custom fields
and read the audit log; members see what the API shows them. Permissions are the API's."""

import json
from functools import partial

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from .. import audit
from ..audit.models import AuditEntry
from ..errors import InvalidInput
from ..identity import mfa, passkeys
from ..identity.login import Login, log_in, second_step
from ..identity.tokens import revoke_token
from ..interfaces import IIdentitySettings, ISettingsCatalog, ISignOnRoutes, service
from ..pagination import keyset_rows, parse_id
from ..tenant_settings.overrides import change_by_owner
from ..users.actions import (
    add_field,
    add_user,
    change_role,
    remove_field,
    remove_user,
    update_user,
    visible_users,
)
from ..users.custom import FieldDefinition, definitions, opened
from ..users.models import ROLES, User
from ..users.schemas import RoleChange, UserCreate, UserUpdate
from ..validation import form_fields, query_params, validated
from .pages import is_htmx, log_in_browser, log_out_browser, onward, shown_on, template
from .resources import AuditPage, FieldsPage, Row, SettingsPage, TenantConsole, UsersPage

PAGE_SIZE = 50


def _cursor(request, name: str) -> int:
    """``?after=ID`` or ``?before=ID``: where a page of rows starts (0: at the start)."""
    raw = query_params(request).get(name)
    if raw is None:
        return 0
    value = parse_id(raw)
    if value is None:
        raise InvalidInput("invalid query", {name: "must be a row id"})
    return value


@view_config(context=TenantConsole, request_method="GET", permission="view")
def home(context: TenantConsole, request):
    return HTTPSeeOther(request.link(context["users"]))


@view_config(
    context=TenantConsole,
    name="login",
    request_method="GET",
    renderer=template("login.jinja2"),
    permission=NO_PERMISSION_REQUIRED,
)
def login_form(context: TenantConsole, request):
    return _login_page(context, request)


def _login_page(context: TenantConsole, request, **extra) -> dict:
    return {"console": context, "email": form_fields(request).get("email", ""), **extra}


# the login's forms: posted before any cookie, each with its CSRF token
login_form_post = partial(
    view_config,
    context=TenantConsole,
    request_method="POST",
    renderer=template("login.jinja2"),
    permission=NO_PERMISSION_REQUIRED,
    require_csrf=True,
)


@login_form_post(name="login")
@shown_on(_login_page)
def login(context: TenantConsole, request):
    """As ``POST /{tenant}/tokens`` (throttled, audited); the token goes into the cookie. An
    email alone (identifier first) goes to the tenant's identity provider where its domain
    signs in there, else the form asks for the password."""
    fields = form_fields(request)
    if fields.get("email") and not fields.get("password"):
        next_path = request.resource_path(context["users"])
        for route in service(request.registry, ISignOnRoutes):
            url = route(request, fields["email"].strip(), next_path)
            if url is not None:  # a redirect after this form would break its form-action
                return onward(url, "Signing in with your organisation")
        return _login_page(context, request, ask_password=True)
    session = log_in(request, validated(Login, fields, strict=False))
    if session is None:  # the failure is counted and audited: this transaction commits
        request.response.status_int = 401
        return _login_page(context, request, error="email or password is wrong", problems={})
    if isinstance(session, mfa.SecondStep):
        return _second_step_page(
            context, request, session.challenge, session.kind, passkey=session.passkey
        )
    token, _, _ = session
    return _logged_in(context, request, token, HTTPSeeOther(request.link(context["users"])))


def _second_step_page(context, request, challenge: str, kind: str, **extra) -> dict:
    """The code form; for a factor the tenant requires and the user has yet to set up, its
    secret first (for an authenticator app)."""
    page = _login_page(context, request, challenge=challenge, kind=kind, **extra)
    if kind == "enrol" and "enrolment" not in extra:
        _, user = mfa.challenged(request.dbsession, challenge)
        page["enrolment"] = mfa.begin_enrolment(user, user.email)
    if kind == "verify" and "passkey" not in extra:  # shown again after a wrong code
        _, user = mfa.challenged(request.dbsession, challenge)
        page["passkey"] = passkeys.request_options(request, user, challenge)
    return page


@login_form_post(name="second-factor")
@shown_on(_login_page)
def second_factor(context: TenantConsole, request):
    """As ``POST /{tenant}/tokens/second-factor``; a wrong code shows the form again."""
    fields = form_fields(request)
    challenge, kind = fields.get("challenge", ""), fields.get("kind", "verify")
    done = second_step(
        request,
        challenge,
        fields.get("code") or None,
        fields.get("recovery_code") or None,
        _posted_passkey(fields.get("passkey")),
    )
    if isinstance(done, mfa.WrongCode):
        request.response.status_int = 401
        return _second_step_page(
            context, request, challenge, kind, error=done.message, enrolment=None
        )
    token, _, _, codes = done
    if codes:  # shown once: this page, logged in already, shows them before the console
        _logged_in(context, request, token, request.response)
        return _login_page(context, request, recovery_codes=codes, next=request.link(context))
    return _logged_in(context, request, token, HTTPSeeOther(request.link(context["users"])))


def _posted_passkey(value: str | None) -> dict | None:
    """The assertion the page's script posted, as JSON; anything else proves nothing."""
    if not value:
        return None
    try:
        found = json.loads(value)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _logged_in(context: TenantConsole, request, token: str, response):
    """``response`` with the console's cookie."""
    ttl = service(request.registry, IIdentitySettings).token_ttl
    log_in_browser(request, response, context, token, ttl)
    return response


@view_config(
    context=TenantConsole,
    name="logout",
    request_method="POST",
    permission="logout",
    require_csrf=True,
)
def logout(context: TenantConsole, request):
    revoke_token(request.dbsession, request.identity.token)
    audit.record(request, "token.revoked", request.identity.userid)
    response = HTTPSeeOther(request.link(context) + "/login")
    log_out_browser(request, response, context)
    return response


def _user_row(context: UsersPage, request, user: User) -> dict:
    row = Row(context, context.api.child(user))
    return {
        "user": user,
        "link": request.link(row),
        "fields": [field.name for field in definitions(request.dbsession)],
        "custom": opened(request.dbsession, user.custom),
        "can_set_role": bool(request.has_permission("set-role", row)),
        "can_update": bool(request.has_permission("update", row)),
        "can_delete": bool(request.has_permission("delete", row)),
    }


def _users_page(context: UsersPage, request, **extra) -> dict:
    where, keep = visible_users(request)
    users, next_after = keyset_rows(
        request.dbsession, User.id, PAGE_SIZE, _cursor(request, "after"), where=where, keep=keep
    )
    return {
        "console": context.__parent__,
        "page": context,
        "rows": [_user_row(context, request, user) for user in users],
        "next_after": next_after,
        "can_create": bool(request.has_permission("create", context)),
        "fields": [field.name for field in definitions(request.dbsession)],
        "roles": ROLES,
        "form": {},
        **extra,
    }


def _row_page(context: Row, request, **extra) -> dict:
    """One user's row (an htmx fragment), the user read again: a failure rolled back."""
    user = request.dbsession.get(User, int(context.__name__))
    return {"row": _user_row(context.__parent__, request, user), "roles": ROLES, **extra}


@view_config(
    context=UsersPage, request_method="GET", renderer=template("users.jinja2"), permission="view"
)
def users(context: UsersPage, request):
    return _users_page(context, request)


@view_config(
    context=UsersPage,
    request_method="POST",
    renderer=template("users.jinja2"),
    permission="create",
    require_csrf=True,
)
@shown_on(_users_page, keep_form=True)
def create_user(context: UsersPage, request):
    add_user(request, validated(UserCreate, form_fields(request), strict=False))
    return HTTPSeeOther(request.link(context))


@view_config(
    context=Row,
    containment=UsersPage,
    name="role",
    request_method="POST",
    renderer=template("user_row.jinja2"),
    permission="set-role",
    require_csrf=True,
)
@shown_on(_row_page)
def set_role(context: Row, request):
    change_role(request, context.api.user, validated(RoleChange, form_fields(request)).role)
    return _row_done(context, request)


def _row_done(context: Row, request) -> dict | HTTPSeeOther:
    """htmx swaps the row for the user as they are now; without htmx, back to the page."""
    if not is_htmx(request):
        return HTTPSeeOther(request.link(context.__parent__))
    return _row_page(context, request)


@view_config(
    context=Row,
    containment=UsersPage,
    name="edit",
    request_method="POST",
    renderer=template("user_row.jinja2"),
    permission="update",
    require_csrf=True,
)
@shown_on(_row_page)
def edit_user(context: Row, request):
    """Email and name, as ``PATCH /{tenant}/users/{id}`` changes them."""
    given = {k: v for k, v in form_fields(request).items() if k in ("email", "name")}
    update_user(request, context.api.user, validated(UserUpdate, given, strict=False))
    return _row_done(context, request)


@view_config(
    context=Row,
    containment=UsersPage,
    name="delete",
    request_method="POST",
    renderer=template("user_row.jinja2"),
    permission="delete",
    require_csrf=True,
)
@shown_on(_row_page)
def delete_user(context: Row, request):
    remove_user(request, context.api.user)
    if is_htmx(request):
        return Response("")  # htmx removes the row
    return HTTPSeeOther(request.link(context.__parent__))


def _fields_page(context: FieldsPage, request, **extra) -> dict:
    return {
        "console": context.__parent__,
        "page": context,
        "fields": [
            {"field": field, "link": request.link(Row(context, context.api[field.name]))}
            for field in definitions(request.dbsession)
        ],
        "can_configure": bool(request.has_permission("configure", context)),
        "types": FieldDefinition.model_fields["type"].annotation.__args__,
        "form": {},
        **extra,
    }


@view_config(
    context=FieldsPage, request_method="GET", renderer=template("fields.jinja2"), permission="view"
)
def fields(context: FieldsPage, request):
    return _fields_page(context, request)


@view_config(
    context=FieldsPage,
    request_method="POST",
    renderer=template("fields.jinja2"),
    permission="configure",
    require_csrf=True,
)
@shown_on(_fields_page, keep_form=True)
def define_field(context: FieldsPage, request):
    """Choices are written one per line or comma-separated."""
    data = form_fields(request)
    if "choices" in data:
        data["choices"] = [c.strip() for c in data["choices"].replace("\n", ",").split(",")]
        data["choices"] = [c for c in data["choices"] if c]
    add_field(request, validated(FieldDefinition, data, strict=False))
    return HTTPSeeOther(request.link(context))


@view_config(
    context=Row,
    containment=FieldsPage,
    name="delete",
    request_method="POST",
    permission="configure",
    require_csrf=True,
)
def delete_field(context: Row, request):
    remove_field(request, context.api.field)
    if is_htmx(request):
        return Response("")
    return HTTPSeeOther(request.link(context.__parent__))


def _settings_page(context: SettingsPage, request, **extra) -> dict:
    catalog = service(request.registry, ISettingsCatalog)
    described = catalog.describe(request.tenant.record)
    return {
        "console": context.__parent__,
        "page": context,
        "settings": described["settings"],
        "flags": described["flags"],
        "choices": catalog.choices(),
        "can_configure": bool(request.has_permission("configure", context)),
        **extra,
    }


@view_config(
    context=SettingsPage,
    request_method="GET",
    renderer=template("settings.jinja2"),
    permission="view",
)
def settings(context: SettingsPage, request):
    return _settings_page(context, request)


@view_config(
    context=SettingsPage,
    request_method="POST",
    renderer=template("settings.jinja2"),
    permission="configure",
    require_csrf=True,
)
@shown_on(_settings_page)
def change_settings(context: SettingsPage, request):
    """The owner-editable settings the form names; a blank one goes back to its default."""
    catalog = service(request.registry, ISettingsCatalog)
    given = form_fields(request)
    names = [name for name, spec in catalog.settings.items() if spec.owner_editable]
    change = {name: given.get(name) for name in names if name in request.POST}
    change_by_owner(request, validated(catalog.owner_change, {"settings": change}, strict=False))
    return HTTPSeeOther(request.link(context))


@view_config(
    context=AuditPage,
    request_method="GET",
    renderer=template("audit.jinja2"),
    permission="view-audit",
)
def audit_log(context: AuditPage, request):
    """Newest first; ``?before=ID`` pages back (htmx appends the older rows)."""
    entries, next_before = keyset_rows(
        request.dbsession,
        AuditEntry.id,
        PAGE_SIZE,
        _cursor(request, "before") or None,
        newest_first=True,
    )
    return {
        "console": context.__parent__,
        "page": context,
        "entries": entries,
        "next_before": next_before,
    }
