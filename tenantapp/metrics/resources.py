"""``/-/metrics``: the Prometheus exposition of this process (operator token)."""


class Metrics:
    __name__ = "metrics"

    def __init__(self, parent):
        self.__parent__ = parent


class Insight:
    """``/-/insight``: the tenants that take the most database time (operator token)."""

    __name__ = "insight"

    def __init__(self, parent):
        self.__parent__ = parent
