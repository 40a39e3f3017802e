"""Marker interfaces for the two kinds of subtree under the root."""

from zope.interface import Interface


class ITenant(Interface):
    """A tenant: everything below it is served from that tenant's schema."""


class IPlatform(Interface):
    """The operator API under ``/-/``, which can never be a tenant slug."""
