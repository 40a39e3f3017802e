"""Encryption at rest with per-tenant keys (envelope encryption).

Each tenant has a data key (AES-256-GCM, ``keys``), stored only wrapped by a key-encryption key
(``keyring``: named keys from the settings or the environment, never in the database). Marked
columns (``columns.Sealed``) and export archives are sealed with the tenant's data key;
``purge-tenant`` deletes the wrapped data key with the tenant's registry row, so what was
sealed with it cannot be read again (crypto-shredding).
"""
