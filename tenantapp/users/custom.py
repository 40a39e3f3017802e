"""Custom fields: a tenant's owner defines extra fields on its users; their values are
validated by a pydantic model built from the tenant's definitions, and stored in
``users.custom``.

A definition is a name, a type (``text``, ``integer``, ``number``, ``boolean``, ``date``,
``choice``, ``file``: the id of one of the tenant's files), whether it is required, and for
``choice`` its choices. Values are checked on
every write of a user's custom fields; a field made required later is required from the next
such write of each user. Removing a field removes its values.
"""

import base64
import json
import math
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    model_validator,
)
from sqlalchemy import Boolean, DateTime, String, Text, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..encryption.columns import sealer_of
from ..errors import InvalidInput
from ..pagination import MAX_ID, parse_id
from ..tenancy.models import TenantBase
from ..validation import PlainText, field_errors, no_control_characters, query_params
from .models import User

MAX_FIELDS = 50
FILTER_PREFIX = "custom."
SEALED_MARK = "\x01sealed:"  # a sealed value in users.custom
MAX_TEXT = 1000
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def field_name(value: str) -> str:
    if not FIELD_NAME.fullmatch(value):
        raise ValueError(
            "a name is a lowercase letter, then lowercase letters, digits or _ (63 at most)"
        )
    return value


FieldName = Annotated[str, AfterValidator(field_name)]


