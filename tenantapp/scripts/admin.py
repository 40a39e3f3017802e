"""tenantapp-admin CONFIG COMMAND: operate on tenants with the app's own settings."""

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from pyramid.paster import get_appsettings

from .. import assembled
from ..encryption import rotation
from ..encryption.keyring import KeyUnavailable, new_key_text
from ..interfaces import IPasswordHasher, ISettingsCatalog, ITenancy, service
from ..lifecycle import migrating, pitr, provisioning
from ..quotas.limits import lacking_key
from ..tenancy.directory import find_tenant
from ..tenancy.models import MODES
from ..tenancy.slugs import InvalidSlug
from ..tenant_settings.catalog import changes
from ..tenant_settings.overrides import update_overrides
from ..validation import field_errors
from . import fail, one_line_errors, setup_quiet_logging

PROG = "tenantapp-admin"


GROUPS = (
    ("tenants", "create-tenant list-tenants tenant-settings set-plan suspend resume rename-tenant"),
    ("lifecycle", "drop-tenant restore-tenant purge-tenant move-tenant base-backup"),
    ("data", "export-tenant import-tenant export-usage"),
    ("schema", "migrate custom-indexes"),
    ("keys", "new-key rotate-keys reseal"),
)
EPILOG = "commands, by what they are for:\n" + "\n".join(
    f"  {group:<10} {names}" for group, names in GROUPS
)
COMMANDS = {name for _, names in GROUPS for name in names.split()}
SIZE_COLUMN = 5  # right-aligned


@dataclass(frozen=True)
class Admin:
    """What every command works with: the configured app's registry and its lifecycle."""

    registry: object
    tenancy: object


