"""Which tenant a slug names, from memory: the registry behind a ``NotifiedCache``.

The trigger on ``tenantapp.tenants`` (shared revision s003) notifies ``tenantapp_tenants`` with
the slug of every changed row, so suspending, renaming or dropping a tenant reaches every process.
"""

from dataclasses import dataclass

from ..caching import NotifiedCache, forget_everywhere

CHANNEL = "tenantapp_tenants"


@dataclass(frozen=True, slots=True)
class TenantEntry:
    """What serving a tenant needs from its registry row."""

    id: int
    slug: str
    schema_name: str
    display_name: str
    status: str


def tenant_directory(capacity: int) -> NotifiedCache:
    return NotifiedCache(CHANNEL, capacity)


def forget_tenant(slug: str) -> None:
    forget_everywhere(CHANNEL, slug)
