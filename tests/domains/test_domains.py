"""Reaching a tenant by host: ``<slug>.<base domain>`` and custom domains proven by a DNS TXT
record, asked of a real DNS server (dnslib's, on 127.0.0.1) that the test fills."""

import configparser
import json
import socket
import threading
from pathlib import Path

import pytest
import webtest
from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from tenantapp import main
from tenantapp.interfaces import ICacheListener, IServers, service
from tenantapp.server import create_api_server
from tests.conftest import OPERATOR_TOKEN

BASE = "example.test"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


class Zone(BaseResolver):
    """TXT records by name; every other question is NXDOMAIN."""

    def __init__(self):
        self.txt: dict[str, list[str]] = {}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if request.q.qtype == QTYPE.TXT and name in self.txt:
            for value in self.txt[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def zone():
    records = Zone()
    server = DNSServer(records, address="127.0.0.1", port=0)
    server.start_thread()
    records.port = server.server.server_address[1]
    yield records
    server.stop()


@pytest.fixture(scope="module")
def hosted(app, settings, zone):
    """The app with host identification on, as ``tenantapp.base_domain`` and
    ``tenantapp.custom_domains`` turn it on."""
    hosted_app = main(
        {},
        **settings,
        **{
            "tenantapp.base_domain": BASE,
            "tenantapp.custom_domains": "true",
            "tenantapp.dns_resolver": f"127.0.0.1:{zone.port}",
        },
    )
    yield hosted_app
    service(hosted_app.registry, ICacheListener).stop()
    service(hosted_app.registry, IServers).dispose()


@pytest.fixture
def client(hosted):
    return webtest.TestApp(hosted, extra_environ={"HTTP_HOST": "api.example.com"})


def on(host: str) -> dict:
    return {"HTTP_HOST": host}


def test_a_tenant_is_reached_by_its_subdomain_and_its_links_stay_there(client, tenant):
    host = f"{tenant.slug}.{BASE}"
    home = client.get("/", headers=tenant.auth, extra_environ=on(host), status=200).json
    assert home["slug"] == tenant.slug
    assert home["links"]["users"] == f"http://{host}/users"
    made = client.post_json(
        "/users",
        {"email": "sub@d.example", "name": "Sub"},
        headers=tenant.auth,
        extra_environ=on(host),
        status=201,
    )
    assert made.headers["Location"] == f"http://{host}/users/{made.json['id']}"
    page = client.get("/users?limit=1", headers=tenant.auth, extra_environ=on(host)).json
    assert page["next"].startswith(f"http://{host}/users?")
    # the path form still works, with path links
    assert client.get(f"/{tenant.slug}", headers=tenant.auth).json["links"]["users"] == (
        f"/{tenant.slug}/users"
    )


def test_a_tenant_host_serves_that_tenant_only(client, tenant, other_tenant):
    """Another tenant's path, or the operator API, on a tenant's host is that tenant's (missing)
    path: 404 for its members, 401 for anyone else, as inside any tenant."""
    host = on(f"{tenant.slug}.{BASE}")
    path = f"/{other_tenant.slug}/users"
    client.get(path, headers=tenant.auth, extra_environ=host, status=404)
    client.get(path, headers=other_tenant.auth, extra_environ=host, status=401)
    client.get("/users", headers=other_tenant.auth, extra_environ=host, status=401)
    client.get("/-/tenants", headers=tenant.auth, extra_environ=host, status=404)
    client.get("/-/tenants", headers=OPERATOR, extra_environ=host, status=401)
    client.get("/users", headers=tenant.auth, extra_environ=on(f"nobody-here.{BASE}"), status=404)


def test_a_client_cannot_choose_the_virtual_root(client, tenant):
    client.get("/users", headers={**tenant.auth, "X-Vhm-Root": f"/{tenant.slug}"}, status=404)


def test_a_custom_domain_serves_once_its_txt_record_is_found(client, zone, tenant):
    domain = f"shop-{tenant.id}.acme.example"
    url = f"/-/tenants/{tenant.slug}/domains"
    claimed = client.post_json(url, {"domain": domain}, headers=OPERATOR, status=201).json
    challenge = claimed["challenge"]
    assert claimed["verified"] is False
    assert challenge["name"] == f"_tenantapp-challenge.{domain}"
    assert client.post_json(url, {"domain": domain}, headers=OPERATOR).json == claimed  # again

    client.get("/users", headers=tenant.auth, extra_environ=on(domain), status=404)
    client.get(f"/-/domain-check?domain={domain}", status=404)
    refused = client.post(f"{url}/{domain}/verify", headers=OPERATOR, status=409).json
    assert refused["error"] == "not_verified" and challenge["value"] in refused["message"]

    zone.txt[challenge["name"]] = ["something else", challenge["value"]]
    verified = client.post(f"{url}/{domain}/verify", headers=OPERATOR, status=200).json
    assert verified["verified"] is True
    assert client.get(url, headers=OPERATOR).json["items"] == [verified]
    home = client.get("/", headers=tenant.auth, extra_environ=on(domain), status=200).json
    assert home["links"]["users"] == f"http://{domain}/users"
    assert client.get(f"/-/domain-check?domain={domain}").json == {
        "domain": domain,
        "tenant": tenant.slug,
    }

    client.delete(f"{url}/{domain}", headers=OPERATOR, status=204)
    client.get("/users", headers=tenant.auth, extra_environ=on(domain), status=404)
    client.get(f"/-/domain-check?domain={domain}", status=404)


def test_a_domain_is_one_tenants_and_must_be_a_domain(client, tenant, other_tenant):
    domain = f"taken-{tenant.id}.example.org"
    client.post_json(
        f"/-/tenants/{tenant.slug}/domains", {"domain": domain}, headers=OPERATOR, status=201
    )
    taken = client.post_json(
        f"/-/tenants/{other_tenant.slug}/domains", {"domain": domain}, headers=OPERATOR, status=409
    )
    assert taken.json["fields"] == {"domain": "taken"}
    bad_ones = ("not a domain", "localhost", f"x.{BASE}", "a..b.com", "-a.com", "x" * 300)
    addresses = ("127.0.0.1", "10.0.0.1", "[::1]", "::1", "1.2.3")
    for bad in bad_ones + addresses:
        response = client.post_json(
            f"/-/tenants/{tenant.slug}/domains", {"domain": bad}, headers=OPERATOR, status=400
        )
        assert "domain" in response.json["fields"]
    client.post(f"/-/tenants/{tenant.slug}/domains/{domain}x/verify", headers=OPERATOR, status=404)


def test_the_check_a_tls_proxy_asks(client, tenant):
    client.get(f"/-/domain-check?domain={tenant.slug}.{BASE}", status=200)
    for unknown in (f"nobody-here.{BASE}", BASE, "example.org", "", "%00", "[::1]"):
        response = client.get(f"/-/domain-check?domain={unknown}", status=404)
        assert response.json["error"] == "not_found"


def test_without_host_identification_hosts_mean_nothing(testapp, tenant):
    testapp.get(
        "/users", headers=tenant.auth, extra_environ=on(f"{tenant.slug}.{BASE}"), status=404
    )
    testapp.get(f"/-/tenants/{tenant.slug}/domains", headers=OPERATOR, status=404)


def live_exchange(app, raw: bytes, **server_settings) -> tuple[bytes, bytes]:
    """``raw`` sent to a live server of ``app`` on 127.0.0.1: the answer's head and body."""
    server = create_api_server(app, listen="127.0.0.1:0", threads=2, **server_settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.effective_port), timeout=10) as sock:
            sock.sendall(raw)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
    finally:
        server.close()
        thread.join(timeout=10)
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


