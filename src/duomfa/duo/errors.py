"""What can go wrong talking to Duo, split by what the proxy may do about it: only DuoUnavailable (Duo could not be
reached at all) may let it fail open, and only before Duo asked for a factor; DuoBadResponse (not Duo, or not
provably), DuoApiError (Duo refusing) and DuoBusy (this proxy overloaded) never do."""

from __future__ import annotations

# Duo could not be reached: nothing came back (refused, reset before any reply, no name, no answer in time), or
# Duo said it is failing (HTTP 5xx)
UNREACHABLE_REASONS = ("connect", "dns", "timeout", "http_5xx")
# something answered, but not as Duo does, or its certificate does not verify, or the answer broke off
UNTRUSTED_REASONS = ("bad_response", "tls_verify", "tls", "truncated")


class DuoError(Exception):
    """Any failure of a Duo Auth API call."""


class DuoFault(DuoError):
    """No usable answer from Duo; `reason` says which kind (one of UNREACHABLE_REASONS or UNTRUSTED_REASONS)."""

    reasons: tuple[str, ...] = UNREACHABLE_REASONS + UNTRUSTED_REASONS

    def __init__(self, reason: str, message: str, *, endpoint: str | None = None, http_status: int | None = None):
        if reason not in self.reasons:
            raise ValueError(f"{type(self).__name__} has no reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.endpoint = endpoint
        self.http_status = http_status

    def __str__(self) -> str:
        where = f" ({self.endpoint})" if self.endpoint else ""
        return f"{self.summary}{where}: {self.reason}: {self.message}"

    summary = "no usable answer from Duo"


class DuoUnavailable(DuoFault):
    """Duo could not be reached: the one failure that failmode may act on."""

    reasons = UNREACHABLE_REASONS
    summary = "Duo unavailable"


class DuoBadResponse(DuoFault):
    """What answered is not Duo, or cannot be shown to be: never a reason to let anyone in."""

    reasons = UNTRUSTED_REASONS
    summary = "not an answer from Duo"


class DuoBusy(DuoError):
    """Too many calls to Duo already under way from this process: the call was not made. Not Duo's fault."""


class DuoApiError(DuoError):
    """Duo answered with a 4xx: bad keys (401), bad request (400), still rate-limited (429) …

    `code` is Duo's five-digit code (40103 …) when the body carried one, else None.
    """

    def __init__(self, http_status: int, code: int | None, message: str, detail: str | None = None, *,
                 endpoint: str | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.detail = detail
        self.endpoint = endpoint

    def __str__(self) -> str:
        where = f" ({self.endpoint})" if self.endpoint else ""
        code = f" {self.code}" if self.code is not None else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"Duo refused the request{where}: HTTP {self.http_status}{code}: {self.message}{detail}"
