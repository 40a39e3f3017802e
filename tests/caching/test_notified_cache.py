"""NotifiedCache: bounded, only filled while trusted, never keeps an answer older than a forget."""

from tenantapp.caching import NotifiedCache


def trusted_cache(capacity: int = 3, group=None) -> NotifiedCache:
    cache = NotifiedCache("test_channel", capacity, group)
    cache.extend_trust(3600)
    return cache


def test_answers_from_memory_once_loaded():
    cache = trusted_cache()
    loads = []
    for _ in range(3):
        assert cache.lookup("a", lambda key: loads.append(key) or "A") == "A"
    assert loads == ["a"]
    assert cache.stats() | {"trusted": None} == {
        "size": 1,
        "capacity": 3,
        "hits": 2,
        "misses": 1,
        "trusted": None,
    }


def test_keeps_nothing_while_the_listener_is_not_connected():
    cache = NotifiedCache("test_channel", 3)
    cache.lookup("a", lambda key: "A")
    assert cache.stats()["size"] == 0
    cache.extend_trust(3600)
    cache.lookup("a", lambda key: "A")
    cache.distrust()  # a lost connection may have lost notifications too
    assert cache.stats()["size"] == 0


def test_trust_lapses_when_the_listener_stops_vouching():
    """A listener stuck on a silent server never says so: its last word expires by itself."""
    now = [100.0]
    cache = NotifiedCache("test_channel", 3, clock=lambda: now[0])
    cache.extend_trust(2.0)
    cache.lookup("a", lambda key: "A")
    now[0] += 1.9
    assert cache.lookup("a", lambda key: "reloaded") == "A"
    now[0] += 0.2  # 2.1 s after the last heartbeat heard
    assert cache.stats() | {"hits": 0, "misses": 0} == {
        "size": 0,
        "capacity": 3,
        "hits": 0,
        "misses": 0,
        "trusted": False,
    }
    assert cache.lookup("a", lambda key: "fresh") == "fresh"
    assert cache.lookup("a", lambda key: "fresh again") == "fresh again"  # nothing kept
    cache.extend_trust(2.0)
    cache.lookup("a", lambda key: "B")
    assert cache.lookup("a", lambda key: "never asked") == "B"


def test_a_load_that_raced_a_change_is_not_kept():
    cache = trusted_cache()

    def load_then_change(key):
        value = "stale"  # read from the database before the change committed
        cache.forget(key)  # the change's notification arrives while the load is in flight
        return value

    assert cache.lookup("a", load_then_change) == "stale"
    assert cache.lookup("a", lambda key: "fresh") == "fresh"
    assert cache.lookup("a", lambda key: "never asked") == "fresh"


def test_is_bounded_and_evicts_the_least_recently_used():
    cache = trusted_cache(capacity=2)
    cache.lookup("a", lambda key: "A")
    cache.lookup("b", lambda key: "B")
    cache.lookup("a", lambda key: "A")  # a is now the most recent
    cache.lookup("c", lambda key: "C")
    assert cache.stats()["size"] == 2
    assert cache.lookup("a", lambda key: "reloaded") == "A"
    assert cache.lookup("b", lambda key: "reloaded") == "reloaded"


def test_forgets_every_key_of_a_group_and_nothing_else():
    cache = trusted_cache(capacity=10, group=lambda key: key[0])
    for key in (("s1", 1), ("s1", 2), ("s2", 1)):
        cache.lookup(key, lambda key: key)
    cache.forget("s1")
    assert cache.lookup(("s1", 1), lambda key: "reloaded") == "reloaded"
    assert cache.lookup(("s2", 1), lambda key: "reloaded") == ("s2", 1)
    cache.forget("*")  # what a TRUNCATE sends
    assert cache.stats()["size"] == 0
