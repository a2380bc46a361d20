"""What can go wrong talking to Duo, split by what the proxy does about it.

Only `DuoUnavailable` (Duo could not be reached or did not answer like Duo) may let the proxy fail open;
`DuoApiError` is Duo itself refusing the request, which must never let anyone in; `DuoBusy` is this proxy having
too many calls to Duo under way — a flood must never be a way to make it fail open.
"""

from __future__ import annotations

UNAVAILABLE_REASONS = ("connect", "dns", "tls", "timeout", "http_5xx", "bad_response")


class DuoError(Exception):
    """Any failure of a Duo Auth API call."""


class DuoUnavailable(DuoError):
    """Duo cannot be reached or did not answer as Duo does; `reason` is one of UNAVAILABLE_REASONS."""

    def __init__(self, reason: str, message: str, *, endpoint: str | None = None, http_status: int | None = None):
        if reason not in UNAVAILABLE_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.endpoint = endpoint
        self.http_status = http_status

    def __str__(self) -> str:
        where = f" ({self.endpoint})" if self.endpoint else ""
        return f"Duo unavailable{where}: {self.reason}: {self.message}"


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
