"""What the operator does to tenants, for the JSON API and the console alike: validated inputs
in, ``APIError`` out for what the operator must be told."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from ..errors import Conflict, InvalidInput
from ..interfaces import IPasswordHasher, service
from ..lifecycle import Lifecycle, moving, provisioning
from ..tenancy.servers import REGION
from ..tenancy.slugs import SLUG_RULE, is_valid_slug
from ..validation import PlainText


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    slug: Annotated[str, StringConstraints(max_length=63)]
    name: Annotated[PlainText, StringConstraints(strip_whitespace=True, max_length=200)] | None = (
        None
    )
    owner_email: EmailStr | None = None
    mode: Literal["schema", "shared", "database"] | None = None
    server: Annotated[str, StringConstraints(max_length=63)] | None = Field(
        default=None, description="default: the region's first server, else the default server"
    )
    region: Annotated[str, StringConstraints(pattern=f"^{REGION}$")] | None = Field(
        default=None, description="pin the tenant's data to this region (servers' labels)"
    )


class TenantMove(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["schema", "shared", "database"] | None = None
    server: Annotated[str, StringConstraints(max_length=63)] | None = None


STATUS_FOR_ACTION = {"suspend": "suspended", "resume": "active"}


def create(
    tenancy: Lifecycle, data: TenantCreate, request
) -> tuple[provisioning.TenantInfo, provisioning.Owner | None]:
    """The new tenant (with its size, as a GET shows it) and its first owner, if one was
    asked for (the password is shown once)."""
    if not is_valid_slug(data.slug):
        raise InvalidInput("invalid tenant slug", {"slug": SLUG_RULE})
    try:
        info, owner = tenancy.create_tenant(
            data.slug,
            data.name,
            data.owner_email,
            hasher=service(request.registry, IPasswordHasher),
            mode=data.mode,
            server=data.server,
            region=data.region,
        )
    except provisioning.UnknownServer as error:
        raise InvalidInput(str(error), {"server": "not configured"}) from None
    except provisioning.TenantExists as error:
        raise Conflict(str(error), {"slug": "taken"}) from None
    return tenancy.get_tenant(info.slug), owner


def move(tenancy: Lifecycle, slug: str, data: TenantMove) -> moving.MoveReport:
    try:
        return tenancy.move_tenant(slug, data.mode, data.server)
    except provisioning.UnknownServer as error:
        raise InvalidInput(str(error), {"server": "not configured"}) from None
