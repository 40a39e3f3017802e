"""The lifecycle as one service (``ITenancy``): every operation on tenants is a method of it,
and the operator API, the console, the CLI, the worker and the tests all call the same ones.

The methods are the modules' functions, each taking the service as its ``tenancy``: the
modules keep one concern each (provisioning, migrating, moving, transfer), the service is the
one door to them."""

from dataclasses import dataclass

from zope.interface import implementer

from ..interfaces import ITenancy
from . import migrating, moving, plans, provisioning, transfer
from .tenancy import Tenancy


@implementer(ITenancy)
@dataclass(frozen=True)
class Lifecycle(Tenancy):
    create_tenant, purge_tenant = provisioning.create_tenant, provisioning.purge_tenant
    get_tenant, list_tenants = provisioning.get_tenant, provisioning.list_tenants
    rename_tenant, set_status = provisioning.rename_tenant, provisioning.set_status
    archive_tenant, restore_tenant = provisioning.archive_tenant, provisioning.restore_tenant
    migrate, migration_sql = migrating.migrate, migrating.migration_sql
    move_tenant = moving.move_tenant
    change_plan, move_to_plan, plan_state = plans.change_plan, plans.move_to_plan, plans.plan_state
    export_tenant, import_tenant = transfer.export_tenant, transfer.import_tenant
