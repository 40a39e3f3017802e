"""Where a tenant's data may be: a tenant pinned to a region (``tenants.region``) is created,
moved, imported and restored only onto servers labelled with that region
(``tenantapp.region.NAME``); anything else is refused with the reason, before anything is
written. A tenant that is not pinned goes anywhere."""

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..tenancy.errors import ResidencyError
from ..tenancy.models import TenantRecord
from ..tenancy.servers import DEFAULT, Servers

tenants = TenantRecord.__table__


def pinned(connection: Connection, tenant_id: int) -> str | None:
    """The region ``tenant_id`` is pinned to, if any."""
    return connection.scalar(select(tenants.c.region).where(tenants.c.id == tenant_id))


def placed(servers: Servers, server: str | None, region: str | None) -> str:
    """The server for a tenant pinned to ``region``: ``server`` when it is there; when none
    is named, the region's first server by name (unpinned: ``server``, else the default)."""
    if region is None:
        return server or DEFAULT
    there = sorted(s.name for s in servers if s.region == region)
    if not there:
        labelled = sorted({s.region for s in servers if s.region}) or ["none"]
        raise ResidencyError(
            f"no server is in region {region!r} (regions here: {', '.join(labelled)})"
        )
    if server is None:
        return there[0]
    check(servers, server, region, "place")
    return server


def check(servers: Servers, server: str, region: str | None, doing: str) -> None:
    """Refuse to ``doing`` a tenant pinned to ``region`` onto ``server`` elsewhere."""
    if region is None:
        return
    found = servers[server].region
    if found != region:
        where = f"region {found!r}" if found else "no region"
        raise ResidencyError(
            f"cannot {doing} a tenant pinned to region {region!r} onto server {server!r}, which"
            f" is in {where}: its data must stay in {region!r}"
        )
