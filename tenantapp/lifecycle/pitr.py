"""Point-in-time restore of one tenant: base backups plus archived WAL, replayed up to a moment
into a scratch server; the tenant's data taken from there and brought back through export and
import, in place or as a new tenant; every other tenant untouched.

The server's WAL is archived into ``wal_dir`` (the embedded server does it itself:
``embedded.archiving``; an external one by its ``archive_command``, or pgBackRest: README).
``base-backup`` takes a base backup into ``backup_dir`` with ``pg_basebackup`` and prunes the
WAL no kept backup needs. ``restore-tenant SLUG --to TIME``:

1. asks the live server to switch WAL, so everything up to now is in the archive;
2. copies the newest base backup from before TIME into a scratch directory and starts a
   PostgreSQL there, on a socket of its own, replaying WAL up to TIME and then promoting;
3. exports the tenant from that server (its rows, in whatever mode it was then, and its files)
   and imports the archive into the live installation: as ``--as NEW_SLUG`` beside the
   original, which keeps serving, or in place: the original is archived and renamed
   ``SLUG-replaced-<time>`` (restorable), and the restored copy takes its slug.

The copy is a new tenant (a new id): its tokens are not carried (credentials never are), so
its people log in again. A tenant that did not exist at TIME, a time before the oldest base
backup or after now, is refused with the reason.
"""

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ..config import setting
from ..tenancy.errors import ProvisioningError
from ..tenancy.servers import DEFAULT
from .provisioning import UnknownTenant, archive_tenant, get_tenant, rename_tenant
from .transfer import export_tenant, import_tenant

log = logging.getLogger(__name__)
LABEL_TIME = "START TIME: "  # in a base backup's backup_label
FINISHED = "tenantapp-finished"  # beside it: when the backup had finished, by the server's clock
STAMP = "%Y%m%dT%H%M%S%fZ"
RECOVERY_WAIT = 600  # seconds a replay may take before the restore gives up