def test_an_absolute_form_target_names_the_host_whatever_host_says(hosted, tenant):
    """RFC 9112 §3.2.2: ``GET http://acme.example.test/users`` is acme's, even sent with
    another ``Host``; a live server, as waitress parses the request line."""
    request = (
        f"GET http://{tenant.slug}.{BASE}/users HTTP/1.1\r\nHost: api.example.com\r\n"
        f"Authorization: Bearer {tenant.token}\r\nConnection: close\r\n\r\n"
    )
    head, body = live_exchange(hosted, request.encode())
    assert head.split()[1] == b"200", head
    assert json.loads(body)["items"][0]["email"] == tenant.owner_email


def test_behind_the_shipped_proxy_settings_a_tenant_host_is_https(hosted, tenant):
    """production.ini's trusted proxy: Caddy's X-Forwarded-Proto makes the scheme https."""
    ini = configparser.ConfigParser()
    ini.read(Path(__file__).resolve().parents[2] / "production.ini")
    proxy = {k: v for k, v in ini["server:main"].items() if "proxy" in k}
    assert proxy["trusted_proxy"] == "127.0.0.1"
    host = f"{tenant.slug}.{BASE}"
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Proto: https\r\n"
        f"X-Forwarded-For: 203.0.113.9\r\n"
        f"Authorization: Bearer {tenant.token}\r\nConnection: close\r\n\r\n"
    )
    _, body = live_exchange(hosted, request.encode(), **proxy)
    assert json.loads(body)["links"]["users"] == f"https://{host}/users"
