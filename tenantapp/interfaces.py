"""Marker interfaces for subtrees under the root that the security policy must recognise."""

from zope.interface import Interface


class IPlatform(Interface):
    """The operator API under ``/-/``, which can never be a tenant slug."""
