"""Single sign-on per tenant: the tenant's own OpenID Connect or SAML 2.0 provider, the email
domains it has proven by DNS, logins that end with the same token (or console cookie) a
password gives, members made on their first login, and password logins turned off when SSO is
required."""

from ..interfaces import ILoginGates, ISignOnRoutes, service, when_assembled
from .console import SignInPage
from .logins import password_gate, route
from .resources import SingleSignOn


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_tenant_resource("sso", SingleSignOn)

    def wire(registry):
        service(registry, ILoginGates).append(password_gate)
        service(registry, ISignOnRoutes).append(route)

    when_assembled(config, wire)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
    config.add_api_views(".saml_views")
    config.include("tenantapp.console")
    config.add_console_page(SignInPage, "Sign-in", "configure", "tenantapp.sso:templates")
    config.scan(".console")
