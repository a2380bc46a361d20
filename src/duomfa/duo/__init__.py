"""The proxy's async Duo Auth API v2 client, with its result and error types."""

from duomfa.duo.client import DuoClient
from duomfa.duo.errors import DuoApiError, DuoBusy, DuoError, DuoUnavailable
from duomfa.duo.results import AuthResult, DuoDevice, PreauthResult

__all__ = ["AuthResult", "DuoApiError", "DuoBusy", "DuoClient", "DuoDevice", "DuoError", "DuoUnavailable", "PreauthResult"]
