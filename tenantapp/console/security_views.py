"""The console's Security page (``/{tenant}/console/security``): the logged-in user's own
second factors. Passkeys are added here in one click: the page's script asks for a
registration (a POST with the CSRF token), hands its options to ``navigator.credentials.create``
and posts the answer with the form; the API's checks, the same function."""

import json
from functools import partial

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ..errors import Forbidden, InvalidInput
from ..identity import passkeys
from ..identity.login import add_passkey, remove_passkey
from ..users.models import User
from ..validation import form_fields
from .pages import form_post, shown_on, template
from .resources import SecurityPage

PAGE = template("security.jinja2")


def _me(request) -> User:
    """Only the user themself: not an operator impersonating them."""
    identity = request.identity
    if identity.impersonator or identity.user_id is None:
        raise Forbidden("only the user sets up their own second factors")
    return request.dbsession.get(User, identity.user_id)


def _page(context: SecurityPage, request, **extra) -> dict:
    me = _me(request)
    return {
        "console": context.__parent__,
        "page": context,
        "me": me,
        "passkeys": passkeys.of_user(request.dbsession, me.id),
        **extra,
    }


post = partial(form_post, SecurityPage, PAGE, "view")


@view_config(context=SecurityPage, request_method="GET", renderer=PAGE, permission="view")
def security(context: SecurityPage, request):
    return _page(context, request)


@form_post(SecurityPage, "json", "view", name="passkey-options")
def passkey_options(context: SecurityPage, request):
    """For the page's script: a registration and the options for the browser."""
    return passkeys.registration_options(request, _me(request))


@post(name="passkeys")
@shown_on(_page)
def add(context: SecurityPage, request):
    fields = form_fields(request)
    try:
        credential = json.loads(fields.get("credential", ""))
    except ValueError:
        raise InvalidInput("no passkey was made", {"credential": "the browser sent none"}) from None
    name = fields.get("name", "passkey")[:100]
    add_passkey(request, _me(request), fields.get("registration", ""), credential, name)
    return HTTPSeeOther(request.link(context))


@post(name="remove-passkey")
@shown_on(_page)
def remove(context: SecurityPage, request):
    given = form_fields(request).get("passkey_id", "")
    if not given.isdigit() or len(given) > 18:
        raise InvalidInput("which passkey?", {"passkey_id": "one of yours"})
    remove_passkey(request, _me(request), int(given))
    return HTTPSeeOther(request.link(context))
