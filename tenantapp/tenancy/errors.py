"""What the tenant lifecycle refuses, each with a message that says why."""


class ProvisioningError(Exception):
    """An operator request that cannot be carried out; the message says why."""


class TenantExists(ProvisioningError):
    pass


class UnknownTenant(ProvisioningError):
    pass


class SharedSchemaMissing(ProvisioningError):
    pass


class UnknownServer(ProvisioningError):
    pass
