"""What an owner does with the tenant's policies, from the API or the console alike: replace
them (validated against the tenant's own schema first, audited) and ask why a decision."""

from .. import audit
from ..caching import forget_everywhere
from ..errors import InvalidInput
from ..interfaces import ITenantPolicies, service
from ..users.models import User
from . import cedar
from .store import CHANNEL, NONE, save


def replace_policies(request, source: str) -> None:
    """A policy that does not parse, or names what is not there, is refused saying where."""
    if source.strip():
        try:
            cedar.checked(source, cedar.schema_of(request.dbsession))
        except cedar.PolicyError as error:
            where = f"line {error.line}, column {error.column}: {error}"
            raise InvalidInput("a policy is refused", {"source": where}) from None
    tenant_id = request.tenant.record.id
    save(request.registry, tenant_id, source)
    forget_everywhere(CHANNEL, str(tenant_id))  # this process at once; the trigger: the others
    audit.record(request, "authz.policies_changed", None, lines=source.count("\n") + 1)


def explain(request, principal: User, action: str, resource: User) -> cedar.Decision:
    """The decision the policies make (after the roles), and which policies say no."""
    if action not in cedar.ACTIONS:
        raise InvalidInput("unknown action", {"action": f"one of {', '.join(cedar.ACTIONS)}"})
    policies = service(request.registry, ITenantPolicies).policies(request)
    if policies is NONE:
        return cedar.Decision(True, [], [])
    return cedar.decide(policies, request.dbsession, principal, action, resource)
