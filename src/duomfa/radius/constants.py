"""RADIUS numbers: packet codes, attribute types, the vendor attributes we read, and the standard attribute names.

Plain ints rather than an IntEnum: they sit on the hot path and compare against octets read straight off the wire.
"""

from __future__ import annotations

import difflib
import re

# Packet codes (RFC 2865 §3, RFC 2866, RFC 5997, RFC 5176)
ACCESS_REQUEST = 1
ACCESS_ACCEPT = 2
ACCESS_REJECT = 3
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
ACCESS_CHALLENGE = 11
STATUS_SERVER = 12
STATUS_CLIENT = 13
DISCONNECT_REQUEST = 40
DISCONNECT_ACK = 41
DISCONNECT_NAK = 42
COA_REQUEST = 43
COA_ACK = 44
COA_NAK = 45

# Attribute types used by name in the code (RFC 2865 §5 and successors)
USER_NAME = 1
USER_PASSWORD = 2
CHAP_PASSWORD = 3
NAS_IP_ADDRESS = 4
NAS_PORT = 5
SERVICE_TYPE = 6
FRAMED_IP_ADDRESS = 8
FILTER_ID = 11
REPLY_MESSAGE = 18
STATE = 24
CLASS = 25
VENDOR_SPECIFIC = 26
SESSION_TIMEOUT = 27
CALLED_STATION_ID = 30
CALLING_STATION_ID = 31
NAS_IDENTIFIER = 32
PROXY_STATE = 33
CHAP_CHALLENGE = 60
NAS_PORT_TYPE = 61
EAP_MESSAGE = 79
MESSAGE_AUTHENTICATOR = 80
NAS_PORT_ID = 87
NAS_IPV6_ADDRESS = 95

# Microsoft vendor attributes (RFC 2548), carried inside Vendor-Specific
VENDOR_MICROSOFT = 311
MS_CHAP_RESPONSE = 1
MS_CHAP_ERROR = 2
MS_CHAP_CHALLENGE = 11
MS_MPPE_SEND_KEY = 16
MS_MPPE_RECV_KEY = 17
MS_CHAP2_RESPONSE = 25
MS_CHAP2_SUCCESS = 26
MS_CHAP2_CPW = 27

# Palo Alto Networks vendor attributes (FreeRADIUS's dictionary.paloalto)
VENDOR_PALO_ALTO = 25461
PALO_ALTO_CLIENT_SOURCE_IP = 7  # string: the address of the computer logging in to GlobalProtect

