"""What the users API accepts and returns."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from .models import User

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("email", mode="after", check_fields=False)
    @classmethod
    def _lowercase(cls, value: str) -> str:
        """Emails are unique per tenant regardless of case."""
        return value.lower()


class UserCreate(_Input):
    email: Annotated[EmailStr, Field(max_length=254)]
    name: Name


class UserUpdate(_Input):
    """Fields left out stay as they are; null is not a value for either."""

    email: Annotated[EmailStr, Field(max_length=254)] = None
    name: Name = None


def user_json(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "created_at": user.created_at.isoformat(),
        "updated_at": user.updated_at.isoformat(),
    }
