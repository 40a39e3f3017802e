"""Traversal resources for a tenant's users: a container of rows, and a leaf per row."""

from sqlalchemy.orm import Session

from .models import User

MAX_ID = 2**63 - 1


class Users:
    __name__ = "users"

    def __init__(self, parent, dbsession: Session):
        self.__parent__ = parent
        self.dbsession = dbsession

    def __getitem__(self, segment: str) -> "UserResource":
        if not segment.isascii() or not segment.isdigit() or not 0 < int(segment) <= MAX_ID:
            raise KeyError(segment)
        user = self.dbsession.get(User, int(segment))
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
