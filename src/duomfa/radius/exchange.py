"""A RADIUS client's side of one exchange, sans-IO: the request's bytes, and which datagram is its verified reply.
Transports (duomfa.radius_udp) send and wait; everything that decides lives here."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from .constants import ACCESS_REQUEST, NAS_IDENTIFIER, STATUS_SERVER, USER_NAME, USER_PASSWORD
from .packet import (
    BadReplyAuthenticator,
    MalformedPacket,
    Packet,
    encode_request,
    hide_user_password,
    new_request_authenticator,
    verify_reply,
)


@dataclass(frozen=True)
class ClientRequest:
    """One request as a client sends it, with what it takes to recognise its reply."""

    data: bytes
    identifier: int
    authenticator: bytes
    secret: bytes = field(repr=False)
    require_message_authenticator: bool = False

    def is_for(self, datagram: bytes) -> bool:
        """The datagram claims to answer this request (its Identifier), whether or not it is signed."""
        return len(datagram) >= 20 and datagram[1] == self.identifier

    def match(self, datagram: bytes) -> Packet | None:
        """This request's reply, its Response Authenticator and Message-Authenticator checked with the secret; None
        for anything else: another request's reply, junk, or a reply the secret did not sign."""
        if not self.is_for(datagram):
            return None
        try:
            return verify_reply(datagram, self.authenticator, self.secret,
                                require_message_authenticator=self.require_message_authenticator)
        except (MalformedPacket, BadReplyAuthenticator):
            return None


def access_request(username: str, password: str, secret: bytes, *, attributes: Iterable[tuple[int, bytes]] = (),
                   message_authenticator: bool = True, require_message_authenticator: bool = False,
                   encoding: str = "utf-8") -> ClientRequest:
    """A PAP Access-Request: User-Name, the hidden User-Password, then `attributes`."""
    authenticator = new_request_authenticator()
    identifier = secrets.randbelow(256)
    body = [(USER_NAME, username.encode(encoding)),
            (USER_PASSWORD, hide_user_password(password.encode(encoding), secret, authenticator)), *attributes]
    data = encode_request(ACCESS_REQUEST, identifier, authenticator, body, secret,
                          message_authenticator=message_authenticator)
    return ClientRequest(data, identifier, authenticator, secret, require_message_authenticator)


def status_server(secret: bytes, nas_identifier: str) -> ClientRequest:
    """A Status-Server (RFC 5997), which always carries a Message-Authenticator."""
    authenticator = new_request_authenticator()
    identifier = secrets.randbelow(256)
    data = encode_request(STATUS_SERVER, identifier, authenticator, [(NAS_IDENTIFIER, nas_identifier.encode())],
                          secret)
    return ClientRequest(data, identifier, authenticator, secret)
