"""The serving role: what tenant requests run as, and exactly what it may touch.

It is not a superuser, has no BYPASSRLS and owns nothing, so row-level security applies to it
in full, and it cannot change a table's definition or its policies. It may use the tenant
schemas' tables (not their migration records) and read the registry's tenants and revision.
``migrate`` creates it where it is missing and grants it this; creating a tenant grants it the
new schema.
"""

from sqlalchemy.engine import Connection

from ..tenancy.errors import ProvisioningError
from ..tenancy.models import SHARED_SCHEMA
from ..tenancy.servers import AppRole

READABLE_REGISTRY = ("tenants", "tenant_domains", "alembic_version")
# what every serving process shares (``quotas.shared``): called, never touched directly
CALLABLE_REGISTRY = (
    "take_request(bigint, double precision, double precision)",
    "serving_heartbeat(text, double precision)",
    "take_client_request(text, double precision, double precision)",
    "serving_heartbeat(text, double precision, text[])",
    "serving_goodbye(text)",
    "serving_heartbeat(text, double precision, text[], text)",
)


def ensure_app_role(connection: Connection, role: AppRole) -> None:
    """Create ``role`` (LOGIN, nothing else) unless it exists; refuse one that could bypass
    row-level security or that is the owner itself."""
    quote = connection.dialect.identifier_preparer.quote
    row = connection.exec_driver_sql(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role.name,)
    ).first()
    if row is None:
        connection.exec_driver_sql(
            f"CREATE ROLE {quote(role.name)} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
        )
    elif row.rolsuper or row.rolbypassrls:
        raise ProvisioningError(
            f"the serving role {role.name!r} is a superuser or bypasses row-level security:"
            " tenant requests must run as a role that does neither (tenantapp.app_role)"
        )
    if connection.exec_driver_sql("SELECT current_user").scalar() == role.name:
        raise ProvisioningError(
            f"the serving role {role.name!r} is the owner: migrations must run as another role"
        )
    if role.password is not None:
        statement = connection.exec_driver_sql(
            "SELECT format('ALTER ROLE %%I PASSWORD %%L', %s::text, %s::text)",
            (role.name, role.password),
        ).scalar()
        connection.exec_driver_sql(statement)
    registry = quote(SHARED_SCHEMA)
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {registry} TO {quote(role.name)}")
    for table in READABLE_REGISTRY:
        connection.exec_driver_sql(
            f"GRANT SELECT ON {registry}.{quote(table)} TO {quote(role.name)}"
        )
    for function in CALLABLE_REGISTRY:
        connection.exec_driver_sql(
            f"GRANT EXECUTE ON FUNCTION {registry}.{function} TO {quote(role.name)}"
        )


def grant_serving(connection: Connection, schema: str, role: str) -> None:
    """Let ``role`` use the tables of ``schema``; its migration record stays read-only."""
    quote = connection.dialect.identifier_preparer
    qschema, qrole = quote.quote_schema(schema), quote.quote(role)
    grants = (
        f"GRANT USAGE ON SCHEMA {qschema} TO {qrole};"  # noqa: S608 - quoted identifiers
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {qschema} TO {qrole};"
        f" GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {qschema} TO {qrole};"
        f" REVOKE INSERT, UPDATE, DELETE ON {qschema}.alembic_version FROM {qrole}"
    )
    connection.exec_driver_sql(grants)
