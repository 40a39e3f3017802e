"""Plans that place tenants: a plan, declared in the ini, names where its tenants live and
what they may do::

    tenantapp.plan.free.mode = shared
    tenantapp.plan.free.settings = quota_max_users=10 quota_paced_requests_per_second=5
    tenantapp.plan.enterprise.mode = database
    tenantapp.plan.enterprise.region = eu            # or .server = NAME
    tenantapp.plan.enterprise.flags = new_dashboard=true

What it sets (settings, quotas, the pace, flags) lies beneath each tenant's own overrides
(``tenant_settings.catalog``); where it places them is here. Changing a tenant's plan applies
all of it: where the place is the same, the plan is set at once; where it differs, an online
move is scheduled (a job, ``platform.plan_moves``) that carries the plan and sets it in the
registry update that switches the tenant, so the limits change with the place. The move's
progress and write pause are its record's (``tenant_moves``).
"""

from dataclasses import dataclass, replace

from pyramid.exceptions import ConfigurationError
from sqlalchemy import select, update

from ..tenancy.directory import forget_tenant
from ..tenancy.errors import ProvisioningError
from ..tenancy.models import MODES, TenantMove, TenantRecord
from ..tenancy.servers import Servers
from . import moving, residency
from .provisioning import find_row

PREFIX = "tenantapp.plan."
PARTS = ("mode", "server", "region", "settings", "flags")  # the last two: the catalog's
tenants, moves = TenantRecord.__table__, TenantMove.__table__


class UnknownPlan(ProvisioningError):
    pass


@dataclass(frozen=True)
class Plan:
    name: str
    mode: str | None = None  # None: the mode a tenant is in
    server: str | None = None
    region: str | None = None  # its first server by name, unless ``server`` is there


def plans_from(settings: dict, servers: Servers) -> dict[str, Plan]:
    """The ini's plans, checked at start-up: a known mode, server and region."""
    found: dict[str, dict] = {}
    for key, value in settings.items():
        if not key.startswith(PREFIX):
            continue
        name, _, part = key.removeprefix(PREFIX).partition(".")
        if part not in PARTS:
            raise ConfigurationError(f"{key}: a plan sets {', '.join(PARTS)}")
        found.setdefault(name, {})[part] = value.strip() or None
    plans = {}
    for name, parts in found.items():
        plan = Plan(name, parts.get("mode"), parts.get("server"), parts.get("region"))
        if plan.mode is not None and plan.mode not in MODES:
            raise ConfigurationError(f"{PREFIX}{name}.mode: one of {', '.join(MODES)}")
        try:
            target_server(servers, plan, None)
        except ProvisioningError as error:
            raise ConfigurationError(f"{PREFIX}{name}: {error}") from None
        plans[name] = plan
    return plans


def target_server(servers: Servers, plan: Plan, current: str | None) -> str:
    """The server a plan puts a tenant on (``current`` stays where the plan allows it)."""
    if plan.server is not None:
        servers[plan.server]  # an unknown one raises
        return residency.placed(servers, plan.server, plan.region)
    if plan.region is None:
        return current or residency.placed(servers, None, None)
    if current is not None and servers[current].region == plan.region:
        return current
    return residency.placed(servers, None, plan.region)


def change_plan(tenancy, slug: str, name: str) -> dict:
    """Put ``slug`` on plan ``name``: at once where it stays, else a move is scheduled, which the
    caller runs (a job: ``platform.plan_moves``, or ``move_to_plan`` here and now)."""
    plan = tenancy.plans.get(name)
    if plan is None:
        known = ", ".join(sorted(tenancy.plans)) or "none is declared"
        raise UnknownPlan(f"no plan {name!r} (plans: {known})")
    with tenancy.registry.begin() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        moving.refuse_if_moving(registry, entry)
        server = target_server(tenancy.servers, plan, entry.server)
        mode = plan.mode or entry.mode
        residency.check(tenancy.servers, server, residency.pinned(registry, entry.id), "move")
        if (mode, server) == (entry.mode, entry.server):
            registry.execute(update(tenants).where(tenants.c.id == entry.id).values(plan=name))
            moving.cancel_scheduled(registry, entry.id)
            scheduled = False
        else:
            target = replace(
                entry,
                mode=mode,
                server=server,
                schema_name=tenancy.store(mode).schema_name(entry.id),
            )
            moving.schedule(registry, entry, target, name)
            scheduled = True
    forget_tenant(slug)
    return {**plan_state(tenancy, slug), "scheduled": scheduled}


def move_to_plan(tenancy, slug: str, step=None) -> moving.MoveReport | None:
    """Run the move scheduled for ``slug``'s new plan, if one is (what the job does)."""
    with tenancy.registry.connect() as registry:
        record = registry.execute(
            select(moves)
            .join(tenants, tenants.c.id == moves.c.tenant_id)
            .where(tenants.c.slug == slug, moves.c.plan.is_not(None), moves.c.state != "done")
        ).first()
    if record is None:
        return None
    return tenancy.move_tenant(
        slug, record.target_mode, record.target_server, step=step, plan=record.plan
    )


def plan_state(tenancy, slug: str) -> dict:
    """The tenant's plan, the one a move is taking it to, and that move's progress."""
    with tenancy.registry.connect() as registry:
        row = registry.execute(
            select(tenants.c.id, tenants.c.plan, tenants.c.mode, tenants.c.server).where(
                tenants.c.slug == slug, tenants.c.status.in_(("active", "suspended"))
            )
        ).first()
        if row is None:
            raise UnknownPlan(f"no active or suspended tenant {slug!r}")
        move = registry.execute(select(moves).where(moves.c.tenant_id == row.id)).first()
    shown = None
    if move is not None and move.plan is not None:
        shown = {
            "plan": move.plan,
            "state": move.state,
            "to": f"{move.target_mode}@{move.target_server}",
            "rows_copied": move.rows_copied,
            "write_pause_ms": move.pause_ms,
            "error": move.error,
            "updated_at": move.updated_at.isoformat(),
        }
    pending = shown["plan"] if shown and shown["state"] not in ("done", "failed") else None
    return {
        "plan": row.plan,
        "pending": pending,
        "mode": row.mode,
        "server": row.server,
        "move": shown,
    }


def describe(plans: dict[str, Plan], catalog) -> list[dict]:
    """Every plan: where it places tenants and what it sets."""
    described = []
    for plan in sorted(plans.values(), key=lambda p: p.name):
        settings, flags = catalog.plans.get(plan.name, ({}, {}))
        described.append(
            {
                "name": plan.name,
                "mode": plan.mode,
                "server": plan.server,
                "region": plan.region,
                "settings": settings,
                "flags": flags,
            }
        )
    return described
