"""An app's scan hook, as an app would write one: a tenant task that reads each uploaded file
and quarantines what carries the EICAR test signature."""

from tenantapp.files.actions import quarantine, read_file
from tenantapp.jobs import tenant_task

EICAR = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
SCANNED: list[int] = []


@tenant_task("tests.scan_file")
def scan_file(request, file_id: int):
    contents = read_file(request, file_id)
    if contents is None:
        return
    SCANNED.append(file_id)
    if EICAR in b"".join(contents):
        quarantine(request, file_id, "EICAR test signature")


def includeme(config):
    config.scan(__name__)
