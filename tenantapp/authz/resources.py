"""``/{tenant}/authz``: ``policies`` (the owner's) and ``explain``."""


class Authz:
    __name__ = "authz"

    def __init__(self, tenant):
        self.__parent__ = tenant
        self.tenant = tenant
