"""The console's Policies page (``/{tenant}/console/policies``): the owner's Cedar policies,
saved through the same validation as the API (a refusal says the line and column), and a test
box that asks "may this user do this to that one?" and answers which policy says no."""

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config
from sqlalchemy import select

from ..console.pages import form_post, shown_on
from ..console.resources import Page
from ..errors import APIError, InvalidInput
from ..users.models import User
from ..validation import form_fields, query_params
from . import actions, cedar
from .store import shown

PAGE = "policies.jinja2"  # in this package's templates, on the console's search path


class PoliciesPage(Page):
    segment = "policies"
    api_segment = "authz"


def _user(request, given: str, name: str) -> User:
    """A user of this tenant by email (or id)."""
    given = given.strip()
    found = None
    if given.isdigit() and len(given) < 19:
        found = request.dbsession.get(User, int(given))
    elif given:
        found = request.dbsession.scalar(select(User).where(User.email == given.lower()))
    if found is None:
        raise InvalidInput("no such user", {name: "an email (or id) of this tenant's users"})
    return found


def _page(context: PoliciesPage, request, **extra) -> dict:
    source, updated_at = shown(request.registry, context.tenant.record.id)
    return {
        "console": context.__parent__,
        "page": context,
        "source": source,
        "updated_at": updated_at,
        "actions": cedar.ACTIONS,
        "asked": {},
        "form": {},
        **extra,
    }


@view_config(context=PoliciesPage, request_method="GET", renderer=PAGE, permission="configure")
def policies(context: PoliciesPage, request):
    """With ``?principal=&action=&resource=``, the test box's answer too (a read: a GET, so
    a question that is wrong is shown on the page, with nothing to roll back)."""
    params = query_params(request)
    asked = {k: params[k] for k in ("principal", "action", "resource") if k in params}
    if not asked:
        return _page(context, request)
    try:
        principal = _user(request, asked.get("principal", ""), "principal")
        resource = _user(request, asked.get("resource", ""), "resource")
        decision = actions.explain(request, principal, asked.get("action", "view"), resource)
    except APIError as error:
        request.response.status_int = error.status
        problems = error.fields or {}
        return _page(context, request, asked=asked, error=error.message, problems=problems)
    return _page(context, request, asked=asked, decision=decision)


@form_post(PoliciesPage, PAGE, "configure")
@shown_on(_page, keep_form=True)
def save_policies(context: PoliciesPage, request):
    actions.replace_policies(request, form_fields(request).get("source", ""))
    return HTTPSeeOther(request.link(context))
