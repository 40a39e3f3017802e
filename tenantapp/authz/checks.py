"""Where the tenant's policies act: after the ACL on a user (``UserResource``), and on lists
of users, as SQL where the policy allows (no page of 50 filtered down to 3), else row by row
over pages filled up to their size."""

from pyramid.security import Denied
from zope.interface import implementer

from ..interfaces import ITenantPolicies
from ..users.custom import definitions
from ..users.models import User
from ..users.resources import UserResource
from . import cedar
from .store import NONE, policies_of


def _acting(request, policies: cedar.Policies):
    """The user a request acts as (None for the operator): its row only where the policies
    read more than the id and role its token gives."""
    identity = request.identity
    user_id = identity.user_id if identity is not None else None
    if user_id is None:
        return None
    if policies.reads_principal:
        return request.dbsession.get(User, user_id)
    role = next(p.removeprefix("role:") for p in identity.principals if p.startswith("role:"))
    return cedar.Acting(user_id, role)


@implementer(ITenantPolicies)
class PolicyChecks:
    def __init__(self, registry, cache):
        self.registry = registry
        self.cache = cache

    def policies(self, request) -> cedar.Policies:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return NONE
        return policies_of(self.registry, self.cache, tenant.record.id)

    def check(self, request, context, permission):
        """A ``Denied`` naming the policies that forbid ``permission`` on this user."""
        if not isinstance(context, UserResource) or permission not in cedar.ACTIONS:
            return None
        policies = self.policies(request)
        principal = _acting(request, policies) if policies is not NONE else None
        if principal is None:
            return None
        session = request.dbsession
        quick = cedar.quick_decision(policies, session, principal, permission, context.user)
        if quick is True:
            return None
        decision = cedar.decide(policies, session, principal, permission, context.user)
        if decision.allowed:  # the quick one said no: Cedar, asked in full, is the judge
            return None
        why = ", ".join(decision.forbidding + decision.errors) or "a policy"
        return Denied(f"forbidden by the tenant's policies: {why}")

    def rows(self, request, model, permission):
        """``(conditions, keep)`` for a list of users: SQL where the residual translates,
        else a row test."""
        if model is not User:
            return [], None
        policies = self.policies(request)
        principal = _acting(request, policies) if policies is not NONE else None
        if principal is None:
            return [], None
        session = request.dbsession
        sealed = set()
        if policies.reads_custom:  # a sealed field's values cannot be compared in SQL
            sealed = {defined.name for defined in definitions(session) if defined.sealed}
        try:
            condition = cedar.row_condition(policies, session, principal, permission, sealed)
            return ([] if condition is cedar.NOTHING_FORBIDDEN else [condition]), None
        except cedar.Untranslatable:
            decide = cedar.decide

            def keep(user: User) -> bool:
                return decide(policies, session, principal, permission, user).allowed

            return [], keep
