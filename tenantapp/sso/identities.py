"""What a provider vouches for, of either protocol, or why it does not: the one shape the
login goes on with once OpenID Connect or SAML has done its checks."""

from dataclasses import dataclass, field

from ..errors import APIError


class ProviderUnavailable(APIError):
    status = 502
    code = "identity_provider_unavailable"


class Refused(APIError):
    """The provider's answer does not prove who the user is, for this tenant; ``subject``:
    whom the provider vouched for, when it got that far (the audit names them)."""

    status = 401
    code = "sso_refused"

    def __init__(self, message: str, subject: str | None = None):
        super().__init__(message)
        self.subject = subject


@dataclass(frozen=True)
class Vouched:
    """An identity whose every protocol check passed. ``subject``: ``issuer#id`` at the
    provider; ``groups``: what the owner's role rules look at."""

    subject: str
    email: str | None
    name: str | None = None
    groups: list[str] = field(default_factory=list)
