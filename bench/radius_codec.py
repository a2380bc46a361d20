"""Times the proxy's RADIUS hot path with our codec and with pyrad, in one thread of one process, on the same bytes.

One cycle: parse an Access-Request carrying a Message-Authenticator, verify it, PAP-decrypt the password, and
encode an Access-Accept with Message-Authenticator, a Reply-Message and the request's Proxy-State.

    .venv/bin/python bench/radius_codec.py [--seconds 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import platform
import ssl
import sys
import time
import timeit
from collections.abc import Callable
from importlib.metadata import version

import pyrad.dictionary
import pyrad.packet

from duomfa import radius

SECRET = b"bench-shared-secret"
PASSWORD = "123456"
REPLY_MESSAGE = b"Success. Logging you in..."
PYRAD_DICTIONARY = """
ATTRIBUTE User-Name 1 string
ATTRIBUTE User-Password 2 string encrypt=1
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Reply-Message 18 string
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Proxy-State 33 octets
ATTRIBUTE Message-Authenticator 80 octets
"""


def request_bytes() -> bytes:
    """A typical AWS Directory Service request: user, PAP password, NAS details, one Proxy-State, MA first."""
    authenticator = radius.new_request_authenticator()
    return radius.encode_request(radius.ACCESS_REQUEST, 17, authenticator, [
        (radius.USER_NAME, b"alice@corp.example.com"),
        (radius.USER_PASSWORD, radius.hide_user_password(PASSWORD.encode(), SECRET, authenticator)),
        (radius.NAS_IP_ADDRESS, bytes([10, 0, 1, 25])),
        (radius.NAS_IDENTIFIER, b"d-9067012345"),
        (radius.CALLING_STATION_ID, b"198.51.100.23"),
        (radius.PROXY_STATE, b"proxy-state-0001"),
    ], SECRET)


def ours(data: bytes) -> bytes:
    request = radius.parse(data)
    if not radius.verify_request_message_authenticator(request, SECRET):
        raise AssertionError("Message-Authenticator")
    password = radius.pap_password(request.get(radius.USER_PASSWORD), SECRET, request.authenticator)
    if password is None:
        raise AssertionError("password")
    return radius.encode_reply(radius.ACCESS_ACCEPT, request, SECRET, [
        (radius.REPLY_MESSAGE, REPLY_MESSAGE),
        *[(radius.PROXY_STATE, value) for value in request.get_all(radius.PROXY_STATE)]])


def with_pyrad(dictionary: pyrad.dictionary.Dictionary) -> Callable[[bytes], bytes]:
    def cycle(data: bytes) -> bytes:
        request = pyrad.packet.AuthPacket(packet=data, secret=SECRET, dict=dictionary)
        if not request.verify_message_authenticator():
            raise AssertionError("Message-Authenticator")
        if not request.PwDecrypt(request[2][0]):
            raise AssertionError("password")
        reply = request.CreateReply()  # copies Proxy-State, adds a Message-Authenticator
        reply["Reply-Message"] = REPLY_MESSAGE.decode()
        return reply.ReplyPacket()
    return cycle


def check_both_agree(data: bytes, dictionary: pyrad.dictionary.Dictionary) -> None:
    """Both implementations must produce replies the other side accepts, or the timing compares nothing."""
    request = radius.parse(data)
    for reply in (ours(data), with_pyrad(dictionary)(data)):
        parsed = radius.verify_reply(reply, request.authenticator, SECRET, require_message_authenticator=True)
        assert parsed.get(radius.REPLY_MESSAGE) == REPLY_MESSAGE
        assert parsed.get_all(radius.PROXY_STATE) == request.get_all(radius.PROXY_STATE)
        peer = pyrad.packet.AuthPacket(packet=data, secret=SECRET, dict=dictionary)
        assert peer.VerifyReply(peer.CreateReply(packet=reply), reply, enforce_ma=True)


def cycles_per_second(cycle: Callable[[bytes], bytes], data: bytes, seconds: float) -> float:
    batch, done = 2000, 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            cycle(data)
        done += batch
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and implementation")
    parser.add_argument("--rounds", type=int, default=3, help="the best round counts")
    arguments = parser.parse_args()

    dictionary = pyrad.dictionary.Dictionary(io.StringIO(PYRAD_DICTIONARY))
    data = request_bytes()
    check_both_agree(data, dictionary)

    implementations = {"duomfa.radius": ours, f"pyrad {version('pyrad')}": with_pyrad(dictionary)}
    best = {name: 0.0 for name in implementations}
    for _ in range(arguments.rounds):
        for name, cycle in implementations.items():  # interleaved, so background load hits both alike
            best[name] = max(best[name], cycles_per_second(cycle, data, arguments.seconds))

    print(f"RADIUS hot-path cycle ({len(data)}-octet Access-Request with MA -> verify MA -> PAP -> "
          "Access-Accept with MA + Reply-Message + Proxy-State)")
    print(f"Python {platform.python_version()}, {ssl.OPENSSL_VERSION}, {platform.machine()}, one thread, "
          f"best of {arguments.rounds} x {arguments.seconds:g} s")
    # pure-interpreter speed, to compare figures taken on different (or busy) machines
    yardstick = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    print(f"  machine yardstick: sum(range(1000)) takes {yardstick:.1f} us")
    for name, rate in best.items():
        print(f"  {name:<14} {rate:>10,.0f} cycles/s  {1e6 / rate:6.2f} us/cycle")
    ours_rate, pyrad_rate = best.values()
    print(f"  ratio          {ours_rate / pyrad_rate:10.2f}x")


if __name__ == "__main__":
    sys.exit(main())
