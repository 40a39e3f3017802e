"""A person's data, all of it (GDPR articles 15 and 20), and its erasure (article 17)."""

import json
import tempfile
import zipfile
from datetime import UTC, datetime

from .. import audit
from ..interfaces import IPersonalData, service
from ..users.actions import keep_an_owner
from ..users.models import User

SPOOL = 8 * 1024 * 1024  # an export past this is written to a temporary file


def export_person(request, user: User):
    """A zip of ``person.json`` (every declared part, by name) and the files that go with
    it, as a file object at its start."""
    parts, attachments = {}, []
    for hooks in service(request.registry, IPersonalData).hooks():
        if hooks.export is not None:
            parts[hooks.name] = hooks.export(request, user)
        if hooks.contents is not None:
            attachments += list(hooks.contents(request, user))
    document = {
        "tenant": request.tenant.record.slug,
        "user_id": user.id,
        "exported_at": datetime.now(UTC).isoformat(),
        "data": parts,
    }
    out = tempfile.SpooledTemporaryFile(SPOOL)  # noqa: SIM115 - the answer reads and closes it
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(document, indent=2, default=str))
        for name, pieces in attachments:
            if pieces is None:
                continue
            with archive.open(name, "w", force_zip64=True) as target:
                for piece in pieces:
                    target.write(piece)
    out.seek(0)
    return out


def erase_person(request, user: User) -> None:
    """Every declared part erased (an app's first, the user's row last), in the request's
    transaction: all of it or none. The last owner is not erased (409)."""
    # a write racing this: one waits for the other; what it wrote is read again here, so
    # erased too (and a write that waited finds no one)
    request.dbsession.refresh(user, with_for_update=True)
    keep_an_owner(request, user)
    for hooks in service(request.registry, IPersonalData).hooks():
        if hooks.erase is not None:
            hooks.erase(request, user)
    audit.record(request, "user.erased", f"user:{user.id}")
