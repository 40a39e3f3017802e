"""``/-/metrics``: the Prometheus exposition of this process (operator token)."""


class Metrics:
    __name__ = "metrics"

    def __init__(self, parent):
        self.__parent__ = parent
