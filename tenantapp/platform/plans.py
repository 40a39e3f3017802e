"""Plans over HTTP (``lifecycle.plans``): the operator lists them, reads a tenant's, and puts
a tenant on one; a plan that places the tenant elsewhere schedules its move as a job.

The job runs the move once its own transaction has committed: a move pauses the tenant's
writes until those in flight finish, and the job's transaction is one of them.
"""

from pydantic import BaseModel, ConfigDict, Field
from pyramid.view import view_config

from ..errors import InvalidInput
from ..interfaces import IJobQueue, ISettingsCatalog, ITenancy, service
from ..jobs import tenant_task
from ..lifecycle import plans
from ..openapi import MANAGED, SLUG, Operation
from ..tenancy.directory import find_tenant
from ..validation import validated_body
from .resources import ManagedTenant, Plans

TASK = "plans.move"


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    plan: str = Field(max_length=63, description="a plan of the ini (tenantapp.plan.NAME)")


@tenant_task(TASK)
def move_to_plan(request) -> None:
    """Move the tenant where its new plan places it, after this job's transaction."""
    tenancy, slug = service(request.registry, ITenancy), request.tenant.record.slug

    def after(committed: bool) -> None:
        if committed:
            tenancy.move_to_plan(slug)

    request.tm.get().addAfterCommitHook(after)


@view_config(context=Plans, request_method="GET", renderer="json", permission="operate")
def list_plans(context: Plans, request):
    catalog = service(request.registry, ISettingsCatalog)
    return {"items": plans.describe(service(request.registry, ITenancy).plans, catalog)}


@view_config(
    context=ManagedTenant, name="plan", request_method="GET", renderer="json", permission="operate"
)
def show_plan(context: ManagedTenant, request):
    return context.tenancy.plan_state(context.info.slug)


@view_config(
    context=ManagedTenant, name="plan", request_method="PUT", renderer="json", permission="operate"
)
def change_plan(context: ManagedTenant, request):
    """200: on the plan now; 202: its move is scheduled (``move`` shows how it goes)."""
    name = validated_body(request, PlanChange).plan
    try:
        found = context.tenancy.change_plan(context.info.slug, name)
    except plans.UnknownPlan as error:
        raise InvalidInput(str(error), {"plan": "not declared"}) from None
    if found.pop("scheduled"):
        entry = find_tenant(context.tenancy.registry, context.info.slug)
        service(request.registry, IJobQueue).relay(entry, [(None, TASK, {})])
        request.response.status_int = 202
    return found


OPERATIONS = (
    Operation(Plans, "", "GET", "/-/plans", "Plans", auth="operator"),
    Operation(
        ManagedTenant,
        "plan",
        "GET",
        MANAGED + "/plan",
        "A tenant's plan",
        auth="operator",
        params=(SLUG,),
    ),
    Operation(
        ManagedTenant,
        "plan",
        "PUT",
        MANAGED + "/plan",
        "Put a tenant on a plan (202: a move is scheduled)",
        200,
        PlanChange,
        "operator",
        (SLUG,),
        more=((202, {"type": "object"}),),
    ),
)
