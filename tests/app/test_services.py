"""Every service does what its interface declares (zope.interface's verifyObject): the
interfaces are the contracts features are written against, so they must not drift."""

import inspect

import pytest
from zope.interface import Interface
from zope.interface.verify import verifyObject

from tenantapp import interfaces
from tenantapp.interfaces import ITenancy, ITenantStorage, ITenantStore, service
from tenantapp.tenancy.models import MODES

DECLARED = [
    iface
    for _, iface in inspect.getmembers(interfaces)
    if isinstance(iface, type(Interface)) and iface is not Interface and list(iface.names())
]


def test_the_main_services_declare_their_methods():
    assert {ITenancy, ITenantStore, ITenantStorage} <= set(DECLARED)


@pytest.mark.parametrize("iface", DECLARED, ids=lambda iface: iface.__name__)
def test_each_service_provides_what_its_interface_declares(app, iface):
    if iface.isOrExtends(ITenantStore):  # one per mode, by name
        found = [service(app.registry, ITenantStore, name=mode) for mode in MODES]
        if iface is ITenantStorage:
            found = list(service(app.registry, ITenancy).stores.values())
    else:
        found = [service(app.registry, iface)]
    for obj in found:
        assert verifyObject(iface, obj)
