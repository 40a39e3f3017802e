"""The tenant's users (and groups: ``groups``) as SCIM resources (a ``ScimStorage`` of
scim2-server, its documented extension point): scim2-server speaks the protocol (routes,
filters, PATCH, ETags, errors), this reads and writes the users table of the request's tenant,
in the request's own session.

A user keeps the SCIM document its directory last sent, sealed with the tenant's key (names,
phones and addresses are personal data), beside what tenantapp itself uses: the email (the
primary one, else the userName when it is an address), the name, ``active``, ``userName`` and
``externalId``. A search by ``userName``, ``externalId`` or an email ``eq`` a value is one
indexed query; any other filter is evaluated by scim2-models over the tenant's users.
"""

import hashlib
import json
from typing import Any

from email_validator import EmailNotValidError, validate_email
from scim2_models import (
    InvalidValueException,
    Meta,
    MutabilityException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    SearchRequest,
    User,
)
from scim2_models.path import CompareOperator, Comparison
from scim2_server.storage import ScimStorage, SearchPage
from scim2_server.utils import parametrize
from sqlalchemy import select

from .. import audit
from ..errors import APIError
from ..identity import mfa
from ..identity.tokens import revoke_user_tokens
from ..users.actions import keep_an_owner, within_max_users
from ..users.models import User as TenantUser
from .groups import TenantGroups
from .groups import forget_user as forget_memberships
from .rows import by_id, check_version, flushed, version

NO_EMAIL = "scim.invalid"
INDEXED = {"username": "user_name", "externalid": "external_id", "emails.value": "email"}


def _is_group(resource_type: ResourceType) -> bool:
    return resource_type.id == "Group"


class TenantUsers(ScimStorage):
    """The request's tenant's users, and its groups (``groups.TenantGroups``); ``actor`` names
    the SCIM token in the audit log."""

    def __init__(self, request, actor: str):
        self.request = request
        self.session = request.dbsession
        self.actor = actor
        self.groups = TenantGroups(request, actor)

    # -- reading ---------------------------------------------------------------------------

    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if _is_group(resource_type):
            return self.groups.get(resource_id)
        return resource_of(self._user(resource_id))

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        found: list[Resource[Any]] = []
        for resource_type in resource_types:  # several: a search at the service's root
            if _is_group(resource_type):
                found += self.groups.search(search_request)
            else:
                found += self._users(search_request)
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        return SearchPage(len(found), found[start:stop])

    def _users(self, search_request: SearchRequest[Any]) -> list[User]:
        scim_filter = search_request.filter
        query = select(TenantUser).order_by(TenantUser.id)
        indexed = _indexed(scim_filter)
        if indexed is not None:
            column, value = indexed
            query = query.where(getattr(TenantUser, column) == value)
        found = [resource_of(user) for user in self.session.scalars(query)]
        if scim_filter is not None and indexed is None:
            if not scim_filter.models:
                scim_filter = parametrize(ScimFilter, User)(str(scim_filter))
            found = [resource for resource in found if scim_filter.match(resource)]
        return found

    # -- writing ---------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        if _is_group(resource_type):
            return self.groups.create(resource)
        within_max_users(self.request)
        user = TenantUser(role="member")
        _apply(user, resource)
        self._flush(user)
        audit.record(
            self.request, "user.created", f"user:{user.id}", actor=self.actor, email=user.email
        )
        return resource_of(user)

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        if _is_group(resource_type):
            return self.groups.update(resource, expected_version)
        user = self._user(resource.id)
        check_version(user, expected_version)
        was_active = user.active
        _apply(user, resource)
        if was_active and not user.active:
            self._deactivate(user)
        self._flush(user)
        audit.record(self.request, "user.updated", f"user:{user.id}", actor=self.actor, via="scim")
        return resource_of(user)

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        if _is_group(resource_type):
            return self.groups.delete(resource_id, expected_version)
        user = self._user(resource_id)
        check_version(user, expected_version)
        try:
            keep_an_owner(self.request, user)
        except APIError as error:
            raise MutabilityException(detail=error.message) from None
        mfa.forget_user(self.session, user.id)
        forget_memberships(self.session, user.id)
        self.session.delete(user)
        self.session.flush()  # its tokens go with it (the caches hear of it)
        audit.record(self.request, "user.deleted", f"user:{user.id}", actor=self.actor, via="scim")

    # -- helpers ---------------------------------------------------------------------------

    def _user(self, resource_id: str | None) -> TenantUser:
        return by_id(self.session, TenantUser, resource_id, "User")

    def _deactivate(self, user: TenantUser) -> None:
        """No longer able to act: the last owner cannot be deactivated, and every token of the
        user (console sessions included) is revoked at once."""
        if user.role == "owner":
            try:
                keep_an_owner(self.request, user)
            except APIError as error:
                raise MutabilityException(detail=error.message) from None
        revoke_user_tokens(self.session, user.id)
        audit.record(self.request, "user.deactivated", f"user:{user.id}", actor=self.actor)

    def _flush(self, user: TenantUser) -> None:
        flushed(self.session, user, "userName or email is taken")


