"""Where the MFA service listens, as clients must write it in their api_host: shared by the server, which records
the address it starts on, and the admin commands, which print it."""

from __future__ import annotations

from duomfa.mfaservice.store import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8443


def api_host(host: str, port: int) -> str:
    """What a client puts in its api_host: the name it connects to, with the port unless it is 443."""
    name = "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)
    if ":" in name:
        name = f"[{name}]"
    return name if port == 443 else f"{name}:{port}"


def recorded_api_host(store: Store) -> str:
    """The api_host of the address the service was last started on (the default before its first start)."""
    host = store.get_setting("listen_host", DEFAULT_HOST) or DEFAULT_HOST
    port = int(store.get_setting("listen_port", str(DEFAULT_PORT)) or DEFAULT_PORT)
    return api_host(host, port)
