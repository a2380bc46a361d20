"""A port that cannot be had, said in the user's terms: which option chose it and what to do."""

from __future__ import annotations

import errno


class PortUnavailable(Exception):
    """A listener could not bind; the message names the option that chose the port."""


def port_unavailable(exc: OSError, protocol: str, address: str, port: int, chosen_by: str) -> PortUnavailable:
    where = f"{protocol} {address}:{port}"
    if exc.errno == errno.EADDRINUSE:
        why = "is already in use (another duomfa, or a RADIUS or web server, listens there)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "may not be used by this user (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "cannot be bound: this machine has no such address"
    else:
        why = f"cannot be bound ({exc.strerror})"
    return PortUnavailable(f"{where} {why}; choose another with {chosen_by}")
