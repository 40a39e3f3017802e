"""Signed JSON POSTs to a receiver the operator names (the usage export's billing webhook, the
audit stream's HTTP collector): one way to sign, retry and judge the answer.

A body is signed as Stripe signs its webhooks: ``Tenantapp-Signature: t=<unix time>,v1=<hex
HMAC-SHA256 of "<t>.<body>">`` under a shared secret, so a receiver checks who sent it and when.
No answer, 429 or a 5xx is retried with exponential backoff (urllib3's ``Retry``); a 2xx takes
the body; anything else, or retries spent, is ``WebhookFailed``.
"""

import hashlib
import hmac
import json
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

MIN_SECRET = 32


class WebhookFailed(Exception):
    """The receiver did not take the body, retries and all."""


def signature(secret: str, body: bytes, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def session(retries: int = 5, backoff_seconds: float = 1.0) -> requests.Session:
    """A session that retries a POST ``retries`` times, waiting ``backoff_seconds`` and then
    twice as long each time (or what ``Retry-After`` says)."""
    retry = Retry(
        total=retries,
        backoff_factor=backoff_seconds,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    made = requests.Session()
    for scheme in ("http://", "https://"):
        made.mount(scheme, HTTPAdapter(max_retries=retry))
    return made


def post(
    sender: requests.Session,
    url: str,
    secret: str,
    document,
    idempotency_key: str,
    timeout: float = 10.0,
) -> None:
    """POST ``document`` as JSON, signed, with its ``Idempotency-Key`` (the same for a body
    sent again, so the receiver can count it once)."""
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": idempotency_key,
        "Tenantapp-Signature": signature(secret, body, int(time.time())),
    }
    try:
        answer = sender.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as error:
        raise WebhookFailed(f"{url}: {error}") from None
    if not 200 <= answer.status_code < 300:
        raise WebhookFailed(f"{url} answered {answer.status_code}")