class RestoreError(ProvisioningError):
    """A point-in-time restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class WalArchive:
    """Where a server's base backups and archived WAL are, which PostgreSQL programs to use,
    and (as root, for the embedded server) the system user its server runs as."""

    backup_dir: Path
    wal_dir: Path
    bin_dir: Path
    run_as: str | None = None

    def program(self, name: str) -> str:
        return str(self.bin_dir / name)


def wal_archive(settings: dict) -> WalArchive:
    """``tenantapp.pitr.*`` settings; by default the embedded server's (``tenantapp.data_dir``'s
    ``backups`` and ``wal``, its own programs)."""
    data = Path(settings.get("tenantapp.data_dir") or "var")
    bin_dir = setting(settings, "tenantapp.pitr.bin_dir", str, "")
    run_as = setting(settings, "tenantapp.pitr.run_as", str, "") or None
    if not bin_dir:
        from ..embedded import pgserver

        embedded = pgserver().get_server(data / "pgdata", start=False, cleanup_mode=None)
        bin_dir, run_as = str(embedded.bin_path), run_as or embedded.system_user
    return WalArchive(
        Path(setting(settings, "tenantapp.pitr.backup_dir", str, str(data / "backups"))),
        Path(setting(settings, "tenantapp.pitr.wal_dir", str, str(data / "wal"))),
        Path(bin_dir),
        run_as,
    )


def _libpq(url: str) -> list[str]:
    """``url`` as connection options for the PostgreSQL programs."""
    parsed = make_url(url)
    options = {"dbname": parsed.database or "postgres", "user": parsed.username or "postgres"}
    host = parsed.host or parsed.query.get("host")
    if host:
        options["host"] = host if isinstance(host, str) else host[0]
    if parsed.port:
        options["port"] = str(parsed.port)
    conninfo = " ".join(f"{key}={value}" for key, value in options.items())
    return ["-d", conninfo]


def base_backup(archive: WalArchive, server_url: str, keep: int = 3) -> Path:
    """A base backup of the server into ``backup_dir`` (its WAL from the archive); the
    ``keep`` newest are kept, and the WAL older than the oldest of them is removed."""
    archive.backup_dir.mkdir(parents=True, exist_ok=True)
    target = archive.backup_dir / datetime.now(UTC).strftime(STAMP)
    program = archive.program("pg_basebackup")
    made = subprocess.run(  # noqa: S603 - the configured PostgreSQL's program, our own arguments
        [program, *_libpq(server_url), "-D", str(target), "-X", "none", "--checkpoint=fast"],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise RestoreError(f"pg_basebackup failed: {made.stderr.strip()}")
    # a replay can stop no earlier than the backup's end: the server's clock, now, is after it
    engine = create_engine(server_url)
    try:
        with engine.connect() as connection:
            finished = connection.scalar(text("SELECT now()"))
    finally:
        engine.dispose()
    (target / FINISHED).write_text(finished.isoformat())
    backups = sorted(p for p in archive.backup_dir.iterdir() if (p / "backup_label").exists())
    for old in backups[:-keep]:
        shutil.rmtree(old)
    oldest = backups[-keep:][0]
    label = (oldest / "backup_label").read_text()
    first_wal = next(
        line.split("(file ")[1].rstrip(")")
        for line in label.splitlines()
        if line.startswith("START WAL LOCATION")
    )
    if archive.wal_dir.is_dir():
        subprocess.run(  # noqa: S603 - as above
            [archive.program("pg_archivecleanup"), str(archive.wal_dir), first_wal],
            check=True,
            capture_output=True,
        )
    return target


def _usable_from(backup: Path) -> datetime:
    """The first moment a replay from ``backup`` can stop at: when it finished (as this
    module records it), else a second after the start its label gives (to the second)."""
    finished = backup / FINISHED
    if finished.exists():
        return datetime.fromisoformat(finished.read_text().strip())
    for line in (backup / "backup_label").read_text().splitlines():
        if line.startswith(LABEL_TIME):
            started = datetime.strptime(
                line.removeprefix(LABEL_TIME).strip(), "%Y-%m-%d %H:%M:%S %Z"
            )
            return started.replace(tzinfo=UTC) + timedelta(seconds=1)
    raise RestoreError(f"{backup}: a base backup without a start time")


def _backup_before(archive: WalArchive, moment: datetime) -> Path:
    found = []
    if archive.backup_dir.is_dir():
        for backup in archive.backup_dir.iterdir():
            if (backup / "backup_label").exists():
                usable = _usable_from(backup)
                if usable <= moment:
                    found.append((usable, backup))
    if not found:
        raise RestoreError(
            f"no base backup in {archive.backup_dir} was taken before {moment.isoformat()}:"
            " a restore starts from one (tenantapp-admin base-backup)"
        )
    return max(found)[1]


def _server_user(archive: WalArchive) -> str | None:
    """The user the PostgreSQL programs run as: the server's own, when this runs as root."""
    return archive.run_as if os.geteuid() == 0 else None


def _as_server_user(archive: WalArchive, path: Path) -> None:
    if _server_user(archive):
        shutil.chown(path, archive.run_as, archive.run_as)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                shutil.chown(Path(root) / name, archive.run_as, archive.run_as)


@contextmanager
def scratch_server(archive: WalArchive, moment: datetime) -> Iterator[str]:
    """A PostgreSQL replayed to ``moment`` from the newest base backup before it, on a socket
    in a directory of its own, promoted; its URL. Stopped and removed afterwards."""
    backup = _backup_before(archive, moment)
    with tempfile.TemporaryDirectory(prefix="tenantapp-restore-") as scratch:
        scratch = Path(scratch)
        data = scratch / "pgdata"
        shutil.copytree(backup, data)
        os.chmod(data, 0o700)
        wal = archive.wal_dir.resolve()
        overrides = {
            "archive_mode": "off",  # the copy writes nothing into the live server's archive
            "restore_command": f'cp "{wal}/%f" "%p"',
            "recovery_target_time": moment.isoformat(),
            "recovery_target_action": "promote",
            "listen_addresses": "",
            "unix_socket_directories": str(scratch),
            "port": "5432",
        }
        with (data / "postgresql.auto.conf").open("a") as conf:
            for name, value in overrides.items():
                conf.write(f"{name} = '{value}'\n")
        (data / "recovery.signal").touch()
        _as_server_user(archive, scratch)
        log_file = scratch / "server.log"
        pg_ctl = archive.program("pg_ctl")
        started = subprocess.run(  # noqa: S603 - as above
            [pg_ctl, "-D", str(data), "-l", str(log_file), "-w", "-t", "300", "start"],
            capture_output=True,
            text=True,
            user=_server_user(archive),
        )
        url = f"postgresql+psycopg://postgres@/postgres?host={scratch}"
        try:
            if started.returncode != 0:
                raise RestoreError(f"the scratch server did not start: {_tail(log_file)}")
            _wait_promoted(url, log_file)
            yield url
        finally:
            subprocess.run(  # noqa: S603 - as above
                [pg_ctl, "-D", str(data), "-m", "fast", "stop"],
                capture_output=True,
                user=_server_user(archive),
            )


