"""Vendor-Specific attributes (RFC 2865 §5.26): enough to recognise MS-CHAP (RFC 2548) in a request, to read the
vendor attributes a configuration may name (PaloAlto-Client-Source-IP), and to build vendor attributes in tests and
the load generator.

Vendors may put any format inside; we read the format RFC 2865 recommends and stop where the octets stop fitting it.
"""

from __future__ import annotations

from .constants import (
    MS_CHAP2_RESPONSE,
    MS_CHAP_RESPONSE,
    PALO_ALTO_CLIENT_SOURCE_IP,
    VENDOR_MICROSOFT,
    VENDOR_PALO_ALTO,
    VENDOR_SPECIFIC,
    attribute_type,
)
from .packet import MAX_ATTRIBUTE_VALUE_LENGTH, Packet

_VENDOR_ID_LENGTH = 4

# vendor attributes a configuration may name, as FreeRADIUS's dictionaries spell them: (vendor id, vendor type)
VENDOR_ATTRIBUTE_NAMES: dict[str, tuple[int, int]] = {
    "PaloAlto-Client-Source-IP": (VENDOR_PALO_ALTO, PALO_ALTO_CLIENT_SOURCE_IP),
}
_VENDOR_TYPES_BY_FOLDED_NAME = {name.casefold(): key for name, key in VENDOR_ATTRIBUTE_NAMES.items()}


def vendor_attributes(value: bytes) -> list[tuple[int, int, bytes]]:
    """(vendor_id, vendor_type, data) for each sub-attribute of one Vendor-Specific value, in order.

    Never raises on content: a value too short for a Vendor-Id gives [], and a malformed sub-attribute ends the
    list (a vendor-specific format we do not know is not the packet's fault).
    """
    size = len(value)
    if size < _VENDOR_ID_LENGTH:
        return []
    vendor_id = int.from_bytes(value[:_VENDOR_ID_LENGTH], "big")
    found: list[tuple[int, int, bytes]] = []
    position = _VENDOR_ID_LENGTH
    while position + 2 <= size:
        end = position + value[position + 1]
        if end < position + 2 or end > size:
            break
        found.append((vendor_id, value[position], value[position + 2:end]))
        position = end
    return found


def packet_vendor_attributes(packet: Packet) -> list[tuple[int, int, bytes]]:
    """The sub-attributes of every Vendor-Specific attribute in the packet, in order."""
    return [found for attribute, value in packet.attributes if attribute == VENDOR_SPECIFIC
            for found in vendor_attributes(value)]


def first_vendor_attribute(packet: Packet, vendor_id: int, vendor_type: int) -> bytes | None:
    """The data of the first such sub-attribute in the packet; None when there is none (or none well formed)."""
    return next((data for found_vendor, found_type, data in packet_vendor_attributes(packet)
                 if found_vendor == vendor_id and found_type == vendor_type), None)


def attribute_key(name: str) -> int | tuple[int, int]:
    """What a configured attribute name refers to: a standard attribute's number, or (vendor id, vendor type) for a
    vendor attribute in VENDOR_ATTRIBUTE_NAMES. Raises UnknownAttributeName for anything else."""
    vendor = _VENDOR_TYPES_BY_FOLDED_NAME.get(name.strip().casefold())
    return vendor if vendor is not None else attribute_type(name)


def uses_ms_chap(packet: Packet) -> bool:
    """True for an MS-CHAP or MS-CHAPv2 request: its password is a challenge response, not text we can use."""
    return any(vendor_id == VENDOR_MICROSOFT and vendor_type in (MS_CHAP_RESPONSE, MS_CHAP2_RESPONSE)
               for vendor_id, vendor_type, _ in packet_vendor_attributes(packet))


def encode_vendor_attribute(vendor_id: int, vendor_type: int, data: bytes) -> tuple[int, bytes]:
    """One Vendor-Specific attribute holding one sub-attribute, ready for encode_request or encode_reply."""
    if len(data) > MAX_ATTRIBUTE_VALUE_LENGTH - _VENDOR_ID_LENGTH - 2:
        raise ValueError(f"vendor attribute data is {len(data)} octets; at most 247 fit")
    return VENDOR_SPECIFIC, vendor_id.to_bytes(_VENDOR_ID_LENGTH, "big") + bytes((vendor_type, len(data) + 2)) + data