# Names as FreeRADIUS and pyrad dictionaries spell them, so config files written for either work here.
ATTRIBUTE_NAMES: dict[int, str] = {
    # RFC 2865
    1: "User-Name", 2: "User-Password", 3: "CHAP-Password", 4: "NAS-IP-Address", 5: "NAS-Port",
    6: "Service-Type", 7: "Framed-Protocol", 8: "Framed-IP-Address", 9: "Framed-IP-Netmask",
    10: "Framed-Routing", 11: "Filter-Id", 12: "Framed-MTU", 13: "Framed-Compression", 14: "Login-IP-Host",
    15: "Login-Service", 16: "Login-TCP-Port", 18: "Reply-Message", 19: "Callback-Number", 20: "Callback-Id",
    22: "Framed-Route", 23: "Framed-IPX-Network", 24: "State", 25: "Class", 26: "Vendor-Specific",
    27: "Session-Timeout", 28: "Idle-Timeout", 29: "Termination-Action", 30: "Called-Station-Id",
    31: "Calling-Station-Id", 32: "NAS-Identifier", 33: "Proxy-State", 34: "Login-LAT-Service",
    35: "Login-LAT-Node", 36: "Login-LAT-Group", 37: "Framed-AppleTalk-Link", 38: "Framed-AppleTalk-Network",
    39: "Framed-AppleTalk-Zone", 60: "CHAP-Challenge", 61: "NAS-Port-Type", 62: "Port-Limit",
    63: "Login-LAT-Port",
    # RFC 2866 (accounting)
    40: "Acct-Status-Type", 41: "Acct-Delay-Time", 42: "Acct-Input-Octets", 43: "Acct-Output-Octets",
    44: "Acct-Session-Id", 45: "Acct-Authentic", 46: "Acct-Session-Time", 47: "Acct-Input-Packets",
    48: "Acct-Output-Packets", 49: "Acct-Terminate-Cause", 50: "Acct-Multi-Session-Id", 51: "Acct-Link-Count",
    # RFC 2869, RFC 3579
    52: "Acct-Input-Gigawords", 53: "Acct-Output-Gigawords", 55: "Event-Timestamp", 70: "ARAP-Password",
    71: "ARAP-Features", 72: "ARAP-Zone-Access", 73: "ARAP-Security", 74: "ARAP-Security-Data",
    75: "Password-Retry", 76: "Prompt", 77: "Connect-Info", 78: "Configuration-Token", 79: "EAP-Message",
    80: "Message-Authenticator", 84: "ARAP-Challenge-Response", 85: "Acct-Interim-Interval",
    87: "NAS-Port-Id", 88: "Framed-Pool",
    # RFC 4675 (VLANs and priority)
    56: "Egress-VLANID", 57: "Ingress-Filters", 58: "Egress-VLAN-Name", 59: "User-Priority-Table",
    # RFC 2867, RFC 2868 (tunnels)
    64: "Tunnel-Type", 65: "Tunnel-Medium-Type", 66: "Tunnel-Client-Endpoint", 67: "Tunnel-Server-Endpoint",
    68: "Acct-Tunnel-Connection", 69: "Tunnel-Password", 81: "Tunnel-Private-Group-Id",
    82: "Tunnel-Assignment-Id", 83: "Tunnel-Preference", 86: "Acct-Tunnel-Packets-Lost",
    90: "Tunnel-Client-Auth-Id", 91: "Tunnel-Server-Auth-Id",
    # RFC 4372, RFC 4849, RFC 7155, RFC 3162, RFC 5176, RFC 4072
    89: "Chargeable-User-Identity", 92: "NAS-Filter-Rule", 94: "Originating-Line-Info",
    95: "NAS-IPv6-Address", 96: "Framed-Interface-Id", 97: "Framed-IPv6-Prefix", 98: "Login-IPv6-Host",
    99: "Framed-IPv6-Route", 100: "Framed-IPv6-Pool", 101: "Error-Cause", 102: "EAP-Key-Name",
    # RFC 5090 (digest)
    103: "Digest-Response", 104: "Digest-Realm", 105: "Digest-Nonce", 106: "Digest-Response-Auth",
    107: "Digest-Nextnonce", 108: "Digest-Method", 109: "Digest-URI", 110: "Digest-Qop",
    111: "Digest-Algorithm", 112: "Digest-Entity-Body-Hash", 113: "Digest-CNonce", 114: "Digest-Nonce-Count",
    115: "Digest-Username", 116: "Digest-Opaque", 117: "Digest-Auth-Param", 118: "Digest-AKA-Auts",
    119: "Digest-Domain", 120: "Digest-Stale", 121: "Digest-HA1", 122: "SIP-AOR",
    # RFC 4818, RFC 5580, RFC 5607, RFC 6911
    123: "Delegated-IPv6-Prefix", 126: "Operator-Name", 127: "Location-Information", 128: "Location-Data",
    129: "Basic-Location-Policy-Rules", 130: "Extended-Location-Policy-Rules", 131: "Location-Capable",
    132: "Requested-Location-Info", 133: "Framed-Management", 134: "Management-Transport-Protection",
    135: "Management-Policy-Id", 136: "Management-Privilege-Level", 168: "Framed-IPv6-Address",
    169: "DNS-Server-IPv6-Address", 170: "Route-IPv6-Information", 171: "Delegated-IPv6-Prefix-Pool",
    172: "Stateful-IPv6-Address-Pool",
}

# Dictionary names are case-insensitive in FreeRADIUS; config files in the wild rely on that.
_TYPES_BY_FOLDED_NAME: dict[str, int] = {name.casefold(): number for number, name in ATTRIBUTE_NAMES.items()}
# FreeRADIUS's spelling for an attribute without a name, e.g. "Attr-224".
_NUMBERED_NAME = re.compile(r"attr-(\d{1,3})", re.IGNORECASE)


class UnknownAttributeName(KeyError):
    """A configured attribute name that is not a standard RADIUS attribute."""

    def __str__(self) -> str:
        # KeyError would print the message in quotes, as if it were a key
        return str(self.args[0])


def attribute_type(name: str) -> int:
    """The attribute number for a name such as "Calling-Station-Id" (any case) or "Attr-224"."""
    stripped = name.strip()
    number = _TYPES_BY_FOLDED_NAME.get(stripped.casefold())
    if number is not None:
        return number
    numbered = _NUMBERED_NAME.fullmatch(stripped)
    if numbered and 1 <= int(numbered.group(1)) <= 255:
        return int(numbered.group(1))
    close = difflib.get_close_matches(stripped, ATTRIBUTE_NAMES.values(), n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(repr(match) for match in close)}?" if close else ""
    raise UnknownAttributeName(
        f"unknown RADIUS attribute name {name!r}{hint} "
        "(standard names from RFC 2865 and its successors; write Attr-N for any other attribute number)")


def attribute_name(number: int) -> str:
    """The standard name for an attribute number, or "Attr-N" for numbers without one."""
    if not 0 <= number <= 255:
        # one octet on the wire (0 is reserved but can arrive, and must still be nameable in a log line)
        raise UnknownAttributeName(f"RADIUS attribute numbers are 0 to 255, not {number}")
    return ATTRIBUTE_NAMES.get(number) or f"Attr-{number}"