def _tail(log_file: Path) -> str:
    try:
        return " | ".join(log_file.read_text().strip().splitlines()[-3:])
    except OSError:
        return "(no log)"


def _wait_promoted(url: str, log_file: Path) -> None:
    """Until the replay reached its target and the copy took writes (a hot standby answers
    before that)."""
    engine = create_engine(url)
    deadline = time.monotonic() + RECOVERY_WAIT
    try:
        while True:
            try:
                with engine.connect() as connection:
                    if not connection.scalar(text("SELECT pg_is_in_recovery()")):
                        return
            except Exception as error:  # the server stopped: the log says why
                raise RestoreError(f"the replay failed: {_tail(log_file)}") from error
            if time.monotonic() > deadline:
                raise RestoreError(f"the replay did not finish in {RECOVERY_WAIT} s")
            time.sleep(0.2)
    finally:
        engine.dispose()


def restore_tenant(
    tenancy,
    settings: dict,
    slug: str,
    moment: datetime,
    as_slug: str | None = None,
    archive: WalArchive | None = None,
) -> dict:
    """Bring ``slug`` back as it was at ``moment`` (aware), as ``as_slug`` or in its place
    (see the module's docstring); what was done."""
    from .. import tenancy_from

    if moment.tzinfo is None:
        raise RestoreError("say the time with its zone (e.g. 2026-12-04T10:15:00+00:00)")
    archive = archive or wal_archive(settings)
    current = get_tenant(tenancy, slug)  # the live one: its mode and server, or UnknownTenant
    if current.server != DEFAULT:
        raise RestoreError(
            f"tenant {slug} is on server {current.server!r}: restores come from the default"
            " server's archive only"
        )
    with tenancy.registry.connect() as connection:
        now = connection.scalar(text("SELECT now()"))
        if moment > now:
            raise RestoreError(f"{moment.isoformat()} is in the future: nothing to replay to")
        connection.scalar(text("SELECT pg_switch_wal()"))  # what led up to now, archived
    started = time.perf_counter()
    with scratch_server(archive, moment) as url, tempfile.TemporaryDirectory() as work:
        then = tenancy_from(
            {
                **{k: v for k, v in settings.items() if not k.startswith("tenantapp.servers.")},
                "sqlalchemy.url": url,
                "tenantapp.embedded_database": "false",
                "tenantapp.migrate_on_start": "false",
                "tenantapp.demo_tenants": "",
            }
        )
        try:
            try:
                get_tenant(then, slug)
            except UnknownTenant:
                raise RestoreError(
                    f"tenant {slug} did not exist at {moment.isoformat()}: nothing to restore"
                ) from None
            path = Path(work) / f"{slug}.zip"
            rows = export_tenant(then, slug, path)
        finally:
            then.servers.dispose()
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        target = as_slug or f"r{stamp}-{current.id}"[:63]
        restored = import_tenant(tenancy, path, target, mode=current.mode, server=current.server)
    if as_slug is None:  # in place: the original kept, archived, under another slug
        aside = f"{slug}-replaced-{stamp}"[:63]
        rename_tenant(tenancy, slug, aside)
        archive_tenant(tenancy, aside)
        rename_tenant(tenancy, target, slug)
        restored = get_tenant(tenancy, slug)
        log.info("restored tenant %s to %s in place (%s kept as %s)", slug, moment, slug, aside)
        replaced = aside
    else:
        replaced = None
    return {
        "tenant": restored.slug,
        "id": restored.id,
        "to": moment.isoformat(),
        "rows": rows,
        "replaced": replaced,
        "seconds": round(time.perf_counter() - started, 2),
    }
