"""``/{tenant}/scim``: ``tokens`` (the owner's) and ``v2/…`` (the SCIM service, whose paths
scim2-server routes: traversal stops at ``v2`` and hands it the rest as the subpath)."""


class Scim:
    __name__ = "scim"

    def __init__(self, tenant, request=None):
        self.__parent__ = tenant
        self.tenant = tenant

    def __getitem__(self, segment: str):
        if segment == "tokens":
            return ScimTokens(self)
        raise KeyError(segment)  # "v2": the view's name, the rest its subpath


class ScimTokens:
    __name__ = "tokens"

    def __init__(self, parent: Scim):
        self.__parent__ = parent
        self.tenant = parent.tenant

    def __getitem__(self, token_id: str) -> "ScimToken":
        return ScimToken(self, token_id)


class ScimToken:
    def __init__(self, parent: ScimTokens, token_id: str):
        self.__parent__ = parent
        self.__name__ = token_id
        self.tenant = parent.tenant
        self.token_id = token_id
