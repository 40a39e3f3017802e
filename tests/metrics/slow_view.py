"""An app author's view that runs a slow statement in the tenant's session (``pyramid.includes``
of the query insight tests)."""

from pyramid.security import NO_PERMISSION_REQUIRED
from sqlalchemy import text

from tenantapp.tenancy.resources import Tenant


def slow(context, request):
    seconds = float(request.GET.get("seconds", "0.02"))
    request.dbsession.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
    return {"slept": seconds}


def includeme(config):
    config.add_view(
        slow,
        context=Tenant,
        name="slow",
        request_method="GET",
        renderer="json",
        permission=NO_PERMISSION_REQUIRED,
    )