def iso_date(value: Any) -> Any:
    """JSON has no dates: one comes as ``YYYY-MM-DD``, nothing else."""
    if not isinstance(value, str):
        raise ValueError("a date is a string YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("a date is a string YYYY-MM-DD") from None


TYPES: dict[str, Any] = {
    "text": Annotated[PlainText, StringConstraints(max_length=MAX_TEXT)],
    "integer": Annotated[int, Field(ge=-MAX_ID - 1, le=MAX_ID)],  # what JSONB compares exactly
    "number": Annotated[float, Field(allow_inf_nan=False)],
    "boolean": bool,
    "date": Annotated[date, BeforeValidator(iso_date)],
    "file": Annotated[int, Field(ge=1, le=MAX_ID)],  # one of the tenant's files (checked)
}


class CustomField(TenantBase):
    __tablename__ = "custom_fields"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(Boolean, server_default="false")
    choices: Mapped[list | None] = mapped_column(JSONB)
    sealed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    indexed: Mapped[bool] = mapped_column(Boolean, server_default="false")  # ``custom_indexes``
    index_error: Mapped[str | None] = mapped_column(Text)  # the last build's, if it failed
    created_at: Mapped[Any] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FieldDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: FieldName
    type: Literal["text", "integer", "number", "boolean", "date", "choice", "file"]
    required: bool = False
    sealed: bool = False  # its values sealed with the tenant's key; not filterable
    indexed: bool = False  # filtering on it uses an index (``custom_indexes``)
    choices: list[Annotated[PlainText, StringConstraints(min_length=1, max_length=200)]] | None = (
        Field(default=None, min_length=1, max_length=100)
    )

    @model_validator(mode="after")
    def choices_go_with_choice(self):
        if (self.type == "choice") != (self.choices is not None):
            raise ValueError("choices are given for a choice field, and only for one")
        if self.type == "file" and self.sealed:  # its contents are; the id must stay readable
            raise ValueError("a file field is not sealed: the file's contents are, always")
        if self.sealed and self.indexed:
            raise ValueError("a sealed field is not indexed: it cannot be filtered on")
        return self


def field_json(field: CustomField) -> dict:
    return {
        "name": field.name,
        "type": field.type,
        "required": field.required,
        "choices": field.choices,
        "sealed": field.sealed,
        "indexed": field.indexed,
    }


def definitions(session: Session) -> list[CustomField]:
    return list(session.scalars(select(CustomField).order_by(CustomField.name)))


def values_model(fields: list[CustomField]) -> type[BaseModel]:
    """The model of a user's ``custom`` object for these definitions."""
    spec: dict[str, Any] = {}
    for field in fields:
        kind = Literal[tuple(field.choices)] if field.type == "choice" else TYPES[field.type]
        if field.required:
            spec[field.name] = (kind, ...)
        else:
            spec[field.name] = (kind | None, None)
    config = ConfigDict(extra="forbid", strict=True)
    return create_model("CustomValues", __config__=config, **spec)


def as_stored(values: BaseModel) -> dict:
    """What goes into ``users.custom``: JSON types (dates as ISO strings), nulls dropped."""
    return {k: v for k, v in values.model_dump(mode="json", exclude_unset=True).items()}


def _aad(name: str) -> bytes:
    return f"users.custom.{name}".encode()


def seal_values(session: Session, fields: list, values: dict) -> dict:
    """``values`` with those of sealed fields sealed (a marked string: no text a client sends
    starts with a control character)."""
    sealed = {field.name for field in fields if field.sealed}
    if not sealed & values.keys():
        return values
    sealer = sealer_of(session)
    return {
        name: (
            SEALED_MARK + base64.b64encode(sealer.seal(json.dumps(value), _aad(name))).decode()
            if name in sealed
            else value
        )
        for name, value in values.items()
    }


def opened(session: Session | None, stored: dict | None) -> dict:
    """A user's ``custom`` as the client sees it: sealed values opened."""
    stored = stored or {}
    marked = [n for n, v in stored.items() if isinstance(v, str) and v.startswith(SEALED_MARK)]
    if not marked:
        return dict(stored)
    sealer = sealer_of(session)
    values = dict(stored)
    for name in marked:
        sealed = base64.b64decode(stored[name].removeprefix(SEALED_MARK))
        values[name] = json.loads(sealer.open(sealed, _aad(name)))
    return values


def _problems(error: ValidationError) -> dict[str, str]:
    return {f"custom.{name}": problem for name, problem in field_errors(error).items()}


def checked_custom(request, given: dict | None, current: dict | None = None) -> dict:
    """The user's ``custom`` after a write: ``given`` checked against the tenant's fields
    (for an update, merged over ``current``, a null removing a value), required ones included.
    400 naming each bad field."""
    session = request.dbsession
    merged = {**opened(session, current), **(given or {})}
    merged = {name: value for name, value in merged.items() if value is not None}
    fields = definitions(session)
    try:
        values = values_model(fields).model_validate(merged)
    except ValidationError as error:
        raise InvalidInput("invalid custom fields", _problems(error)) from None
    _files_exist(session, fields, values)
    return seal_values(session, fields, as_stored(values))


def _files_exist(session: Session, fields: list[CustomField], values: BaseModel) -> None:
    """A ``file`` field names one of this tenant's files (another tenant's id is none)."""
    from ..files.models import StoredFile

    problems = {}
    for field in fields:
        file_id = getattr(values, field.name) if field.type == "file" else None
        if file_id is not None and session.get(StoredFile, file_id) is None:
            problems[f"custom.{field.name}"] = f"no file {file_id} in this tenant"
    if problems:
        raise InvalidInput("invalid custom fields", problems)


def file_references(session: Session, file_id: int) -> list[tuple[int, str]]:
    """The users (id, field) whose ``file`` fields name ``file_id``."""
    names = [field.name for field in definitions(session) if field.type == "file"]
    found = []
    for name in names:
        query = select(User.id).where(User.custom.contains({name: file_id}))
        found += [(user_id, name) for user_id in session.scalars(query)]
    return found


def custom_filters(request) -> tuple[list, dict]:
    """``custom.NAME=VALUE`` query parameters: JSONB containment conditions, and the parameters
    to keep in the next page's link. An unknown field or a value not of its type is a 400."""
    params = query_params(request)
    asked = {key: params[key] for key in params if key.startswith(FILTER_PREFIX)}
    if not asked:
        return [], {}
    fields = {field.name: field for field in definitions(request.dbsession)}
    where, problems = [], {}
    for key, raw in asked.items():
        field = fields.get(key.removeprefix(FILTER_PREFIX))
        if field is None:
            problems[key] = "no such custom field"
            continue
        if field.sealed:
            problems[key] = "a sealed field cannot be filtered on"
            continue
        try:
            value = _typed(field, raw)
        except ValueError as error:
            problems[key] = str(error)
            continue
        where.append(
            key_condition(field.name, value)
            if field.indexed
            else User.custom.contains({field.name: value})
        )
    if problems:
        raise InvalidInput("invalid custom field filter", problems)
    return where, asked


def key_condition(name: str, value: Any):
    """``custom.NAME = value`` as an indexed field's index reads it (``custom_indexes``): both
    sides keyed by the function it is built on. A field name is ``[a-z][a-z0-9_]*``: safe as
    the literal the index's expression has."""
    key = literal_column(f"'{name}'", Text)
    return func.custom_value_key(User.custom, key) == func.custom_value_key(
        literal({name: value}, JSONB), key
    )


def _typed(field: CustomField, raw: str) -> Any:
    """A query string's text as the field's JSON value."""
    if field.type in ("text", "date"):
        if field.type == "date":
            iso_date(raw)
        return no_control_characters(raw)  # no stored text has them: no filter needs them
    if field.type == "choice":
        if raw not in field.choices:
            raise ValueError(f"must be one of {', '.join(field.choices)}")
        return raw
    if field.type == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw == "true"
    if field.type in ("integer", "file"):
        value = parse_id(raw.removeprefix("-"), 0)
        if value is None:
            raise ValueError(f"must be an integer from {-MAX_ID - 1} to {MAX_ID}")
        return -value if raw.startswith("-") else value
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value
