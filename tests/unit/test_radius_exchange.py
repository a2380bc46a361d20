"""The client side of an exchange, sans-IO: which datagram is the verified reply to a request."""

from __future__ import annotations

from duomfa import radius
from duomfa.radius.exchange import access_request, status_server

A = radius.constants
SECRET = b"exchange-secret"


def reply_to(request, code=A.ACCESS_ACCEPT, secret=SECRET, identifier=None):
    packet = radius.parse(request.data)
    if identifier is not None:
        packet = radius.parse(bytes([packet.code, identifier]) + request.data[2:])
    return radius.encode_reply(code, packet, secret, [])


def test_the_reply_signed_with_the_secret_matches():
    request = access_request("alice", "push", SECRET)
    reply = request.match(reply_to(request))
    assert reply is not None and reply.code == A.ACCESS_ACCEPT


def test_a_reply_to_another_request_or_with_another_secret_does_not():
    request = access_request("alice", "push", SECRET)
    other = (request.identifier + 1) % 256
    assert request.match(reply_to(request, identifier=other)) is None and not request.is_for(
        reply_to(request, identifier=other))
    forged = reply_to(request, secret=b"someone-else")
    assert request.is_for(forged) and request.match(forged) is None
    assert request.match(b"\x02" + bytes([request.identifier]) + b"junk") is None


def test_the_request_carries_a_hidden_password_and_a_message_authenticator():
    request = access_request("alice", "123456", SECRET, attributes=[(A.NAS_IDENTIFIER, b"here")])
    packet = radius.parse(request.data)
    assert radius.verify_request_message_authenticator(packet, SECRET)
    assert radius.pap_password(packet.get(A.USER_PASSWORD), SECRET, packet.authenticator) == b"123456"
    assert packet.get(A.NAS_IDENTIFIER) == b"here" and "exchange-secret" not in repr(request)


def test_status_server_is_always_signed():
    request = status_server(SECRET, "probe")
    packet = radius.parse(request.data)
    assert packet.code == A.STATUS_SERVER and radius.verify_request_message_authenticator(packet, SECRET)
