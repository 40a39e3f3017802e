"""Passkeys (WebAuthn, with the ``webauthn`` package) as a second factor beside TOTP.

A user adds one while logged in: ``…/passkey-options`` makes a registration (kept as a
challenge of kind ``passkey``, five minutes, once) whose options the browser hands to
``navigator.credentials.create``; ``POST …/passkeys`` checks the authenticator's answer. At a
login, the challenge a password step answers carries the options for
``navigator.credentials.get`` when the user has passkeys; the second step takes the assertion.

The WebAuthn challenge is derived from the challenge token the client holds (SHA-256 of it):
nothing more to keep, and it is as single-use and short-lived as that token. The relying party
is the tenant's host as the browser sees it (``tenantapp.public_url``, the tenant's own host, or
localhost in development: WebAuthn takes no IP address).
"""

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..errors import APIError, NotFound
from ..tenancy.resources import absolute_link
from ..users.models import User
from .models import LoginChallenge, Passkey

KIND = "passkey"  # a registration's challenge
PREFIX = "pkr_"
MINUTES = 5
MAX_PER_USER = 10


class PasskeyRefused(APIError):
    status, code = 400, "passkey_refused"


def relying_party(request) -> tuple[str, str]:
    """``(rp id, origin)``: the tenant's host, as the browser sees it."""
    parts = urlsplit(absolute_link(request, request.tenant))
    return parts.hostname or "", f"{parts.scheme}://{parts.netloc}"


def webauthn_challenge(plain: str) -> bytes:
    return hashlib.sha256(b"webauthn:" + plain.encode()).digest()


ANSWER_ERRORS = (WebAuthnException, ValueError, KeyError, TypeError)  # an answer that is wrong


def _checked(verify, request, plain: str, credential: dict, **more):
    """``verify`` (the webauthn package's) on ``credential`` for the challenge of ``plain``,
    this tenant's relying party and origin."""
    rp_id, origin = relying_party(request)
    return verify(
        credential=credential,
        expected_challenge=webauthn_challenge(plain),
        expected_rp_id=rp_id,
        expected_origin=origin,
        **more,
    )


def of_user(session, user_id: int) -> list[Passkey]:
    return list(session.scalars(select(Passkey).where(Passkey.user_id == user_id)))


def has_passkey(session, user_id: int) -> bool:
    return session.scalar(select(Passkey.id).where(Passkey.user_id == user_id).limit(1)) is not None


def registration_options(request, user: User) -> dict:
    """A new registration for ``user``: its token and the options for the browser."""
    session = request.dbsession
    mine = of_user(session, user.id)
    if len(mine) >= MAX_PER_USER:
        raise PasskeyRefused(f"a user has at most {MAX_PER_USER} passkeys")
    plain = PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(minutes=MINUTES)
    digest = hashlib.sha256(plain.encode()).hexdigest()
    session.add(LoginChallenge(digest=digest, user_id=user.id, kind=KIND, expires_at=expires_at))
    rp_id, _ = relying_party(request)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=request.tenant.record.display_name or "tenantapp",
        user_id=f"{request.tenant.record.id}:{user.id}".encode(),
        user_name=user.email,
        user_display_name=user.name or user.email,
        challenge=webauthn_challenge(plain),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id) for p in mine],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return {"registration": plain, "options": json.loads(options_to_json(options))}


def register(request, user: User, registration: str, credential: dict, name: str) -> Passkey:
    """The authenticator's answer to a registration of ``user`` (its challenge taken by the
    caller: ``mfa.challenged(…, kind=KIND)``), checked and kept."""
    session = request.dbsession
    try:
        verified = _checked(verify_registration_response, request, registration, credential)
    except ANSWER_ERRORS as error:
        raise PasskeyRefused(f"the authenticator's answer is not valid: {error}") from None
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
    )
    session.add(passkey)
    session.flush()
    return passkey


def request_options(request, user: User, plain: str) -> dict | None:
    """The options for ``navigator.credentials.get`` at a login's second step, if the user
    has passkeys."""
    mine = of_user(request.dbsession, user.id)
    if not mine:
        return None
    rp_id, _ = relying_party(request)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=webauthn_challenge(plain),
        allow_credentials=[PublicKeyCredentialDescriptor(id=p.credential_id) for p in mine],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return json.loads(options_to_json(options))


def verify(request, user: User, plain: str, credential: dict) -> bool:
    """Whether ``credential`` (the browser's assertion) proves one of the user's passkeys for
    this login's challenge; its counter is kept."""
    try:
        raw_id = base64url_to_bytes(str(credential.get("rawId") or credential.get("id") or ""))
    except (ValueError, TypeError, AttributeError):
        return False
    passkey = request.dbsession.scalar(
        select(Passkey).where(Passkey.user_id == user.id, Passkey.credential_id == raw_id)
    )
    if passkey is None:
        return False
    try:
        verified = _checked(
            verify_authentication_response,
            request,
            plain,
            credential,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
        )
    except ANSWER_ERRORS:
        return False
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = datetime.now(UTC)
    return True


def remove(session, user_id: int, passkey_id: int) -> None:
    found = session.scalar(
        select(Passkey).where(Passkey.user_id == user_id, Passkey.id == passkey_id)
    )
    if found is None:
        raise NotFound("no such passkey")
    session.delete(found)


def forget_user(session, user_id: int) -> None:
    session.execute(delete(Passkey).where(Passkey.user_id == user_id))
