"""The console's Directory page (``/{tenant}/console/directory``): where the tenant's directory
sends its users and groups (SCIM), and the owner's tokens for it: made (shown once), revoked."""

from functools import partial

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.view import view_config

from ..console.pages import form_post, shown_link, shown_on
from ..console.resources import Page
from ..validation import form_fields, validated
from . import actions, tokens

PAGE = "directory.jinja2"  # in this package's templates, on the console's search path


class DirectoryPage(Page):
    segment = "directory"
    api_segment = "scim"


def _page(context: DirectoryPage, request, **extra) -> dict:
    return {
        "console": context.__parent__,
        "page": context,
        "scim_url": shown_link(request, context.api, "v2"),
        "tokens": tokens.listed(request.registry, context.tenant.record.id),
        "form": {},
        **extra,
    }


post = partial(form_post, DirectoryPage, PAGE, "configure")


@view_config(context=DirectoryPage, request_method="GET", renderer=PAGE, permission="configure")
def directory(context: DirectoryPage, request):
    return _page(context, request)


@post(name="tokens")
@shown_on(_page, keep_form=True)
def make_token(context: DirectoryPage, request):
    """The new token is on this page only: it is not kept."""
    made = actions.make_token(request, validated(tokens.TokenRequest, form_fields(request)).name)
    return _page(context, request, made=made)


@post(name="revoke")
@shown_on(_page)
def revoke_token(context: DirectoryPage, request):
    actions.revoke_token(request, form_fields(request).get("token_id", ""))
    return HTTPSeeOther(request.link(context))
