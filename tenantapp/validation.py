"""Turning a request body into a validated input model, or a 400 naming each bad field."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def field_errors(error: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        fields.setdefault(name, message)
    return fields


def validated_body(request, model: type[M]) -> M:
    try:
        data = request.json_body
    except ValueError:
        raise InvalidInput("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput("invalid fields", field_errors(error)) from None
