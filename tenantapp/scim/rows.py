"""What the SCIM storage does alike for users and groups: a row by the id SCIM names, its
version (ETag) and the check of an expected one, a write whose unique values the database
checks in a savepoint."""

from scim2_models import NotFoundException, PreconditionFailedException, UniquenessException
from sqlalchemy.exc import IntegrityError


def by_id(session, model, resource_id: str | None, kind: str):
    """The row, or SCIM's 404 (an id that is no number is no row)."""
    row = None
    if resource_id and resource_id.isdigit() and len(resource_id) < 19:
        row = session.get(model, int(resource_id))
    if row is None:
        raise NotFoundException(detail=f"{kind} {resource_id!r} not found")
    return row


def version(row) -> str:
    return f'W/"{row.updated_at.timestamp():.6f}"'


def check_version(row, expected: str | None) -> None:
    if expected is not None and version(row) != expected:
        raise PreconditionFailedException


def flushed(session, row, taken: str) -> None:
    """``row`` written; a unique value already taken is SCIM's 409, the savepoint rolled back."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise UniquenessException(detail=taken) from None
    session.refresh(row)
