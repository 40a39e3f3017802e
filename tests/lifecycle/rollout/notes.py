"""An app built on tenantapp, in two versions, for the expand/contract test: its notes were
``body`` (version 1), and become ``text`` (version 2). ``rollout.version`` picks the version.

Version 2 works on both shapes while ``migrate --expand`` runs: where the tenant has the expand
revision it writes and reads ``text`` (the expand step's trigger keeps ``body`` in step for
version 1), elsewhere ``body``. Raw SQL, on the request's session, bound to the tenant."""

from pyramid.view import view_config
from sqlalchemy import text
from zope.sqlalchemy import mark_changed

EXPAND = "notes2"  # the revision that adds ``text``


class Notes:
    __name__ = "notes"

    def __init__(self, parent, request):
        self.__parent__ = parent


def column(request) -> str:
    if request.registry.settings["rollout.version"] == "1":
        return "body"
    return "text" if request.tenant.has_revision(EXPAND) else "body"


@view_config(context=Notes, request_method="POST", renderer="json", permission="create")
def add_note(context, request):
    note = request.json_body["note"]
    made = request.dbsession.execute(
        text(f"INSERT INTO notes ({column(request)}) VALUES (:note) RETURNING id"),
        {"note": note},
    ).scalar_one()
    mark_changed(request.dbsession)  # raw SQL: the transaction is committed, not rolled back
    request.response.status_int = 201
    return {"id": made, "note": note}


@view_config(context=Notes, request_method="GET", renderer="json", permission="view")
def list_notes(context, request):
    rows = request.dbsession.execute(
        text(f"SELECT {column(request)} FROM notes ORDER BY id")
    ).scalars()
    return {"items": list(rows)}


def includeme(config):
    config.add_tenant_resource("notes", Notes)
    config.scan(__name__)
