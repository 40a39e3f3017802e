"""The threads beside a file's work: errors reach the request's thread, and a download the
client gave up on stops its producer."""

import itertools
import threading

import pytest

from tenantapp.files.overlap import BATCH, Ahead, Beside


def test_what_beside_consumes_arrives_whole_in_order_and_its_error_is_raised():
    got = []
    beside = Beside(got.extend, "test")
    pieces = [bytes([n % 256]) * 70_000 for n in range(40)]  # a few batches and a rest
    for piece in pieces:
        beside.put(piece)
    beside.close()
    assert got == pieces

    def fail(batch):
        raise OSError(28, "No space left on device")

    failing = Beside(fail, "test")
    with pytest.raises(OSError, match="No space"):
        for piece in itertools.repeat(b"x" * 65536, 10_000):  # stops early, at the next put
            failing.put(piece)
        failing.close()
    with pytest.raises(OSError):
        failing.close()  # closed: still says what went wrong


def test_ahead_yields_everything_and_raises_where_the_error_was_reached():
    pieces = [bytes([n]) * 100_000 for n in range(30)]
    assert list(Ahead(iter(pieces), "test")) == pieces

    def damaged():
        yield b"a" * BATCH
        raise ValueError("chunk 17 does not open")

    reached = []
    with pytest.raises(ValueError, match="chunk 17"):
        for piece in Ahead(damaged(), "test"):
            reached.append(piece)
    assert reached == [b"a" * BATCH]


def test_closing_ahead_stops_a_producer_that_would_go_on_for_ever():
    closed = threading.Event()

    def endless():
        try:
            while True:
                yield b"z" * 65536
        finally:
            closed.set()

    ahead = Ahead(endless(), "test")
    pieces = iter(ahead)
    assert next(pieces) == b"z" * 65536
    pieces.close()  # what a WSGI server does when the client goes away
    assert closed.is_set()
    assert not ahead._thread.is_alive()
