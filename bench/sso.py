"""How long a single sign-on takes, against local identity providers on 127.0.0.1, beside a
password login on the same app:

    python -m bench.sso [--logins N] [--database-url URL]

One tenant with a proven email domain, its provider an OpenID one (oidc-provider-mock in a
thread) and then a SAML one (pysaml2's IdP, ``tenantapp.sso.local_idp``); the app in-process
(WSGI, as bench.authz). A login is what a browser does: start at the tenant (the redirect),
the provider's step (authorize; for SAML, the signed Response), back at the tenant (the token).
The figures: median and 95th percentile of the whole, and of tenantapp's two steps alone (the
provider's own time left out), against a password login (argon2 included) as the yardstick.
"""

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import oidc_provider_mock
import webtest
from sqlalchemy import create_engine, text

from tenantapp import main
from tenantapp.sso.local_idp import SamlIdp
from tenantapp.throwaway import TEST_KEYS, stop_app

from .database import throwaway_database
from .dataset import make_tenants

HOST = {"HTTP_HOST": "localhost"}  # a loopback address: the SSO URLs are absolute from it
PASSWORD = "a long enough password 1"


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"  {name}: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms ({len(ms)})"


def oidc_login(client, slug: str, idp: str, n: int) -> tuple[float, float]:
    """(whole, tenantapp's part) of one OpenID login of a new or known user."""
    began = time.perf_counter()
    start = client.get(f"/{slug}/sso/oidc/login", status=303)
    ours = time.perf_counter() - began
    provider = time.perf_counter()
    back = urlsplit(httpx.post(start.location, data={"sub": f"u{n % 50}"}).headers["location"])
    provider = time.perf_counter() - provider
    finish = time.perf_counter()
    client.get(f"{back.path}?{back.query}", status=201)
    ours += time.perf_counter() - finish
    return ours + provider, ours


def saml_login(client, slug: str, idp: SamlIdp, n: int) -> tuple[float, float]:
    began = time.perf_counter()
    start = client.get(f"/{slug}/sso/saml/login", status=303)
    ours = time.perf_counter() - began
    provider = time.perf_counter()
    answer = idp.response(start.location, f"u{n % 50}")
    provider = time.perf_counter() - provider
    finish = time.perf_counter()
    client.post(f"/{slug}/sso/saml/acs", {"SAMLResponse": answer}, status=201)
    ours += time.perf_counter() - finish
    return ours + provider, ours


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the provider's request log
    with throwaway_database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(url)
        (target,) = make_tenants(engine, 1, 10)
        slug = target.prefix.strip("/")
        domain = f"{slug}.example"
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tenantapp.tenant_email_domains"
                    " (tenant_id, domain, token, verified_at)"
                    " SELECT id, :domain, 'bench', now() FROM tenantapp.tenants WHERE slug = :slug"
                ),
                {"domain": domain, "slug": slug},
            )
        engine.dispose()
        settings = {"sqlalchemy.url": url, "tenantapp.embedded_database": "false", **TEST_KEYS}
        app = main({}, **settings)
        client = webtest.TestApp(app, extra_environ=HOST)
        owner = {"Authorization": f"Bearer {target.token}"}
        email = f"pw@{domain}"
        client.post_json(
            f"/{slug}/users", {"email": email, "name": "Pat", "password": PASSWORD}, headers=owner
        )
        timings: dict[str, list] = {"password": [], "oidc": [], "oidc ours": [], "saml": []}
        timings["saml ours"] = []
        with oidc_provider_mock.run_server_in_thread() as server:
            issuer = f"http://localhost:{server.server_port}"
            body = {"issuer": issuer, "client_id": "bench", "client_secret": "s"}
            client.put_json(f"/{slug}/sso/oidc", body, headers=owner)
            for n in range(50):
                claims = {"email": f"u{n}@{domain}", "name": f"U {n}"}
                httpx.put(f"{issuer}/users/u{n}", json=claims).raise_for_status()
            for n in range(args.logins + 10):
                whole, ours = oidc_login(client, slug, issuer, n)
                if n >= 10:  # warm-up: discovery, keys, pools
                    timings["oidc"].append(whole)
                    timings["oidc ours"].append(ours)
        with SamlIdp(Path(tmp)) as idp:
            body = {"metadata": idp.metadata}
            client.put_json(f"/{slug}/sso/saml", body, headers=owner)
            idp.trust(client.get(f"/{slug}/sso/saml/metadata").text)
            for n in range(50):
                idp.users[f"u{n}"] = {"email": [f"u{n}@{domain}"]}
            for n in range(args.logins + 10):
                whole, ours = saml_login(client, slug, idp, n)
                if n >= 10:
                    timings["saml"].append(whole)
                    timings["saml ours"].append(ours)
        for _ in range(min(args.logins, 100)):
            began = time.perf_counter()
            client.post_json(f"/{slug}/tokens", {"email": email, "password": PASSWORD}, status=201)
            timings["password"].append(time.perf_counter() - began)
        stop_app(app)
    print("single sign-on, a whole login (tenantapp, the provider, tenantapp):")
    print(summary("OpenID Connect", timings["oidc"]))
    print(summary("SAML 2.0", timings["saml"]))
    print("tenantapp's own part (start and finish):")
    print(summary("OpenID Connect", timings["oidc ours"]))
    print(summary("SAML 2.0", timings["saml ours"]))
    print("the yardstick:")
    print(summary("a password login (argon2)", timings["password"]))


if __name__ == "__main__":
    main_()
