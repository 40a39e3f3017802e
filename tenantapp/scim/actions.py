"""What an owner does to the tenant's SCIM tokens, from the API or the console alike; audited."""

from .. import audit
from . import tokens


def make_token(request, name: str) -> tokens.ScimTokenOut:
    """The token is in this answer only."""
    made = tokens.make(request.registry, request.tenant.record.id, name)
    audit.record(request, "scim.token_made", f"scim:{made.id}", name=made.name)
    return made


def revoke_token(request, token_id: str) -> None:
    tokens.revoke(request.registry, request.tenant.record.id, token_id)
    audit.record(request, "scim.token_revoked", f"scim:{token_id}")
