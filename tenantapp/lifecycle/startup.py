"""What the app does as it starts when asked to (development): migrate, then the demo tenants."""

from contextlib import suppress
from typing import TYPE_CHECKING

from .provisioning import TenantExists, tenant_exists

if TYPE_CHECKING:
    from .operations import Lifecycle


def provision_on_start(
    tenancy: "Lifecycle", demo_slugs: list[str], demo_password: str | None, hasher
) -> None:
    """Development convenience: migrate, then create the demo tenants that are missing, each
    with an owner ``owner@SLUG.example`` whose password is ``demo_password``."""
    tenancy.migrate()
    for slug in demo_slugs:
        with tenancy.registry.connect() as connection:
            if tenant_exists(connection, slug):
                continue
        owner_email = f"owner@{slug}.example" if demo_password else None
        with suppress(TenantExists):  # another process created it first
            tenancy.create_tenant(
                slug, slug.capitalize(), owner_email, demo_password, hasher=hasher
            )