def add_command(commands, name: str, run, **kw) -> argparse.ArgumentParser:
    """A command whose help is its description too (``COMMAND --help`` says what it does), run
    by ``run(admin, args)``."""
    command = commands.add_parser(name, description=kw.get("help"), **kw)
    command.set_defaults(run=run)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tenantapp-admin",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config_uri", metavar="CONFIG", help="the app's ini, e.g. development.ini")
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO lines too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = add_command(
        commands, "create-tenant", create_tenant, help="create a tenant at the head revision"
    )
    create.add_argument("slug", help="the new tenant's slug (its URL segment)")
    create.add_argument("--name", help="display name (defaults to the slug)")
    create.add_argument(
        "--owner-email", help="create the first owner; their one-time password is printed"
    )
    create.add_argument(
        "--mode",
        choices=MODES,
        help="isolation: a schema of its own, rows in shared tables, or a database of its own"
        " (default: tenantapp.default_mode, else schema)",
    )
    create.add_argument(
        "--server",
        help="a server named in tenantapp.servers.NAME (default: the region's first, else"
        " the default server)",
    )
    create.add_argument(
        "--region", help="pin its data to this region (tenantapp.region.NAME labels servers)"
    )

    listing = add_command(
        commands, "list-tenants", list_tenants, help="slug, status, revision, size"
    )
    listing.add_argument("--json", action="store_true", help="one JSON document, for scripts")

    drop = add_command(
        commands,
        "drop-tenant",
        drop_tenant,
        help="archive a tenant (restorable); with --purge, delete it for good",
    )
    drop.add_argument("slug", help="the tenant's slug")
    drop.add_argument("--purge", action="store_true", help="delete the data, not archive it")
    drop.add_argument("--yes", action="store_true", help="confirm")

    purge = add_command(
        commands, "purge-tenant", purge_tenant, help="delete a tenant and all its data for good"
    )
    purge.add_argument("slug", help="the tenant's slug")
    purge.add_argument("--yes", action="store_true", help="confirm: the data is gone for good")

    restore = add_command(
        commands,
        "restore-tenant",
        restore_tenant,
        help="bring an archived tenant back; with --to, the tenant as it was at a moment (from"
        " a base backup and the archived WAL), in place or --as a new tenant",
    )
    restore.add_argument("slug", help="the tenant's slug")
    restore.add_argument(
        "--to", type=_moment, help='the moment, e.g. "2026-12-04 10:15:00" (UTC unless it says)'
    )
    restore.add_argument("--as", dest="as_slug", help="a new tenant beside the original")

    backup = add_command(
        commands,
        "base-backup",
        base_backup,
        help="a base backup of the default server, for restores to a moment (run it daily)",
    )
    backup.add_argument("--keep", type=int, default=3, help="base backups kept (default 3)")

    usage = add_command(
        commands,
        "export-usage",
        export_usage,
        help="export the usage ledger's closed hours to tenantapp.usage_export's file directory"
        " and webhook (run it hourly; what was delivered is not sent again)",
    )
    usage.add_argument(
        "--until",
        type=_moment,
        help="export the hours before this moment (default: now, less 5 minutes)",
    )

    for name, run, help_text in (
        ("suspend", suspend, "refuse the tenant's requests (403) without touching its data"),
        ("resume", resume, "serve a suspended tenant again"),
    ):
        command = add_command(commands, name, run, help=help_text)
        command.add_argument("slug", help="the tenant's slug")

    rename = add_command(
        commands, "rename-tenant", rename_tenant, help="change a slug; the data does not move"
    )
    rename.add_argument("old", help="its slug now")
    rename.add_argument("new", help="its slug from now on")

    export = add_command(
        commands, "export-tenant", export_tenant, help="write a sealed archive of a tenant"
    )
    export.add_argument("slug", help="the tenant's slug")
    export.add_argument("file", help="the archive to write (a zip)")
    export.add_argument(
        "--portable",
        action="store_true",
        help="include the tenant's data keys (wrapped by the key-encryption key), to import "
        "into another installation holding that key; such an archive outlives a purge until "
        "that key-encryption key is retired",
    )
    export.add_argument(
        "--to-region",
        help="the region the other installation is in (a pinned tenant's portable archive is"
        " written only for its own region)",
    )

    add_command(commands, "new-key", new_key, help="print a new key-encryption key (NAME:BASE64)")
    rotate = add_command(
        commands,
        "rotate-keys",
        rotate_keys,
        help="re-wrap every tenant's data keys with the first key-encryption key (online)",
    )
    rotate.add_argument(
        "--new-data-keys",
        action="store_true",
        help="also give every tenant a new data key and re-seal its values with it",
    )
    rotate.add_argument(
        "--force",
        action="store_true",
        help="re-wrap even while serving processes lack the new key (they answer 503 until"
        " restarted with it)",
    )
    reseal = add_command(
        commands,
        "reseal",
        rotate_keys,
        help="seal every tenant's values with its newest data key (online)",
    )
    reseal.add_argument("tenants", nargs="*", metavar="SLUG", help="only these tenants")

    load = add_command(
        commands, "import-tenant", import_tenant, help="create a tenant from an archive"
    )
    load.add_argument("file", help="an archive written by export-tenant")
    load.add_argument("--as", dest="slug", required=True, help="the new tenant's slug")
    load.add_argument("--mode", choices=MODES, help="isolation mode (default: the configured)")
    load.add_argument(
        "--server",
        help="a server named in tenantapp.servers (default: a pinned archive's region's first,"
        " else the default server)",
    )
    load.add_argument(
        "--legacy",
        action="store_true",
        help="accept an archive of an older format, whose manifest nothing authenticates, from"
        " a file you trust (its settings are left out)",
    )

    move = add_command(
        commands,
        "move-tenant",
        move_tenant,
        help="move a tenant to another mode or server while it is served (resumes a move that"
        " died)",
    )
    move.add_argument("slug", help="the tenant's slug")
    move.add_argument("--to-mode", choices=MODES, help="default: the mode it is in")
    move.add_argument("--to-server", help="default: the server it is on")

    configure_tenant = add_command(
        commands,
        "tenant-settings",
        tenant_settings,
        help="show a tenant's settings and flags, or change them (NAME= goes back to the default)",
    )
    configure_tenant.add_argument("slug", help="the tenant's slug")
    configure_tenant.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a setting (repeatable)"
    )
    configure_tenant.add_argument(
        "--flag", action="append", default=[], metavar="NAME=VALUE", help="a flag (repeatable)"
    )

    set_plan_ = add_command(
        commands,
        "set-plan",
        set_plan,
        help="put a tenant on a plan of the ini; when the plan places it elsewhere, move it"
        " there now (online), the plan taking effect at the switch",
    )
    set_plan_.add_argument("slug", help="the tenant's slug")
    set_plan_.add_argument("plan", help="a plan: tenantapp.plan.NAME")

    indexes = add_command(
        commands,
        "custom-indexes",
        custom_indexes,
        help="build (concurrently) and drop a tenant's custom-field indexes as its fields ask;"
        " print each one's state",
    )
    indexes.add_argument("slug", help="the tenant's slug")
    indexes.add_argument(
        "--index", action="append", default=[], metavar="FIELD", help="mark FIELD indexed first"
    )
    indexes.add_argument(
        "--unindex", action="append", default=[], metavar="FIELD", help="mark FIELD not indexed"
    )

    migration = add_command(
        commands,
        "migrate",
        migrate,
        help="bring the shared schema, then every tenant schema, to head",
    )
    migration.add_argument(
        "--tenant",
        action="append",
        dest="tenants",
        metavar="SLUG",
        help="only this tenant (repeatable)",
    )
    migration.add_argument("--workers", type=int, help="parallel tenants (default: CPU count)")
    migration.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    migration.add_argument("--downgrade", metavar="REVISION", help="move tenants down to REVISION")
    migration.add_argument(
        "--lock-timeout",
        default=migrating.DEFAULT_LOCK_TIMEOUT,
        help="per tenant, e.g. 5s (default)",
    )
    migration.add_argument("--sql", action="store_true", help="print the SQL instead of running it")
    phase = migration.add_mutually_exclusive_group()
    phase.add_argument(
        "--expand",
        action="store_const",
        const="expand",
        dest="phase",
        help="up to the first contract revision (refused when an expand revision is not"
        " additive); old and new code both serve meanwhile",
    )
    phase.add_argument(
        "--contract",
        action="store_const",
        const="contract",
        dest="phase",
        help="the rest, once no process of the old version serves (refused while one does)",
    )
    return parser


