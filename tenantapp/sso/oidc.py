"""OpenID Connect, as a relying party per tenant (Authlib for the authorization-code flow with
PKCE, joserfc for the ID token): the provider found by discovery, the user sent there with a
``state``, a ``nonce`` and a code challenge, and the ID token checked when they come back
(signature by the provider's published keys, issuer, audience, nonce, expiry)."""

import threading
import time
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .identities import ProviderUnavailable, Refused, Vouched

TIMEOUT = 10  # seconds for any answer of a provider
KNOWN_FOR = 300  # seconds a provider's discovery document and keys are kept
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def checked_issuer(issuer: str) -> str:
    """https, or http on this machine only (a provider run for development or the tests)."""
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
    except ValueError as error:  # "Invalid IPv6 URL", a port that is not a number
        raise Refused(f"the issuer is not a URL: {error}") from None
    if parts.scheme != "https" and not (parts.scheme == "http" and host in LOOPBACK):
        raise Refused("the issuer must be an https URL")
    return issuer.rstrip("/")


class Discovery:
    """Each issuer's discovery document and keys, kept a while per process."""

    def __init__(self):
        self._known: dict[str, tuple[float, dict, KeySet]] = {}
        self._lock = threading.Lock()

    def get(self, issuer: str, fresh: bool = False) -> tuple[dict, KeySet]:
        issuer = checked_issuer(issuer)
        with self._lock:
            known = self._known.get(issuer)
        if known is not None and not fresh and known[0] > time.monotonic():
            return known[1], known[2]
        try:
            document = _json(f"{issuer}/.well-known/openid-configuration")
            if document.get("issuer", "").rstrip("/") != issuer:
                raise Refused("the provider's discovery document names another issuer")
            keys = KeySet.import_key_set(_json(document["jwks_uri"]))
        except (requests.RequestException, ValueError, KeyError) as error:
            raise ProviderUnavailable(f"the identity provider did not answer: {error}") from None
        with self._lock:
            self._known[issuer] = (time.monotonic() + KNOWN_FOR, document, keys)
        return document, keys


DISCOVERY = Discovery()


def _json(url: str) -> dict:
    answer = requests.get(url, timeout=TIMEOUT)
    answer.raise_for_status()
    return answer.json()


def _client(provider, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        provider.client_id,
        provider.client_secret,
        scope="openid email profile",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def authorization_url(provider, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
    document, _ = DISCOVERY.get(provider.issuer)
    url, _ = _client(provider, redirect_uri).create_authorization_url(
        document["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
    )
    return url


def identity(provider, redirect_uri: str, code: str, verifier: str, nonce: str) -> Vouched:
    """Who the ID token the code is exchanged for names, every check passed."""
    document, keys = DISCOVERY.get(provider.issuer)
    try:
        token = _client(provider, redirect_uri).fetch_token(
            document["token_endpoint"], code=code, code_verifier=verifier, timeout=TIMEOUT
        )
    except requests.RequestException as error:
        raise ProviderUnavailable(f"the identity provider did not answer: {error}") from None
    except Exception as error:
        raise Refused(f"the provider refused the code: {error}") from None
    if "id_token" not in token:
        raise Refused("the provider sent no ID token")
    claims = checked_claims(token["id_token"], keys, provider, nonce)
    subject = f"{provider.issuer}#{claims['sub']}"
    if claims.get("email_verified") is False:
        raise Refused("the provider has not verified the email", subject=subject)
    groups = claims.get(provider.role_claim) if provider.role_claim else None
    return Vouched(
        subject,
        str(claims.get("email") or "") or None,
        str(claims.get("name") or "") or None,
        [groups]
        if isinstance(groups, str)
        else [str(g) for g in groups or () if isinstance(groups, list)],
    )


def checked_claims(id_token: str, keys: KeySet, provider, nonce: str) -> dict:
    try:
        claims = jwt.decode(id_token, keys).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError) as error:
        raise Refused(f"the ID token is not valid for this tenant: {error}") from None
    return claims
