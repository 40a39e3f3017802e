"""What the users API accepts and returns."""

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
)
from sqlalchemy.orm import object_session

from ..identity.passwords import MAX_LENGTH, MIN_LENGTH
from ..pagination import Page
from ..validation import PlainText, Timestamp, lowercase_email
from . import custom
from .models import ROLES, User

Name = Annotated[PlainText, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[EmailStr, AfterValidator(lowercase_email)]
Password = Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(_Input):
    """New users are members; an owner promotes them through ``/role``."""

    email: Email
    name: Name
    password: Password | None = None
    custom: dict | None = None  # checked against the tenant's custom fields


class UserUpdate(_Input):
    """Fields left out stay as they are; null is not a value for either."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    email: Email = None
    name: Name = None
    custom: dict = None  # the fields named change; null removes one


class RoleChange(_Input):
    role: Literal[ROLES]


class PasswordChange(_Input):
    password: Password


class UserOut(BaseModel):
    """A user as every answer shows one (the users API, a login, an impersonation)."""

    id: int
    email: str
    name: str
    role: Literal[ROLES]
    custom: dict = Field(description="the tenant's custom fields' values")
    active: bool = Field(description="false: deactivated by its directory (SCIM)")
    created_at: Timestamp
    updated_at: Timestamp


class UserPage(Page[UserOut]):
    """``GET /{tenant}/users``."""


class InvitationQueued(BaseModel):
    user: int
    status: Literal["queued"]


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        custom=custom.opened(object_session(user), user.custom),
        active=user.active,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def user_json(user: User) -> dict:
    return user_out(user).model_dump()
