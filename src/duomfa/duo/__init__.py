"""The proxy's async Duo Auth API v2 client, the Protocol it fulfils, and its result and error types."""

from duomfa.duo.api import DuoApi
from duomfa.duo.client import DuoClient
from duomfa.duo.errors import DuoApiError, DuoBadResponse, DuoBusy, DuoError, DuoFault, DuoUnavailable
from duomfa.duo.results import AuthResult, DuoDevice, PreauthResult

__all__ = ["AuthResult", "DuoApi", "DuoApiError", "DuoBadResponse", "DuoBusy", "DuoClient", "DuoDevice", "DuoError",
           "DuoFault", "DuoUnavailable", "PreauthResult"]
