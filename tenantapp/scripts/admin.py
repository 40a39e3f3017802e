"""``tenantapp-admin CONFIG_URI COMMAND``: operate on tenants with the app's own settings."""

import argparse
import sys

from pyramid.paster import get_appsettings, setup_logging

from ..database import make_engine
from ..identity.passwords import password_hasher
from ..tenancy import provisioning
from ..tenancy.slugs import InvalidSlug


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenantapp-admin", description=__doc__)
    parser.add_argument("config_uri", help="the application's ini file, e.g. development.ini")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create-tenant", help="create a tenant at the head revision")
    create.add_argument("slug")
    create.add_argument("--name", help="display name (defaults to the slug)")
    create.add_argument(
        "--owner-email", help="create the first owner; their one-time password is printed"
    )

    commands.add_parser("list-tenants", help="list tenants with status and revision")

    drop = commands.add_parser("drop-tenant", help="delete a tenant and all its data")
    drop.add_argument("slug")
    drop.add_argument("--yes", action="store_true", help="confirm: the data is gone for good")

    for command, help_text in (
        ("suspend", "refuse the tenant's requests (403) without touching its data"),
        ("resume", "serve a suspended tenant again"),
    ):
        commands.add_parser(command, help=help_text).add_argument("slug")

    commands.add_parser("migrate", help="bring the shared and every tenant schema to head")
    return parser


def run(args: argparse.Namespace) -> None:
    settings = get_appsettings(args.config_uri)
    engine = make_engine(settings)
    try:
        if args.command == "create-tenant":
            info, owner = provisioning.create_tenant(
                engine, args.slug, args.name, args.owner_email, hasher=password_hasher(settings)
            )
            print(f"created tenant {info.slug} (schema {info.schema_name}, {info.revision})")
            if owner is not None:
                print(f"owner {owner.email} one-time password: {owner.password}")
        elif args.command == "list-tenants":
            for t in provisioning.list_tenants(engine):
                print(f"{t.slug}\t{t.status}\t{t.revision or '-'}\t{t.display_name}")
        elif args.command == "drop-tenant":
            if not args.yes:
                raise provisioning.ProvisioningError(
                    f"refusing to drop {args.slug!r} without --yes: its data would be lost"
                )
            provisioning.drop_tenant(engine, args.slug)
            print(f"dropped tenant {args.slug}")
        elif args.command in ("suspend", "resume"):
            status = "suspended" if args.command == "suspend" else "active"
            provisioning.set_status(engine, args.slug, status)
            print(f"tenant {args.slug} is {status}")
        elif args.command == "migrate":
            migrated = provisioning.migrate(engine)
            print(f"migrated {len(migrated)} tenant(s) to head")
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.config_uri)
    try:
        run(args)
    except (provisioning.ProvisioningError, InvalidSlug) as error:
        print(f"tenantapp-admin: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