def _print_tenants(tenancy, as_json: bool) -> None:
    infos = tenancy.list_tenants()
    if as_json:
        print(json.dumps([info.as_json() for info in infos], indent=2))
        return
    rows = [("slug", "status", "mode", "server", "revision", "size", "migration", "name")]
    for t in infos:
        migration = t.migration_status or "-"
        if t.last_error:
            migration += f" ({t.last_error})"
        size = f"{(t.size_bytes or 0) / 1024:,.0f} kB"
        rows.append(
            (t.slug, t.status, t.mode, t.server, t.revision or "-", size, migration, t.display_name)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:  # columns lined up; the name, last, as long as it is
        cells = [
            cell.rjust(width) if i == SIZE_COLUMN else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        print("  ".join([*cells, row[-1]]))


def _progress_reporter():
    """A progress bar with done/failed/total and ETA on a terminal; log lines otherwise."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = None

        def report(outcome, done, failed, total):
            nonlocal bar
            if bar is None:
                # a terminal that reports no width would get an empty bar
                width = shutil.get_terminal_size().columns or 80  # 0 when it reports 0x0
                bar = tqdm(total=total, unit=" tenant", file=sys.stderr, ncols=width)
            bar.update(1)
            bar.set_postfix(failed=failed)
            if done == total:
                bar.close()

        return report

    def report(outcome, done, failed, total):
        state = "ok" if outcome.ok else f"FAILED {outcome.error}"
        print(
            f"[{done}/{total}, {failed} failed] {outcome.slug}: {state} ({outcome.duration_ms} ms)",
            file=sys.stderr,
            flush=True,
        )

    return report


def migrate(admin: Admin, args) -> int:
    tenancy = admin.tenancy
    if args.sql:
        print(tenancy.migration_sql(args.tenants, args.downgrade), end="")
        return 0
    report = tenancy.migrate(
        slugs=args.tenants,
        workers=args.workers,
        downgrade_to=args.downgrade,
        fail_fast=args.fail_fast,
        lock_timeout=args.lock_timeout,
        progress=_progress_reporter(),
        phase=args.phase,
    )
    print(
        f"{len(report.migrated)} migrated, {len(report.failed)} failed, "
        f"{report.skipped} already at the target, of {report.total} tenant(s)"
    )
    for outcome in report.failed:
        print(f"  {outcome.slug}: {outcome.error}")
    return 1 if report.failed else 0


def tenant_settings(admin: Admin, args) -> int:
    """Validated exactly as the operator API's PATCH is; prints what the tenant then has."""
    registry, tenancy = admin.registry, admin.tenancy
    catalog = service(registry, ISettingsCatalog)
    if args.set or args.flag:
        try:
            change = catalog.operator_change.model_validate(
                catalog.from_command_line(args.set, args.flag)
            )
        except (ValueError, ValidationError) as error:
            problems = field_errors(error) if isinstance(error, ValidationError) else None
            detail = "; ".join(f"{k}: {v}" for k, v in (problems or {}).items()) or str(error)
            return _fail(f"invalid change: {detail}")
        settings, flags = changes(change)
        update_overrides(tenancy, args.slug, settings, flags)
    entry = find_tenant(tenancy.registry, args.slug)
    if entry is None:
        return _fail(f"no active or suspended tenant {args.slug!r}")
    print(json.dumps(catalog.describe(entry), indent=2))
    return 0


def set_plan(admin: Admin, args) -> int:
    """As the operator API's PUT, but a move it needs runs here and now."""
    from ..lifecycle.plans import UnknownPlan

    try:
        found = admin.tenancy.change_plan(args.slug, args.plan)
    except UnknownPlan as error:
        return _fail(str(error))
    if found["scheduled"]:
        report = admin.tenancy.move_to_plan(args.slug)
        print(f"moved: {json.dumps(report.as_json())}", file=sys.stderr)
    print(json.dumps(admin.tenancy.plan_state(args.slug), indent=2))
    return 0


def custom_indexes(admin: Admin, args) -> int:
    """What the job does after an owner marks a field, here and now (after a move, say)."""
    from ..users.custom_indexes import mark, reconcile

    entry = find_tenant(admin.tenancy.registry, args.slug)
    if entry is None:
        return _fail(f"no active or suspended tenant {args.slug!r}")
    wishes = {**dict.fromkeys(args.index, True), **dict.fromkeys(args.unindex, False)}
    if wishes:
        problem = mark(admin.tenancy, entry, wishes)
        if problem:
            return _fail(problem)
    found = reconcile(admin.tenancy, entry)
    print(json.dumps(found, indent=2))
    return 1 if any(state["state"] != "ready" for state in found.values()) else 0


def _say(done: str):
    """Progress on stderr, a table at a time: ``users: 1,000 row(s) exported``."""

    def say(table: str, rows: int) -> None:
        print(f"  {table}: {rows:,} row(s) {done}", file=sys.stderr, flush=True)

    return say


def _say_step(slug: str):
    """A move's steps on stderr as they start (a large tenant's copy takes a while)."""
    started = time.perf_counter()

    def say(step: str) -> None:
        elapsed = time.perf_counter() - started
        print(f"  {slug}: {step} ({elapsed:.1f} s)", file=sys.stderr, flush=True)

    return say


def _confirm(args, what: str) -> None:
    if not args.yes:
        raise provisioning.ProvisioningError(f"refusing to {what} {args.slug!r} without --yes")


def rotate_keys(admin: Admin, args) -> int:
    """rotate-keys and reseal: re-wrap the data keys (rotate-keys), then seal again."""
    registry, tenancy = admin.registry, admin.tenancy
    if args.command == "rotate-keys":
        ring = tenancy.keys.ring
        with tenancy.registry.connect() as connection:
            lacking = lacking_key(connection, ring.current)
        if lacking and not args.force:
            return _fail(
                f"{len(lacking)} serving process(es) do not hold the key-encryption key"
                f" {ring.current!r} yet ({', '.join(lacking[:5])}): they could open no data key"
                " it wraps. Give every process the new key list (first the new key, then the"
                " old ones), restart them, then run rotate-keys again (or --force)"
            )
        rewrapped = tenancy.keys.rewrap()
        print(f"re-wrapped {rewrapped} data key(s) with {ring.current!r}")
        others = [name for name in ring.keys if name != ring.current]
        if others:
            print(
                f"next: once no archive or backup you keep needs them, drop {', '.join(others)}"
                " from the key list and restart the processes"
            )
        if not args.new_data_keys:
            return 0
    slugs = getattr(args, "tenants", None) or [
        t.slug for t in tenancy.list_tenants() if t.status in ("active", "suspended")
    ]
    for slug in slugs:
        entry = find_tenant(tenancy.registry, slug)
        if entry is None:
            return _fail(f"no active or suspended tenant {slug!r}")
        if args.command == "rotate-keys":
            tenancy.keys.add_version(entry.id)
        print(f"{slug}: {rotation.reseal_tenant(registry, entry)} value(s) sealed again")
    return 0


def create_tenant(admin: Admin, args) -> int:
    info, owner = admin.tenancy.create_tenant(
        args.slug,
        args.name,
        args.owner_email,
        hasher=service(admin.registry, IPasswordHasher),
        mode=args.mode,
        server=args.server,
        region=args.region,
    )
    print(
        f"created tenant {info.slug} ({info.mode} mode on server {info.server},"
        f" {info.schema_name}, {info.revision})"
    )
    if owner is not None:
        print(f"owner {owner.email} one-time password: {owner.password}")
    return 0


def list_tenants(admin: Admin, args) -> int:
    _print_tenants(admin.tenancy, args.json)
    return 0


def drop_tenant(admin: Admin, args) -> int:
    if args.purge:
        return purge_tenant(admin, args)
    _confirm(args, "archive")
    admin.tenancy.archive_tenant(args.slug)
    print(f"archived tenant {args.slug} (restore-tenant brings it back)")
    return 0


def purge_tenant(admin: Admin, args) -> int:
    _confirm(args, "purge")
    admin.tenancy.purge_tenant(args.slug)
    print(f"purged tenant {args.slug}")
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def restore_tenant(admin: Admin, args) -> int:
    if args.to is None:
        if args.as_slug:
            return _fail("--as goes with --to (a restore to a moment)")
        admin.tenancy.restore_tenant(args.slug)
        print(f"restored tenant {args.slug}")
        return 0
    done = pitr.restore_tenant(
        admin.tenancy, admin.registry.settings, args.slug, args.to, args.as_slug
    )
    kept = f"; the one it replaced is archived as {done['replaced']}" if done["replaced"] else ""
    print(
        f"restored tenant {args.slug} as it was at {done['to']} into {done['tenant']}"
        f" ({done['rows']} rows, {done['seconds']} s){kept}"
    )
    return 0


def base_backup(admin: Admin, args) -> int:
    settings = admin.registry.settings
    url = admin.tenancy.servers.default.owner.url.render_as_string(hide_password=False)
    made = pitr.base_backup(pitr.wal_archive(settings), url, args.keep)
    print(f"base backup in {made}")
    return 0


def export_usage(admin: Admin, args) -> int:
    from ..metrics import export
    from ..webhooks import WebhookFailed

    sinks = export.sinks_from(admin.registry.settings)
    if sinks.directory is None and not sinks.webhook_url:
        return _fail("set tenantapp.usage_export.dir or tenantapp.usage_export.webhook_url")
    try:
        done = export.export(admin.tenancy.registry, sinks, until=args.until)
    except WebhookFailed as error:
        return _fail(f"the export stopped (it goes on from there next time): {error}")
    print(f"exported {done.files} hour file(s) and {done.events} webhook event(s)")
    return 0


def suspend(admin: Admin, args) -> int:
    admin.tenancy.set_status(args.slug, "suspended")
    print(f"tenant {args.slug} is suspended")
    return 0


def resume(admin: Admin, args) -> int:
    admin.tenancy.set_status(args.slug, "active")
    print(f"tenant {args.slug} is active")
    return 0


def rename_tenant(admin: Admin, args) -> int:
    admin.tenancy.rename_tenant(args.old, args.new)
    print(f"renamed tenant {args.old} to {args.new}")
    return 0


def export_tenant(admin: Admin, args) -> int:
    rows = admin.tenancy.export_tenant(
        args.slug, args.file, args.portable, progress=_say("exported"), to_region=args.to_region
    )
    print(f"exported tenant {args.slug}: {rows} row(s) to {args.file}")
    return 0


def import_tenant(admin: Admin, args) -> int:
    info = admin.tenancy.import_tenant(
        args.file,
        args.slug,
        args.mode,
        args.server,
        legacy=args.legacy,
        progress=_say("imported"),
    )
    print(f"imported {args.file} as tenant {info.slug} ({info.revision})")
    return 0


def move_tenant(admin: Admin, args) -> int:
    report = admin.tenancy.move_tenant(
        args.slug, args.to_mode, args.to_server, step=_say_step(args.slug)
    )
    print(
        f"moved tenant {report.slug} from {report.source} to {report.target}:"
        f" {report.rows} row(s), {report.rounds} catch-up round(s),"
        f" writes paused {report.pause_ms:.0f} ms, {report.total_ms / 1000:.1f} s in all"
    )
    return 0


def new_key(admin: None, args) -> int:
    """Needs no key, nor a database: run before the app is configured."""
    print(new_key_text())
    return 0


def run(args: argparse.Namespace) -> int:
    if args.run is new_key:
        return new_key(None, args)
    registry = assembled(get_appsettings(args.config_uri))
    admin = Admin(registry, service(registry, ITenancy))
    try:
        return args.run(admin, args)
    finally:
        admin.tenancy.servers.dispose()


def main(argv: list[str] | None = None) -> int:
    """Errors are one line on stderr and exit status 1: a message, never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if argv and argv[0] in COMMANDS:
        parser.error(f"the ini comes first: {PROG} CONFIG {argv[0]} …")
    args = parser.parse_args(argv)

    def go() -> int:
        setup_quiet_logging(args.config_uri, args.verbose)
        return run(args)

    return one_line_errors(PROG, go, (provisioning.ProvisioningError, InvalidSlug, KeyUnavailable))


def _fail(message: str) -> int:
    return fail(PROG, message)


if __name__ == "__main__":
    sys.exit(main())
