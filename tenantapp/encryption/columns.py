"""Marked columns: ``mapped_column(Sealed(), ...)`` on a tenant model stores the value sealed
with the tenant's data key (``bytea``), and the model reads and writes it as text.

Sealing needs to know the tenant, which a column type never sees: so values are sealed by the
ORM, from the session (``database.tenant_session`` gives each tenant session its ``Sealer``):
before a flush, text set on a sealed attribute is sealed; after it, and whenever a row is
loaded, the attribute holds the text again. The type itself only lets sealed bytes reach the
database: text written any other way (Core, a session with no tenant) is refused, never stored
in the clear. A value written before its column was sealed (no seal mark) reads as it is and
is sealed on its next write. A sealed column cannot be searched or sorted in SQL.
"""

from sqlalchemy import LargeBinary, event, inspect
from sqlalchemy.orm import Session, attributes
from sqlalchemy.types import TypeDecorator

from ..tenancy.models import TenantBase
from .keyring import KeyUnavailable, seal, sealed_version, unseal
from .keys import TenantKeys

SEALER_KEY = "tenantapp.sealer"


class SealedBytes(bytes):
    """A value as the database holds it: sealed (or, from before sealing, plain UTF-8)."""


class Sealed(TypeDecorator):
    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, SealedBytes):
            return value
        raise TypeError(
            "a sealed column is written through a tenant's session, which seals it; "
            "refusing to store it in the clear"
        )

    def process_result_value(self, value, dialect):
        return None if value is None else SealedBytes(value)


def seal_text(aead, version: int, text: str, aad: bytes) -> SealedBytes:
    """Sealed outside a session, where the key is at hand (a new tenant's first owner)."""
    return SealedBytes(seal(aead, version, text.encode(), aad))


class Sealer:
    """One tenant's sealing, for one session; the key is fetched on first use only."""

    def __init__(self, keys: TenantKeys, tenant_id: int):
        self.keys = keys
        self.tenant_id = tenant_id

    def seal(self, text: str, aad: bytes) -> SealedBytes:
        return self.seal_bytes(text.encode(), aad)

    def open(self, value: bytes, aad: bytes) -> str:
        if sealed_version(value) is None:
            return value.decode()  # written before the column was sealed
        return self.open_bytes(value, aad).decode()

    def seal_bytes(self, data: bytes, aad: bytes) -> SealedBytes:
        """Bytes sealed with the tenant's newest data key (a file's key, for one)."""
        version, aead = self.keys.current(self.tenant_id)
        return SealedBytes(seal(aead, version, data, aad))

    def open_bytes(self, value: bytes, aad: bytes) -> bytes:
        return unseal(self.keys.key(self.tenant_id, sealed_version(value)), value, aad)


def sealed_attributes(cls) -> dict[str, bytes]:
    """``cls``'s sealed attributes, each with its associated data (``table.column``): a value
    opens only in the column it was sealed for."""
    found = getattr(cls, "__sealed__", None)
    if found is None or found[0] is not cls:
        mapper = inspect(cls)
        names = {
            prop.key: f"{mapper.local_table.name}.{prop.columns[0].name}".encode()
            for prop in mapper.column_attrs
            if isinstance(prop.columns[0].type, Sealed)
        }
        found = (cls, names)
        cls.__sealed__ = found
    return found[1]


def sealer_of(session: Session | None) -> Sealer:
    sealer = session.info.get(SEALER_KEY) if session is not None else None
    if sealer is None:
        raise KeyUnavailable("sealed values are read and written through a tenant's session")
    return sealer


def _open_loaded(instance, context, attrs=None) -> None:
    sealed = sealed_attributes(type(instance))
    if not sealed:
        return
    loaded = attributes.instance_state(instance).dict
    for name, aad in sealed.items():
        value = loaded.get(name)
        if isinstance(value, SealedBytes) and (attrs is None or name in attrs):
            # just loaded, so a committed value with no history: replaced as loading sets it
            loaded[name] = sealer_of(context.session).open(value, aad)


@event.listens_for(TenantBase, "load", propagate=True)
def _on_load(instance, context):
    _open_loaded(instance, context)


@event.listens_for(TenantBase, "refresh", propagate=True)
def _on_refresh(instance, context, attrs):
    _open_loaded(instance, context, attrs)


def install(session_factory) -> None:
    """Seal what a flush writes, and give the objects their text back after it."""

    @event.listens_for(session_factory, "before_flush")
    def _seal(session, flush_context, instances):
        written = []
        for instance in list(session.new) + list(session.dirty):
            sealed = sealed_attributes(type(instance))
            for name, aad in sealed.items():
                value = attributes.instance_state(instance).dict.get(name)
                changed = instance in session.new or attributes.get_history(instance, name).added
                if not isinstance(value, str) or not changed:
                    continue
                setattr(instance, name, sealer_of(session).seal(value, aad))
                written.append((instance, name, value))
        session.info.setdefault("tenantapp.sealed_in_flush", []).extend(written)

    @event.listens_for(session_factory, "after_flush_postexec")
    def _unseal(session, flush_context):
        for instance, name, text in session.info.pop("tenantapp.sealed_in_flush", []):
            attributes.set_committed_value(instance, name, text)
