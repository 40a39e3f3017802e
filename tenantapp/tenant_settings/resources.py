"""``/{tenant}/settings``: the tenant's settings and flags, as its members see them."""


class TenantSettings:
    __name__ = "settings"

    def __init__(self, parent):
        self.__parent__ = parent
        self.tenant = parent
