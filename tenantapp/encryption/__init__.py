"""Encryption at rest with per-tenant keys (envelope encryption).

Each tenant has a data key (AES-256-GCM, ``keys``), stored only wrapped by a key-encryption key
(``keyring``: named keys from the settings or the environment, never in the database). Marked
columns (``columns.Sealed``) and export archives are sealed with the tenant's data key;
``purge-tenant`` deletes the wrapped data key with the tenant's registry row, so what was
sealed with it cannot be read again (crypto-shredding).
"""


def includeme(config):
    """The tenants' data keys (``ITenantKeys``), and every tenant session sealing
    and opening the marked columns with its tenant's key."""
    from ..interfaces import (
        IServers,
        ITenantKeys,
        ITenantSessions,
        provide_factory,
        service,
        when_assembled,
    )
    from . import columns
    from .keyring import keyring_from
    from .keys import TenantKeys

    ring = keyring_from(config.get_settings())  # a bad key stops the app as it starts

    def keys(registry) -> TenantKeys:
        return TenantKeys(ring, service(registry, IServers).default.owner)

    provide_factory(config, keys, ITenantKeys)  # the lifecycle's too

    def seal(registry):
        sessions, tenant_keys = service(registry, ITenantSessions), service(registry, ITenantKeys)
        columns.install(sessions.factory)
        sessions.add_hook(
            lambda entry, tenant: {columns.SEALER_KEY: columns.Sealer(tenant_keys, entry.id)}
        )

    when_assembled(config, seal)
