"""Keyset pagination over an id column: ``?limit=N&after=ID`` with a ``next`` link."""

from sqlalchemy import select

from .errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_ID = 2**63 - 1


def int_param(request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidInput(
            f"invalid query parameter {name!r}",
            {name: f"must be a whole number from {low} to {high}"},
        )
    return int(raw)


def keyset_page(request, context, id_column, to_json, newest_first: bool = False) -> dict:
    """One page of the rows of ``id_column``'s entity, in id order (or reversed)."""
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    after = int_param(request, "after", None, 0, MAX_ID)
    stmt = select(id_column.class_)
    if newest_first:
        if after is not None:
            stmt = stmt.where(id_column < after)
        stmt = stmt.order_by(id_column.desc())
    else:
        stmt = stmt.where(id_column > (after or 0)).order_by(id_column)
    rows = request.dbsession.scalars(stmt.limit(limit + 1)).all()
    page = rows[:limit]
    next_url = None
    if len(rows) > limit:
        last = getattr(page[-1], id_column.key)
        next_url = request.resource_url(context, query={"limit": limit, "after": last})
    return {"items": [to_json(row) for row in page], "limit": limit, "next": next_url}
