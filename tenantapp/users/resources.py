"""Traversal resources for a tenant's users: a container of rows, and a leaf per row."""

from pyramid.authorization import ALL_PERMISSIONS, Allow, Deny, Everyone

from ..pagination import parse_id
from .models import User


class Users:
    __name__ = "users"

    def __init__(self, parent, request):
        self.__parent__ = parent
        self.request = request

    def __getitem__(self, segment: str) -> "UserResource":
        user_id = parse_id(segment)
        user = None if user_id is None else self.request.dbsession.get(User, user_id)
        if user is None:
            raise KeyError(segment)
        return UserResource(self, user)

    def child(self, user: User) -> "UserResource":
        return UserResource(self, user)


class UserResource:
    """A leaf: one user row, located under its tenant's ``users`` container."""

    def __init__(self, parent: Users, user: User):
        self.__parent__ = parent
        self.__name__ = str(user.id)
        self.user = user

    def __acl__(self):
        """Users may set their own password and take their data; only owners may change
        owners and admins.
        Everything else is inherited from the tenant."""
        acl = [(Allow, f"user:{self.user.id}", ("set-password", "personal-data"))]
        if self.user.role != "member":
            acl += [
                (Allow, "role:owner", ALL_PERMISSIONS),
                (Deny, Everyone, ("update", "delete", "set-password", "set-role")),
            ]
        return acl


class CustomFields:
    """``/{tenant}/fields``: the custom fields its users have (``users.custom``)."""

    __name__ = "fields"

    def __init__(self, parent, request):
        self.__parent__ = parent
        self.request = request

    def __getitem__(self, name: str) -> "CustomFieldResource":
        from .custom import FIELD_NAME, CustomField

        if not FIELD_NAME.fullmatch(name):  # never a field's: not asked of the database
            raise KeyError(name)
        field = self.request.dbsession.get(CustomField, name)
        if field is None:
            raise KeyError(name)
        return CustomFieldResource(self, field)


class CustomFieldResource:
    def __init__(self, parent: CustomFields, field):
        self.__parent__ = parent
        self.__name__ = field.name
        self.field = field
