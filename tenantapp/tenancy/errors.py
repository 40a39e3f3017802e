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


class ResidencyError(ProvisioningError):
    """A placement that would put a region-pinned tenant's data in another region."""
