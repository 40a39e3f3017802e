"""``/{tenant}/tokens``: where tokens are issued (POST) and revoked (DELETE)."""


class Tokens:
    __name__ = "tokens"

    def __init__(self, parent):
        self.__parent__ = parent
