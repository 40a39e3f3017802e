"""What the app does as it starts when asked to (development): migrate, then the demo tenants."""

from contextlib import suppress

from .migrating import migrate
from .provisioning import TenantExists, create_tenant, tenant_exists
from .tenancy import Tenancy


def provision_on_start(
    tenancy: Tenancy, demo_slugs: list[str], demo_password: str | None, hasher
) -> None:
    """Development convenience: migrate, then create the demo tenants that are missing, each
    with an owner ``owner@SLUG.example`` whose password is ``demo_password``."""
    migrate(tenancy)
    for slug in demo_slugs:
        with tenancy.registry.connect() as connection:
            if tenant_exists(connection, slug):
                continue
        owner_email = f"owner@{slug}.example" if demo_password else None
        with suppress(TenantExists):  # another process created it first
            create_tenant(
                tenancy, slug, slug.capitalize(), owner_email, demo_password, hasher=hasher
            )
