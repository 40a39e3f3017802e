"""The bearer tokens a tenant's directory (Okta, Entra ID, …) provisions with: the owner makes
and revokes them; each is shown once and kept as its SHA-256, in the registry beside the
tenant, so a token of one tenant is nothing at another's ``/scim``."""

import hashlib
import hmac
import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from ..errors import NotFound
from ..tenancy.servers import registry_owner
from ..validation import PlainText

PREFIX = "scim_"


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: PlainText  # which directory uses it


class ScimTokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    token: str | None = None  # only in the answer that made it


class ScimTokenList(BaseModel):
    items: list[ScimTokenOut]


MAKE = text(
    "INSERT INTO tenantapp.scim_tokens (tenant_id, name, digest) VALUES (:tenant_id, :name,"
    " :digest) RETURNING id, name, created_at"
)
ALL = text(
    "SELECT id, name, created_at FROM tenantapp.scim_tokens WHERE tenant_id = :tenant_id"
    " ORDER BY id"
)
REVOKE = text("DELETE FROM tenantapp.scim_tokens WHERE tenant_id = :tenant_id AND id = :id")
OWNER = text(
    "SELECT id FROM tenantapp.scim_tokens WHERE tenant_id = :tenant_id AND digest = :digest"
)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def make(registry, tenant_id: int, name: str) -> ScimTokenOut:
    token = PREFIX + secrets.token_urlsafe(32)
    with registry_owner(registry).begin() as connection:
        row = connection.execute(
            MAKE, {"tenant_id": tenant_id, "name": name[:200], "digest": digest(token)}
        ).one()
    return ScimTokenOut(id=row.id, name=row.name, created_at=row.created_at, token=token)


def listed(registry, tenant_id: int) -> list[ScimTokenOut]:
    with registry_owner(registry).connect() as connection:
        rows = connection.execute(ALL, {"tenant_id": tenant_id}).all()
    return [ScimTokenOut(id=r.id, name=r.name, created_at=r.created_at) for r in rows]


def revoke(registry, tenant_id: int, token_id: str) -> None:
    if not token_id.isdigit() or len(token_id) > 18:
        raise NotFound(f"no SCIM token {token_id!r}")
    with registry_owner(registry).begin() as connection:
        gone = connection.execute(REVOKE, {"tenant_id": tenant_id, "id": int(token_id)})
    if gone.rowcount == 0:
        raise NotFound(f"no SCIM token {token_id!r}")


def holder(registry, tenant_id: int, authorization: str | None) -> int | None:
    """The id of the tenant's SCIM token in an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        return None
    with registry_owner(registry).connect() as connection:
        row = connection.execute(OWNER, {"tenant_id": tenant_id, "digest": digest(token)}).first()
    if row is None:
        hmac.compare_digest(token, token)  # the same work either way
        return None
    return row.id
