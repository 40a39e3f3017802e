"""``/{tenant}/audit``: the tenant's audit log."""


class AuditLog:
    __name__ = "audit"

    def __init__(self, parent, dbsession):
        self.__parent__ = parent
        self.dbsession = dbsession
