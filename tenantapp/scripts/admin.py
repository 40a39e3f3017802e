"""``tenantapp-admin CONFIG_URI COMMAND``: operate on tenants with the app's own settings."""

import argparse
import sys

from pyramid.paster import get_appsettings, setup_logging

from ..database import make_engine
from ..tenancy import provisioning
from ..tenancy.slugs import InvalidSlug


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenantapp-admin", description=__doc__)
    parser.add_argument("config_uri", help="the application's ini file, e.g. development.ini")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create-tenant", help="create a tenant at the head revision")
    create.add_argument("slug")
    create.add_argument("--name", help="display name (defaults to the slug)")

    commands.add_parser("list-tenants", help="list tenants with status and revision")

    drop = commands.add_parser("drop-tenant", help="delete a tenant and all its data")
    drop.add_argument("slug")
    drop.add_argument("--yes", action="store_true", help="confirm: the data is gone for good")

    commands.add_parser("migrate", help="bring the shared and every tenant schema to head")
    return parser


def run(args: argparse.Namespace) -> None:
    settings = get_appsettings(args.config_uri)
    engine = make_engine(settings)
    try:
        if args.command == "create-tenant":
            info = provisioning.create_tenant(engine, args.slug, args.name)
            print(f"created tenant {info.slug} (schema {info.schema_name}, {info.revision})")
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
