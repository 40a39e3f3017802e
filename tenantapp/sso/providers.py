"""The tenant's identity provider as the owner sets it, OpenID Connect or SAML 2.0 (one per
tenant): in the registry (a login starts before anyone is known), an OpenID client secret sealed
with the tenant's own data key, a SAML provider's metadata as its owner gave it."""

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


class SignOnRules(BaseModel):
    """What either protocol's settings hold: the roles groups map to, and whether SSO is
    required."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role_map: dict[Short, str] = Field(
        default_factory=dict, description="a group the provider names -> owner, admin or member"
    )
    required: bool = Field(False, description="password logins off, but for break_glass_email")
    break_glass_email: Email | None = None


class ProviderSettings(SignOnRules):
    """What the owner sends to ``PUT /{tenant}/sso/oidc``."""

    issuer: Url
    client_id: Short
    client_secret: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    role_claim: Short | None = Field(None, description="a claim naming the user's groups")


class SamlSettings(SignOnRules):
    """What the owner sends to ``PUT /{tenant}/sso/saml``: the IdP's metadata as XML."""

    metadata: Annotated[str, StringConstraints(min_length=1, max_length=60_000)]
    role_attribute: Short | None = Field(None, description="an attribute naming the groups")


class ProviderOut(BaseModel):
    """The provider as the API shows it: never its secret. ``issuer``: the OpenID issuer or
    the SAML IdP's entity id; ``role_claim``: the claim or attribute naming groups."""

    protocol: str
    issuer: str
    client_id: str | None
    role_claim: str | None
    role_map: dict[str, str]
    required: bool
    break_glass_email: str | None


@dataclass(frozen=True)
class Provider:
    protocol: str  # "oidc" or "saml"
    issuer: str
    client_id: str | None
    client_secret: str | None
    role_claim: str | None
    role_map: dict
    required: bool
    break_glass_email: str | None
    metadata: str | None = None  # a SAML IdP's

    def out(self) -> ProviderOut:
        return ProviderOut(
            protocol=self.protocol,
            issuer=self.issuer,
            client_id=self.client_id,
            role_claim=self.role_claim,
            role_map=self.role_map,
            required=self.required,
            break_glass_email=self.break_glass_email,
        )


UPSERT = text(
    "INSERT INTO tenantapp.tenant_sso AS s (tenant_id, protocol, issuer, client_id,"
    " client_secret, idp_metadata, role_claim, role_map, required, break_glass_email)"
    " VALUES (:tenant_id, :protocol, :issuer, :client_id, :secret, :metadata, :role_claim,"
    " :role_map, :required, :break_glass_email)"
    " ON CONFLICT (tenant_id) DO UPDATE SET protocol = EXCLUDED.protocol,"
    " issuer = EXCLUDED.issuer, idp_metadata = EXCLUDED.idp_metadata,"
    " client_id = EXCLUDED.client_id, client_secret = EXCLUDED.client_secret,"
    " role_claim = EXCLUDED.role_claim, role_map = EXCLUDED.role_map,"
    " required = EXCLUDED.required, break_glass_email = EXCLUDED.break_glass_email,"
    " updated_at = now()"
)
READ = text(
    "SELECT protocol, issuer, client_id, client_secret, idp_metadata, role_claim, role_map,"
    " required, break_glass_email FROM tenantapp.tenant_sso WHERE tenant_id = :tenant_id"
)
REQUIREMENT = text(
    "SELECT required, break_glass_email FROM tenantapp.tenant_sso WHERE tenant_id = :tenant_id"
)
REMOVE = text(
    "DELETE FROM tenantapp.tenant_sso WHERE tenant_id = :tenant_id AND protocol = :protocol"
)


def _aad(tenant_id: int) -> bytes:
    return f"tenant_sso:{int(tenant_id)}".encode()


def save(registry, tenant_id: int, given: SignOnRules, issuer: str) -> None:
    """Keep the tenant's provider (replacing one of either protocol); ``issuer``: the OpenID
    issuer, or the entity id the SAML metadata names."""
    unknown = set(given.role_map.values()) - set(ROLES)
    if unknown:
        raise InvalidInput("unknown role", {"role_map": f"roles are {', '.join(ROLES)}"})
    row = {
        "tenant_id": tenant_id,
        "issuer": issuer,
        "role_map": json.dumps(given.role_map),
        "required": given.required,
        "break_glass_email": given.break_glass_email,
    }
    if isinstance(given, SamlSettings):
        row.update(protocol="saml", client_id=None, secret=None, metadata=given.metadata)
        row["role_claim"] = given.role_attribute
    else:
        version, aead = service(registry, ITenantKeys).current(tenant_id)
        secret = seal(aead, version, given.client_secret.encode(), _aad(tenant_id))
        row.update(protocol="oidc", client_id=given.client_id, secret=secret, metadata=None)
        row["role_claim"] = given.role_claim
    with registry_owner(registry).begin() as connection:
        connection.execute(UPSERT, row)


def load(registry, tenant_id: int) -> Provider | None:
    with registry_owner(registry).connect() as connection:
        row = connection.execute(READ, {"tenant_id": tenant_id}).first()
    if row is None:
        return None
    secret = None
    if row.client_secret is not None:
        sealed = bytes(row.client_secret)
        aead = service(registry, ITenantKeys).key(tenant_id, sealed_version(sealed))
        secret = unseal(aead, sealed, _aad(tenant_id)).decode()
    return Provider(
        row.protocol,
        row.issuer,
        row.client_id,
        secret,
        row.role_claim,
        dict(row.role_map or {}),
        row.required,
        row.break_glass_email,
        row.idp_metadata,
    )


def requirement(registry, tenant_id: int) -> tuple[bool, str | None]:
    """Whether SSO is required, and the break-glass owner's email: for every password login,
    without the secret."""
    with registry_owner(registry).connect() as connection:
        row = connection.execute(REQUIREMENT, {"tenant_id": tenant_id}).first()
    return (False, None) if row is None else (row.required, row.break_glass_email)


def remove(registry, tenant_id: int, protocol: str) -> bool:
    with registry_owner(registry).begin() as connection:
        found = connection.execute(REMOVE, {"tenant_id": tenant_id, "protocol": protocol})
        return found.rowcount > 0
