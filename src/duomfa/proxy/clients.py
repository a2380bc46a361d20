"""Which addresses are RADIUS clients, and which shared secrets each may use right now.

During a rotation a client may sign with the current, the pending or the previous secret; the table holds all
valid versions, and is swapped whole when the secrets source changes, so a lookup never sees half an update.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from duomfa.config import IpNetwork

CACHE_LIMIT = 4096


@dataclass(frozen=True)
class SecretVersion:
    label: str  # what the auth log records, e.g. "AWSCURRENT:1a2b3c4d" or "radius_secret_1"
    secret: bytes

    def __repr__(self) -> str:
        return f"SecretVersion({self.label!r})"


@dataclass(frozen=True)
class ClientEntry:
    name: str
    secrets: tuple[SecretVersion, ...]
    status_only: bool = False  # may probe with Status-Server, may not log anyone in


class ClientTable:
    """Longest-prefix match of a source address to its client entry (Duo's proxy uses the smallest CIDR too)."""

    def __init__(self, entries: Iterable[tuple[IpNetwork, ClientEntry]]):
        self._networks = sorted(entries, key=lambda item: (item[0].prefixlen, not item[1].status_only), reverse=True)
        self._cache: dict[str, ClientEntry | None] = {}

    def __len__(self) -> int:
        return len(self._networks)

    def entries(self) -> list[ClientEntry]:
        return list({id(entry): entry for _, entry in self._networks}.values())

    def lookup(self, address: str) -> ClientEntry | None:
        """The most specific entry covering the address (a login client wins over a probe-only block)."""
        try:
            return self._cache[address]
        except KeyError:
            pass
        found = None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for network, entry in self._networks:
            if ip.version == network.version and ip in network:
                found = entry
                break
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[address] = found
        return found
