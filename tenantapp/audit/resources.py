"""``/{tenant}/audit``: the tenant's audit log."""


class AuditLog:
    __name__ = "audit"

    def __init__(self, parent):
        self.__parent__ = parent
