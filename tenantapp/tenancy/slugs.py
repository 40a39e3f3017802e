"""Tenant slugs: the public first URL segment. Validated before any SQL sees them."""

import re

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}")
SLUG_RULE = "1-63 characters: lowercase letters, digits and hyphens, starting with a letter"


class InvalidSlug(ValueError):
    """A slug that breaks SLUG_RULE."""


def is_valid_slug(value: object) -> bool:
    return isinstance(value, str) and SLUG_PATTERN.fullmatch(value) is not None


def check_slug(value: object) -> str:
    if not is_valid_slug(value):
        raise InvalidSlug(f"invalid tenant slug {value!r}: {SLUG_RULE}")
    return value
