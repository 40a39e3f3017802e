"""The tenant's OpenID Connect provider as the owner sets it: in the registry (a login starts
before anyone is known), its client secret sealed with the tenant's own data key."""

import json
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import text

from ..encryption.keyring import seal, sealed_version, unseal
from ..errors import InvalidInput
from ..interfaces import ITenantKeys, service
from ..tenancy.servers import registry_owner
from ..users.models import ROLES
from ..users.schemas import Email
from ..validation import PlainText

Url = Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=r"^https?://\S+$")]
Short = Annotated[PlainText, StringConstraints(min_length=1, max_length=200)]


class ProviderSettings(BaseModel):
    """What the owner sends to ``PUT /{tenant}/sso/oidc``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    issuer: Url
    client_id: Short
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    role_claim: Short | None = Field(None, description="a claim naming the user's groups")
    role_map: dict[Short, str] = Field(
        default_factory=dict, description="a group in role_claim -> owner, admin or member"
    )
    required: bool = Field(False, description="password logins off, but for break_glass_email")
    break_glass_email: Email | None = None


class ProviderOut(BaseModel):
    """The provider as the API shows it: never its secret."""

    issuer: str
    client_id: str
    role_claim: str | None
    role_map: dict[str, str]
    required: bool
    break_glass_email: str | None


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    role_claim: str | None
    role_map: dict
    required: bool
    break_glass_email: str | None

    def out(self) -> ProviderOut:
        return ProviderOut(
            issuer=self.issuer,
            client_id=self.client_id,
            role_claim=self.role_claim,
            role_map=self.role_map,
            required=self.required,
            break_glass_email=self.break_glass_email,
        )


UPSERT = text(
    "INSERT INTO tenantapp.tenant_sso AS s (tenant_id, issuer, client_id, client_secret,"
    " role_claim, role_map, required, break_glass_email)"
    " VALUES (:tenant_id, :issuer, :client_id, :secret, :role_claim, :role_map, :required,"
    " :break_glass_email)"
    " ON CONFLICT (tenant_id) DO UPDATE SET issuer = EXCLUDED.issuer,"
    " client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,"
    " role_claim = EXCLUDED.role_claim, role_map = EXCLUDED.role_map,"
    " required = EXCLUDED.required, break_glass_email = EXCLUDED.break_glass_email,"
    " updated_at = now()"
)
READ = text(
    "SELECT issuer, client_id, client_secret, role_claim, role_map, required, break_glass_email"
    " FROM tenantapp.tenant_sso WHERE tenant_id = :tenant_id"
)
REQUIREMENT = text(
    "SELECT required, break_glass_email FROM tenantapp.tenant_sso WHERE tenant_id = :tenant_id"
)
REMOVE = text("DELETE FROM tenantapp.tenant_sso WHERE tenant_id = :tenant_id")


def _aad(tenant_id: int) -> bytes:
    return f"tenant_sso:{int(tenant_id)}".encode()


def save(registry, tenant_id: int, given: ProviderSettings) -> None:
    unknown = set(given.role_map.values()) - set(ROLES)
    if unknown:
        raise InvalidInput("unknown role", {"role_map": f"roles are {', '.join(ROLES)}"})
    keys = service(registry, ITenantKeys)
    version, aead = keys.current(tenant_id)
    secret = seal(aead, version, given.client_secret.encode(), _aad(tenant_id))
    with registry_owner(registry).begin() as connection:
        connection.execute(
            UPSERT,
            {
                "tenant_id": tenant_id,
                "issuer": given.issuer.rstrip("/"),
                "client_id": given.client_id,
                "secret": secret,
                "role_claim": given.role_claim,
                "role_map": json.dumps(given.role_map),
                "required": given.required,
                "break_glass_email": given.break_glass_email,
            },
        )


def load(registry, tenant_id: int) -> Provider | None:
    with registry_owner(registry).connect() as connection:
        row = connection.execute(READ, {"tenant_id": tenant_id}).first()
    if row is None:
        return None
    sealed = bytes(row.client_secret)
    aead = service(registry, ITenantKeys).key(tenant_id, sealed_version(sealed))
    secret = unseal(aead, sealed, _aad(tenant_id)).decode()
    return Provider(
        row.issuer,
        row.client_id,
        secret,
        row.role_claim,
        dict(row.role_map or {}),
        row.required,
        row.break_glass_email,
    )


def requirement(registry, tenant_id: int) -> tuple[bool, str | None]:
    """Whether SSO is required, and the break-glass owner's email: for every password login,
    without the secret."""
    with registry_owner(registry).connect() as connection:
        row = connection.execute(REQUIREMENT, {"tenant_id": tenant_id}).first()
    return (False, None) if row is None else (row.required, row.break_glass_email)


def remove(registry, tenant_id: int) -> bool:
    with registry_owner(registry).begin() as connection:
        return connection.execute(REMOVE, {"tenant_id": tenant_id}).rowcount > 0
