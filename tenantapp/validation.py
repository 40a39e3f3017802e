"""Turning a request body into a validated input model, or a clear 4xx naming what is wrong."""

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import BaseModel, PlainSerializer, StringConstraints, ValidationError

from .config import setting
from .errors import APIError, InvalidInput
from .interfaces import IBodyLimit, provide, service

M = TypeVar("M", bound=BaseModel)

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def no_control_characters(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# Text that goes to the database: PostgreSQL refuses NUL, and no name needs control characters.
# Patterns, not validators, so that constraints added around them (lengths, stripping) still
# apply; ``field_errors`` says what each pattern means.
PLAIN_PATTERN = r"^[^\x00-\x1f\x7f]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"
PlainText = Annotated[str, StringConstraints(pattern=PLAIN_PATTERN)]
# Free text (a reason, a note): lines and tabs are fine, NUL never is.
Text = Annotated[str, StringConstraints(pattern=NO_NUL_PATTERN)]
# An instant as the API answers it: ISO 8601 with its offset (``datetime.isoformat``).
Timestamp = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str)]
PATTERN_MEANS = {
    PLAIN_PATTERN: "must not contain control characters",
    NO_NUL_PATTERN: "must not contain NUL characters",
}
DEFAULT_MAX_BODY = 64 * 1024
MAX_EMAIL = 254


class UnsupportedMediaType(APIError):
    status = 415
    code = "unsupported_media_type"


class BodyTooLarge(APIError):
    status = 413
    code = "body_too_large"


def field_errors(error: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "value_error":  # ours: "Value error, " says nothing more
            message = message.removeprefix("Value error, ")
        elif item["type"] == "string_pattern_mismatch":
            message = PATTERN_MEANS.get(item.get("ctx", {}).get("pattern"), message)
        fields.setdefault(name, message)
    return fields


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int  # a larger JSON body is refused with 413


def _read_limited(request) -> bytes:
    limit = service(request.registry, IBodyLimit).max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"request body is larger than {limit} bytes")
    if request.is_body_seekable:  # a retried request reads its body again (pyramid_retry)
        request.body_file_raw.seek(0)
    raw = request.body_file.read(limit + 1)
    if len(raw) > limit:
        raise BodyTooLarge(f"request body is larger than {limit} bytes")
    return raw


def query_params(request):
    """``request.GET``, or a 400 when the query string is not UTF-8 (WebOb raises)."""
    try:
        return request.GET
    except UnicodeDecodeError:
        raise InvalidInput("the query string is not valid UTF-8") from None


def lowercase_email(value: str) -> str:
    """Emails are unique per tenant regardless of case. The length is checked after lowering:
    some characters grow (``İ`` becomes two), and the column holds 254."""
    value = value.lower()
    if len(value) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters")
    return value


def validated_body(request, model: type[M]) -> M:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    raw = _read_limited(request)
    try:
        data = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        raise InvalidInput("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return validated(model, data)


def _not_json(constant: str):
    """``NaN`` and ``Infinity`` are Python's, not JSON's."""
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    """A JSON number too large for a float (``1e999``) is refused, not made infinite."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def validated(model: type[M], data: dict, strict: bool | None = None) -> M:
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as error:
        raise InvalidInput("invalid fields", field_errors(error)) from None


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def form_fields(request) -> dict[str, str]:
    """A console form's fields, its CSRF token and blank ones left out, read within the body
    limit the JSON API has. Validate them with ``validated(model, fields, strict=False)``: the
    API's own input model, taking text for numbers and booleans as a form sends them."""
    if request.content_type and request.content_type not in FORM_TYPES:
        raise UnsupportedMediaType("send the form as application/x-www-form-urlencoded")
    _read_limited(request)
    try:
        posted = request.POST.items()
    except ValueError as error:  # a multipart body without its boundary, say
        raise InvalidInput(f"the form cannot be read: {error}") from None
    return {
        name: value
        for name, value in posted
        if isinstance(value, str) and name != "csrf_token" and value.strip() != ""
    }


def includeme(config):
    settings = config.get_settings()
    limit = setting(settings, "tenantapp.max_body_bytes", int, DEFAULT_MAX_BODY, minimum=1)
    provide(config, BodyLimit(limit), IBodyLimit)
