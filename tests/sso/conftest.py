"""A real DNS server on 127.0.0.1 that the tests fill (the custom domains' own fixture)."""

from tests.domains.test_domains import zone  # noqa: F401 - a fixture, found by name
