"""A real SAML 2.0 identity provider on 127.0.0.1, for tests (tenantapp's and an app's own) and
benchmarks: pysaml2's own IdP (``Server``) behind a small WSGI app, signing with a key and
certificate made here (``cryptography``). A browser signs in at ``/sso`` by a user name the
caller registered; a caller may also ask it directly for a Response, signed or not, for any
audience and recipient (the hostile cases). Not for production: it asks no password."""

import base64
import datetime
import html
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary


def key_and_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class SamlIdp:
    """``users``: name -> attributes (``email`` and any others, each a list of strings)."""

    def __init__(self, folder: Path, name: str = "idp"):
        self.users: dict[str, dict[str, list[str]]] = {}
        self._http = make_server("127.0.0.1", 0, self.wsgi, handler_class=Quiet)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        key_file, cert_file = key_and_certificate(folder, name)
        config = IdPConfig()
        config.load(
            {
                "entityid": f"{self.url}/metadata",
                "xmlsec_binary": get_xmlsec_binary(),
                "key_file": str(key_file),
                "cert_file": str(cert_file),
                "metadata": {},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(f"{self.url}/sso", BINDING_HTTP_REDIRECT)]
                        },
                        "policy": {"default": {"lifetime": {"minutes": 5}}},
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.metadata = create_metadata_string(None, config=config, valid=24).decode()
        self._lock = threading.Lock()  # pysaml2's Server keeps state

    def __enter__(self):
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._http.shutdown()
        self._http.server_close()

    def trust(self, sp_metadata: str) -> None:
        """Know a service provider, as an IdP's administrator adds it."""
        with self._lock:
            self.server.metadata.load("inline", sp_metadata)

    def request_of(self, location: str):
        """The AuthnRequest an SP's redirect carries."""
        query = parse_qs(urlsplit(location).query)
        with self._lock:
            return self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)

    def response(
        self,
        location: str,
        user: str,
        sign: bool = True,
        audience: str | None = None,
        recipient: str | None = None,
    ) -> str:
        """The base64 Response to the AuthnRequest in ``location`` (an SP's redirect) for
        ``user``, as the IdP would post it; ``audience``/``recipient`` other than the SP's for
        the hostile cases."""
        request = self.request_of(location).message
        attributes = self.users[user]
        email = attributes["email"][0]
        with self._lock:
            answer = self.server.create_authn_response(
                dict(attributes),
                in_response_to=request.id,
                destination=recipient or request.assertion_consumer_service_url,
                sp_entity_id=audience or request.issuer.text,
                name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
                userid=email,
                authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
                sign_assertion=sign,
                sign_response=False,
            )
        return base64.b64encode(str(answer).encode()).decode()

    def wsgi(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path == "/sso" and method == "GET":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            page = (
                "<!doctype html><title>IdP</title><form method=post action=/sso>"
                '<label>User <input name=user></label><input type=hidden name=location value="'
                + html.escape(f"/sso?{environ.get('QUERY_STRING', '')}", quote=True)
                + '"><button>Sign in</button></form>'
            )
            del query
            return self._answer(start_response, "200 OK", page)
        if path == "/sso" and method == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            form = parse_qs(environ["wsgi.input"].read(size).decode())
            location, user = form["location"][0], form["user"][0]
            acs = self.request_of(location).message.assertion_consumer_service_url
            response = self.response(location, user)
            page = (
                "<!doctype html><title>Back</title><body onload='document.forms[0].submit()'>"
                f'<form method=post action="{html.escape(acs, quote=True)}">'
                f'<input type=hidden name=SAMLResponse value="{response}">'
                "<noscript><button>Continue</button></noscript></form></body>"
            )
            return self._answer(start_response, "200 OK", page)
        return self._answer(start_response, "404 Not Found", "not here")

    @staticmethod
    def _answer(start_response, status: str, page: str):
        start_response(status, [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode()]
