"""tenantapp: one Pyramid instance serving many tenants, each in its own PostgreSQL schema."""

from pyramid.config import Configurator


def main(global_config, **settings):
    """Assemble the WSGI application; each subsystem configures itself in its includeme."""
    with Configurator(settings=settings) as config:
        config.include(".database")
        config.include(".caching")
        config.include(".identity")
        config.include(".tenancy")
        config.include(".validation")
        config.include(".hardening")
        config.include(".resources")
        config.scan(".views")
        config.scan(".users.views")
        config.scan(".audit.views")
        config.scan(".platform.views")
        config.scan(".errors")
    return config.make_wsgi_app()
