"""SAML 2.0, as a service provider per tenant (pysaml2, which signs and verifies through
Debian's ``xmlsec1``): the user sent to the IdP with an AuthnRequest (HTTP-Redirect), its
Response taken at the tenant's assertion consumer (HTTP-POST) only in answer to a request this
tenant made, with a signed assertion whose audience is this tenant's entity id and whose
recipient is this tenant's consumer URL."""

import base64
import binascii
import shutil

from defusedxml import ElementTree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

from ..errors import InvalidInput
from .identities import ProviderUnavailable, Refused, Vouched

CLOCK_SKEW = 60  # seconds an IdP's clock may differ from ours
EMAIL_ATTRIBUTES = (
    "email",
    "mail",
    "emailAddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
)
NAME_ATTRIBUTES = (
    "displayName",
    "name",
    "cn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
)


def _xmlsec() -> str:
    found = shutil.which("xmlsec1")
    if found is None:
        raise ProviderUnavailable("SAML needs xmlsec1 on the server (apt-get install xmlsec1)")
    return found


def _client(metadata: str | None, entity_id: str, acs_url: str) -> Saml2Client:
    """A client for one login: pysaml2's clients keep what they saw, so none is shared."""
    config = SPConfig()
    config.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": _xmlsec(),
            "metadata": {"inline": [metadata]} if metadata else {},
            "accepted_time_diff": CLOCK_SKEW,
            "allow_unknown_attributes": True,  # groups, as each IdP names them
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]},
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "allow_unsolicited": False,
                    "authn_requests_signed": False,
                }
            },
        }
    )
    return Saml2Client(config)


def idp_entity_id(metadata: str) -> str:
    """The entity id of the one IdP the metadata describes, once it is fit for logins (an
    HTTP-Redirect sign-on service, a signing certificate); else a 400 saying what is wrong."""
    try:
        store = _client(metadata, "urn:tenantapp:check", "http://127.0.0.1/acs").metadata
        idps = list(store.identity_providers())
    except ProviderUnavailable:
        raise
    except Exception as error:  # pysaml2 raises many kinds for XML that is not metadata
        raise InvalidInput("not SAML metadata", {"metadata": _said(error)}) from None
    if len(idps) != 1:
        problem = f"describes {len(idps)} identity providers, not one"
        raise InvalidInput("not one identity provider", {"metadata": problem})
    (entity_id,) = idps
    if not store.single_sign_on_service(entity_id, BINDING_HTTP_REDIRECT):
        problem = "no SingleSignOnService with the HTTP-Redirect binding"
        raise InvalidInput("unusable metadata", {"metadata": problem})
    if not store.certs(entity_id, "idpsso", use="signing"):
        raise InvalidInput("unusable metadata", {"metadata": "no signing certificate"})
    return entity_id


def sp_metadata(entity_id: str, acs_url: str) -> str:
    """This tenant's service provider metadata, for the IdP's administrator."""
    return str(entity_descriptor(_client(None, entity_id, acs_url).config))


def authorization_url(provider, entity_id: str, acs_url: str) -> tuple[str, str]:
    """``(request id, the IdP's URL carrying the AuthnRequest)``."""
    client = _client(provider.metadata, entity_id, acs_url)
    request_id, info = client.prepare_for_authenticate(
        entityid=provider.issuer, binding=BINDING_HTTP_REDIRECT
    )
    return request_id, dict(info["headers"])["Location"]


def _root(saml_response: str):
    try:
        return ElementTree.fromstring(base64.b64decode(saml_response, validate=True))
    except (binascii.Error, ValueError, ElementTree.ParseError) as error:
        raise Refused(f"SAMLResponse is not a base64 SAML document: {_said(error)}") from None


def answered_request(saml_response: str) -> str:
    """The request id a Response says it answers, read before any check: the login in flight
    it names is taken (once) before the Response is verified against it."""
    answered = _root(saml_response).get("InResponseTo")
    if not answered:
        raise Refused("a response nobody asked for (no InResponseTo): start at the tenant")
    return answered


def identity(
    provider, entity_id: str, acs_url: str, saml_response: str, request_id: str
) -> Vouched:
    """Who the Response's assertion names, every check passed."""
    destination = _root(saml_response).get("Destination")
    if destination is not None and destination != acs_url:
        raise Refused("the response is addressed to another consumer URL")
    client = _client(provider.metadata, entity_id, acs_url)
    try:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: acs_url}
        )
    except Exception as error:  # pysaml2 raises a kind per check that failed
        raise Refused(f"the assertion is not valid for this tenant: {_said(error)}") from None
    if response is None or response.assertion is None:
        raise Refused("the response holds no assertion for this tenant's consumer URL")
    issuer = response.assertion.issuer
    if issuer is None or (issuer.text or "").strip() != provider.issuer:
        raise Refused("the assertion comes from another identity provider")
    conditions = response.assertion.conditions
    audiences = {
        (audience.text or "").strip()
        for restriction in (conditions.audience_restriction if conditions else [])
        for audience in restriction.audience
    }
    if entity_id not in audiences:  # pysaml2 lets an assertion with no audience through
        raise Refused("the assertion is not restricted to this tenant's audience")
    name_id = response.name_id
    subject = f"{provider.issuer}#{name_id.text if name_id is not None else '?'}"
    attributes = response.get_identity()
    email = _first(attributes, EMAIL_ATTRIBUTES)
    if email is None and name_id is not None and name_id.format == NAMEID_FORMAT_EMAILADDRESS:
        email = name_id.text
    groups = attributes.get(provider.role_claim, []) if provider.role_claim else []
    return Vouched(subject, email, _first(attributes, NAME_ATTRIBUTES), [str(g) for g in groups])


def _first(attributes: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        values = attributes.get(name)
        if values:
            return str(values[0])
    return None


def _said(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:300]}"