def _indexed(scim_filter) -> tuple[str, str] | None:
    """``(column, value)`` when the filter is one equality on an indexed attribute."""
    if scim_filter is None:
        return None
    expression = getattr(scim_filter, "expression", None)
    if not isinstance(expression, Comparison) or expression.operator != CompareOperator.eq:
        return None
    column = INDEXED.get(str(expression.path).lower().split(":")[-1])
    if column is None or not isinstance(expression.value, str):
        return None
    value = expression.value.lower() if column == "email" else expression.value
    return column, value


def _email_of(resource: User) -> str:
    """The primary email, else any, else the userName when it is an address; without one, an
    address under ``.invalid`` (RFC 2606: it can receive nothing, and no tenant can prove the
    domain, so no one logs in as it) until the directory sends a real one."""
    emails = resource.emails or []
    primary = next((e.value for e in emails if e.primary), None)
    candidates = [primary, *(e.value for e in emails), resource.user_name]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return validate_email(candidate, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            continue
    return f"{hashlib.sha256(resource.user_name.encode()).hexdigest()[:32]}@{NO_EMAIL}"


def _name_of(resource: User) -> str:
    name = resource.name
    for candidate in (
        resource.display_name,
        name.formatted if name else None,
        " ".join(p for p in (name.given_name, name.family_name) if p) if name else None,
        resource.user_name,
    ):
        if candidate and candidate.strip():
            return candidate.strip()[:200]
    return "—"


def _apply(user: TenantUser, resource: User) -> None:
    document = resource.model_dump(exclude={"meta", "id", "password"})
    if not resource.user_name:
        raise InvalidValueException(detail="userName is required")
    user.user_name = resource.user_name
    user.external_id = resource.external_id
    user.email = _email_of(resource)
    user.name = _name_of(resource)
    user.active = resource.active is not False
    user.scim = json.dumps(document, default=str)


def resource_of(user: TenantUser) -> User:
    """The user as SCIM shows it: its document, with what tenantapp keeps authoritative."""
    if user.scim:
        document = json.loads(user.scim)
    else:  # a user made by the API or the console
        document = {
            "userName": user.email,
            "displayName": user.name,
            "emails": [{"value": user.email, "primary": True}],
        }
    document.update(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": str(user.id),
            "userName": user.user_name or document.get("userName") or user.email,
        }
    )
    if not user.active or "active" in document:  # the column decides; left out if never sent
        document["active"] = user.active
    if user.external_id is not None:
        document["externalId"] = user.external_id
    resource = User.model_validate(document)
    resource.meta = Meta(
        resource_type="User",
        created=user.created_at,
        last_modified=user.updated_at,
        version=version(user),
    )
    return resource
