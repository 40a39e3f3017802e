"""``/{tenant}/files``: the tenant's files, and a leaf per file (``…/content``: its bytes)."""

from pyramid.authorization import Allow

from ..pagination import parse_id
from .models import StoredFile


class Files:
    __name__ = "files"

    def __acl__(self):
        # every role adds files (owners hold every permission already)
        return [(Allow, "role:member", "upload"), (Allow, "role:admin", "upload")]

    def __init__(self, parent, request):
        self.__parent__ = parent
        self.request = request

    def __getitem__(self, segment: str) -> "FileResource":
        file_id = parse_id(segment)
        found = None if file_id is None else self.request.dbsession.get(StoredFile, file_id)
        if found is None:  # another tenant's id is none of this tenant's rows: the same 404
            raise KeyError(segment)
        return FileResource(self, found)

    def child(self, stored: StoredFile) -> "FileResource":
        return FileResource(self, stored)


class FileResource:
    def __init__(self, parent: Files, stored: StoredFile):
        self.__parent__ = parent
        self.__name__ = str(stored.id)
        self.file = stored

    def __acl__(self):
        """Whoever uploaded a file may delete it; admins and owners any (inherited)."""
        if self.file.uploaded_by is None:
            return []
        return [(Allow, f"user:{self.file.uploaded_by}", "delete")]
