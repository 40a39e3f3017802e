"""Reading the ini's settings: each one coerced once, in its feature's ``includeme``, with its
default and its bounds; a bad value stops the app at start with an error naming the key, never
a bare ``ValueError`` from deep in a request."""

from collections.abc import Callable
from typing import TypeVar

from pyramid.exceptions import ConfigurationError
from pyramid.settings import truthy

T = TypeVar("T", int, float, bool, str)
FALSY = frozenset(("f", "false", "n", "no", "off", "0"))


def _bool(raw) -> bool:
    """Pyramid's words for true (``asbool``), and their opposites; anything else is refused,
    where ``asbool`` would read it as false."""
    word = str(raw).strip().lower()
    if word in truthy or word in FALSY:
        return word in truthy
    raise ValueError(word)


KINDS: dict[type, tuple[Callable[[object], object], str]] = {
    int: (int, "a whole number"),
    float: (float, "a number"),
    bool: (_bool, "true or false"),
    str: (str, "text"),
}


def setting(
    settings: dict,
    key: str,
    kind: type[T],
    default: T,
    minimum: float | None = None,
    maximum: float | None = None,
) -> T:
    """``settings[key]`` as ``kind`` (int, float, bool or str), ``default`` when unset or
    empty, within ``minimum``..``maximum`` when given."""
    raw = settings.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    convert, what = KINDS[kind]
    try:
        value = convert(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} = {raw!r}: must be {what}") from None
    if kind is float and value != value:  # NaN passes float() and every comparison
        raise ConfigurationError(f"{key} = {raw!r}: must be {what}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{key} = {raw!r}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{key} = {raw!r}: must be at most {maximum}")
    return value
