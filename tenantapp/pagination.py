"""Keyset pagination over an id column: ``?limit=N&after=ID`` with a ``next`` link."""

from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import select

from .errors import InvalidInput
from .validation import query_params

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_ID = 2**63 - 1
_MAX_ID_DIGITS = len(str(MAX_ID))


def parse_id(text: str, low: int = 1, high: int = MAX_ID) -> int | None:
    """A whole number from ``low`` to ``high`` written in ASCII digits, else None. The length
    is checked first: Python refuses to convert more than 4,300 digits."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if low <= value <= high else None


def int_params(request, **bounds: tuple[int | None, int, int]) -> dict[str, int | None]:
    """Each query parameter ``name=(default, low, high)``; a 400 names every bad one."""
    params = query_params(request)
    values: dict[str, int | None] = {}
    problems: dict[str, str] = {}
    for name, (default, low, high) in bounds.items():
        raw = params.get(name)
        values[name] = default if raw is None else parse_id(raw, low, high)
        if values[name] is None and raw is not None:
            problems[name] = f"must be a whole number from {low} to {high}"
    if problems:
        names = ", ".join(repr(name) for name in problems)
        raise InvalidInput(f"invalid query parameter(s) {names}", problems)
    return values


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """A page of a list (``keyset_page``): its items, the limit asked, the next page's link."""

    items: list[Item]
    limit: int
    next: str | None


def keyset_rows(
    session, id_column, limit: int, after=None, newest_first=False, where=(), keep=None
):
    """One page of ``id_column``'s entity in id order (or newest first), filtered by ``where``,
    after the id ``after``; and the id the next page starts after (None on the last page). The
    API's lists and the console's pages read through this one reader. ``keep(row)``: a test
    SQL could not make (a policy), applied as rows come, reading on until the page is full."""
    key = id_column.key

    def stmt(cursor):
        query = select(id_column.class_).where(*where)
        if newest_first:
            query = query.where(id_column < cursor) if cursor is not None else query
            return query.order_by(id_column.desc())
        return query.where(id_column > (cursor or 0)).order_by(id_column)

    found, cursor = [], after
    while len(found) <= limit:
        rows = session.scalars(stmt(cursor).limit(limit + 1)).all()
        for row in rows:
            cursor = getattr(row, key)
            if keep is None or keep(row):
                found.append(row)
                if len(found) > limit:
                    break
        if len(rows) <= limit:
            break
    page = found[:limit]
    return page, (getattr(page[-1], key) if len(found) > limit else None)


def keyset_page(
    request,
    context,
    id_column,
    to_json,
    newest_first: bool = False,
    where=(),
    carry: dict | None = None,
    keep=None,
) -> dict:
    """The API's page of ``keyset_rows`` (``?limit``, ``?after``), whose ``next`` link keeps
    the query parameters ``carry`` names."""
    params = int_params(request, limit=(DEFAULT_LIMIT, 1, MAX_LIMIT), after=(None, 0, MAX_ID))
    limit = params["limit"]
    page, last = keyset_rows(
        request.dbsession, id_column, limit, params["after"], newest_first, where, keep
    )
    next_url = None
    if last is not None:
        next_url = request.link(context, query={**(carry or {}), "limit": limit, "after": last})
    return {"items": [to_json(row) for row in page], "limit": limit, "next": next_url}
