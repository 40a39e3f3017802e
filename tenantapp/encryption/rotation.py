"""Key rotation, online: requests go on throughout.

* ``rewrap`` (``TenantKeys.rewrap``): every data key is wrapped again by the keyring's first
  key-encryption key; sealed values are untouched. Add a new key-encryption key at the front
  of the settings, restart (or roll) the processes, run ``rotate-keys``, then drop the old one.
* ``reseal``: every sealed value of a tenant not sealed with its newest data key (or written
  before its column was sealed) is sealed again with it, in small transactions, each row only
  if it is still what was read (a request that wrote it meanwhile has sealed it already).
"""

from sqlalchemy import select, update

from ..tenancy.models import TenantBase
from ..tenancy.sessions import tenant_session
from .columns import SEALER_KEY, SealedBytes, sealed_attributes
from .keyring import sealed_version

BATCH = 500


def sealed_tables() -> list[tuple]:
    """(table, primary key column, {column: associated data}) of each model with sealed
    columns."""
    found = []
    for mapper in TenantBase.registry.mappers:
        sealed = sealed_attributes(mapper.class_)
        if sealed:
            (pk,) = mapper.primary_key
            columns = {mapper.columns[name]: aad for name, aad in sealed.items()}
            found.append((mapper.local_table, pk, columns))
    return found


def reseal_tenant(registry, entry) -> int:
    """Seal ``entry``'s values again with its newest data key; how many were."""
    done = 0
    session = tenant_session(registry, entry)
    sealer = session.info[SEALER_KEY]
    newest, _ = sealer.keys.current(entry.id)
    try:
        for table, pk, columns in sealed_tables():
            after = None
            while True:
                with session.begin():
                    query = select(pk, *columns).order_by(pk).limit(BATCH)
                    if after is not None:
                        query = query.where(pk > after)
                    rows = session.execute(query).all()
                    for row in rows:
                        for column, aad in columns.items():
                            value = row._mapping[column]
                            if value is None or sealed_version(value) == newest:
                                continue
                            resealed = sealer.seal(sealer.open(value, aad), aad)
                            session.execute(
                                update(table)
                                .where(pk == row._mapping[pk], column == SealedBytes(value))
                                .values({column.name: resealed})
                            )
                            done += 1
                if len(rows) < BATCH:
                    break
                after = rows[-1]._mapping[pk]
    finally:
        session.close()
    return done
