"""The tenant's directory groups as SCIM resources, and what they mean: a user's role is the
highest one the owner's SSO rules (``role_map``) give one of their groups, recomputed for every
user whose groups a change touched. Without rules (no provider, or an empty ``role_map``),
groups are kept and shown but change no one's role."""

from typing import Any

from scim2_models import (
    Group,
    GroupMember,
    InvalidValueException,
    Meta,
    MutabilityException,
    Resource,
    ScimFilter,
    SearchRequest,
)
from scim2_server.utils import parametrize
from sqlalchemy import delete, func, select

from .. import audit
from ..errors import APIError
from ..sso import providers
from ..sso.logins import role_of
from ..users.actions import change_role
from ..users.models import User
from .models import DirectoryGroup
from .models import GroupMember as Membership
from .rows import by_id, check_version, flushed, version


class TenantGroups:
    """The request's tenant's groups, in the request's session; ``actor`` as ``TenantUsers``."""

    def __init__(self, request, actor: str):
        self.request = request
        self.session = request.dbsession
        self.actor = actor

    def get(self, resource_id: str) -> Group:
        return self._resource(self._group(resource_id))

    def search(self, search_request: SearchRequest[Any]) -> list[Group]:
        groups = self.session.scalars(select(DirectoryGroup).order_by(DirectoryGroup.id))
        found = [self._resource(group) for group in groups]
        scim_filter = search_request.filter
        if scim_filter is not None:
            if not scim_filter.models:
                scim_filter = parametrize(ScimFilter, Group)(str(scim_filter))
            found = [resource for resource in found if scim_filter.match(resource)]
        return found

    def create(self, resource: Group) -> Group:
        group = DirectoryGroup()
        _apply(group, resource)
        self._flush(group)
        touched = self._set_members(group, resource)
        audit.record(
            self.request,
            "group.created",
            f"group:{group.id}",
            actor=self.actor,
            name=group.display_name,
        )
        self._regrade(touched)
        return self._resource(group)

    def update(self, resource: Group, expected_version: str | None) -> Group:
        group = self._group(resource.id)
        check_version(group, expected_version)
        _apply(group, resource)
        self._flush(group)
        touched = self._set_members(group, resource)
        audit.record(self.request, "group.updated", f"group:{group.id}", actor=self.actor)
        self._regrade(touched)
        return self._resource(group)

    def delete(self, resource_id: str, expected_version: str | None) -> None:
        group = self._group(resource_id)
        check_version(group, expected_version)
        touched = set(self._members(group.id))
        self.session.delete(group)
        self.session.flush()
        audit.record(self.request, "group.deleted", f"group:{group.id}", actor=self.actor)
        self._regrade(touched)

    # -- helpers ---------------------------------------------------------------------------

    def _group(self, resource_id: str | None) -> DirectoryGroup:
        return by_id(self.session, DirectoryGroup, resource_id, "Group")

    def _members(self, group_id: int) -> dict[int, str | None]:
        """Members that are still users (a deleted user's rows are inert: see ``t012``), with
        the name the directory gave each."""
        query = (
            select(Membership.user_id, Membership.display)
            .join(User, User.id == Membership.user_id)
            .where(Membership.group_id == group_id)
            .order_by(Membership.user_id)
        )
        return dict(self.session.execute(query).all())

    def _set_members(self, group: DirectoryGroup, resource: Group) -> set[int]:
        """Replace the members; the users whose groups changed."""
        wanted: dict[int, str | None] = {}
        for member in resource.members or ():
            if member.type not in (None, "User"):
                raise InvalidValueException(detail="members are users: groups do not nest here")
            value = member.value or ""
            user = None
            if value.isdigit() and len(value) < 19:
                user = self.session.get(User, int(value))
            if user is None:
                raise InvalidValueException(detail=f"no user {value!r} in this tenant")
            wanted[user.id] = (member.display or "")[:300] or None
        before = self._members(group.id)
        self.session.execute(delete(Membership).where(Membership.group_id == group.id))
        self.session.add_all(
            Membership(group_id=group.id, user_id=uid, display=display)
            for uid, display in wanted.items()
        )
        self.session.flush()
        return set(before) ^ set(wanted)

    def _regrade(self, user_ids: set[int]) -> None:
        """Each touched user's role from their groups, by the owner's rules (when there are)."""
        provider = providers.load(self.request.registry, self.request.tenant.record.id)
        if not user_ids or provider is None or not provider.role_map:
            return
        names = (
            select(Membership.user_id, DirectoryGroup.display_name)
            .join(DirectoryGroup, DirectoryGroup.id == Membership.group_id)
            .where(Membership.user_id.in_(user_ids))
        )
        groups: dict[int, list[str]] = {uid: [] for uid in user_ids}
        for uid, name in self.session.execute(names):
            groups[uid].append(name)
        for user in self.session.scalars(select(User).where(User.id.in_(user_ids))):
            try:
                change_role(
                    self.request,
                    user,
                    role_of(provider, groups[user.id]),
                    actor=self.actor,
                    via="scim-groups",
                )
            except APIError as error:  # the last owner stays one
                raise MutabilityException(detail=error.message) from None

    def _flush(self, group: DirectoryGroup) -> None:
        flushed(self.session, group, "displayName is taken")

    def _resource(self, group: DirectoryGroup) -> Group:
        members = self._members(group.id)
        resource = Group(
            id=str(group.id),
            display_name=group.display_name,
            external_id=group.external_id,
            members=[
                GroupMember(value=str(uid), ref=f"Users/{uid}", type="User", display=display)
                for uid, display in members.items()
            ]
            or None,
        )
        resource.meta = Meta(
            resource_type="Group",
            created=group.created_at,
            last_modified=group.updated_at,
            version=version(group),
        )
        return resource


def _apply(group: DirectoryGroup, resource: Resource[Any]) -> None:
    if not resource.display_name or not resource.display_name.strip():
        raise InvalidValueException(detail="displayName is required")
    group.display_name = resource.display_name.strip()[:300]
    group.external_id = resource.external_id
    group.updated_at = func.now()  # a change of members alone changes the version too


def forget_user(session, user_id: int) -> None:
    """A deleted user's memberships go with it."""
    session.execute(delete(Membership).where(Membership.user_id == user_id))
