"""Vendor-Specific attributes (RFC 2865 §5.26): enough to recognise MS-CHAP (RFC 2548) in a request and to build
vendor attributes in tests and the load generator.

Vendors may put any format inside; we read the format RFC 2865 recommends and stop where the octets stop fitting it.
"""

from __future__ import annotations

from .constants import MS_CHAP2_RESPONSE, MS_CHAP_RESPONSE, VENDOR_MICROSOFT, VENDOR_SPECIFIC
from .packet import MAX_ATTRIBUTE_VALUE_LENGTH, Packet

_VENDOR_ID_LENGTH = 4


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


def uses_ms_chap(packet: Packet) -> bool:
    """True for an MS-CHAP or MS-CHAPv2 request: its password is a challenge response, not text we can use."""
    return any(vendor_id == VENDOR_MICROSOFT and vendor_type in (MS_CHAP_RESPONSE, MS_CHAP2_RESPONSE)
               for vendor_id, vendor_type, _ in packet_vendor_attributes(packet))


def encode_vendor_attribute(vendor_id: int, vendor_type: int, data: bytes) -> tuple[int, bytes]:
    """One Vendor-Specific attribute holding one sub-attribute, ready for encode_request or encode_reply."""
    if len(data) > MAX_ATTRIBUTE_VALUE_LENGTH - _VENDOR_ID_LENGTH - 2:
        raise ValueError(f"vendor attribute data is {len(data)} octets; at most 247 fit")
    return VENDOR_SPECIFIC, vendor_id.to_bytes(_VENDOR_ID_LENGTH, "big") + bytes((vendor_type, len(data) + 2)) + data
