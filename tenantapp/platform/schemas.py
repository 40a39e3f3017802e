"""What the operator API answers about tenants (``TenantInfo`` as JSON, through these)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..tenancy.models import MODES


class Migration(BaseModel):
    status: str | None
    last_error: str | None


class TenantOut(BaseModel):
    """A tenant as the operator sees it: where it is placed, its revision and size."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    slug: str
    name: str
    status: Literal["active", "suspended", "deleted"]
    mode: Literal[MODES]
    server: str
    region: str | None = Field(default=None, description="pinned: its data stays there")
    revision: str | None
    schema_name: str = Field(alias="schema")
    size_bytes: int | None = None
    migration: Migration | None = None


class FirstOwner(BaseModel):
    email: str
    password: str | None = Field(description="shown once: stored only hashed")


class TenantCreated(TenantOut):
    owner: FirstOwner | None = None


class TenantList(BaseModel):
    items: list[TenantOut]


class TenantMoved(BaseModel):
    move: dict = Field(description="what the move did: rows copied, writes paused (ms), …")
    tenant: TenantOut


def tenant_json(info, **extra) -> dict:
    """``info`` (a ``TenantInfo``) as the API answers it."""
    model = TenantCreated if extra else TenantOut
    return model(**info.as_json(), **extra).model_dump(by_alias=True, exclude_none=False)
