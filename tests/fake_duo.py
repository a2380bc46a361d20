"""A fault-injecting Duo for tests: Auth API v2's preauth, auth and auth_status over real HTTPS, each answering
normally or with one chosen fault — including faults of the connection itself (refused, reset, DNS failure, a
certificate from an untrusted CA), armed for exactly the call they are meant for.

Every answer closes its connection, so each call opens a new one: that is what lets a connection fault hit one
endpoint and not the one before it. Names are resolved through `resolver` (never real DNS): pass it to DuoClient.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
import struct
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST_NAME = "duo.test"  # resolved by FakeResolver only; .test is reserved for testing (RFC 2606)
ENDPOINTS = ("preauth", "auth", "auth_status")
NEXT_CALL = {"preauth": "auth", "auth": "auth_status"}  # what a login asks after each answer
# faults of the connection: armed before the call they are for
CONNECTION_FAULTS = ("refused", "dns", "untrusted_cert")
ANSWER_FAULTS = ("timeout", "reset", "500", "502_html", "302", "200_html", "200_json", "unknown_result", "401",
                 "429")
FAULTS = CONNECTION_FAULTS + ANSWER_FAULTS
# what the proxy may call "Duo could not be reached"; every other fault is an answer that is not Duo's, or Duo's no
UNREACHABLE_FAULTS = frozenset({"timeout", "reset", "refused", "dns", "500", "502_html"})
PASSCODE = "123456"
TXID = "5e2ba3c5-0c0e-4f3e-a2f5-6f3b1b1c0a11"
DEVICE = {"device": "DPFAKE00000000000001", "type": "phone", "number": "XXX-XXX-0001", "name": "phone",
          "display_name": "phone (XXX-XXX-0001)", "capabilities": ["auto", "push", "sms", "phone", "mobile_otp"]}


def _certificate(path: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
                 names: list[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2)))
    if issuer is None:  # a CA
        builder = builder.issuer_name(subject).add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        signer = key
    else:
        sans: list[x509.GeneralName] = []
        for entry in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                sans.append(x509.DNSName(entry))
        builder = (builder.issuer_name(issuer[0].subject)
                   .add_extension(x509.SubjectAlternativeName(sans), False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True))
        signer = issuer[1]
    cert = builder.sign(signer, hashes.SHA256())
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (path / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return cert, key


@dataclass(frozen=True)
class Certificates:
    """A trusted CA with a server certificate for duo.test and 127.0.0.1, and one from a CA nobody trusts."""

    directory: Path

    @classmethod
    def make(cls, directory: Path) -> Certificates:
        names = [HOST_NAME, "127.0.0.1"]
        trusted_ca = _certificate(directory, "ca", None, [])
        _certificate(directory, "server", trusted_ca, names)
        _certificate(directory, "impostor", _certificate(directory, "impostor-ca", None, []), names)
        return cls(directory)

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    def context(self, which: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.directory / f"{which}.pem", self.directory / f"{which}.key")
        return context


class FakeResolver(AbstractResolver):
    """duo.test → 127.0.0.1, or a failed lookup while `failing`."""

    def __init__(self) -> None:
        self.failing = False

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        if self.failing or host != HOST_NAME:
            raise OSError(socket.EAI_NONAME, f"cannot resolve {host}")  # what aiohttp's own resolvers raise
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


@dataclass
class FaultyDuo:
    """preauth → auth → auth_status, each normal unless `faults` names a fault for it."""

    certificates: Certificates
    faults: dict[str, str] = field(default_factory=dict)
    push_result: str = "allow"  # what auth_status finally says for a push
    calls: list[str] = field(default_factory=list)
    resolver: FakeResolver = field(default_factory=FakeResolver)
    port: int = 0

    def __post_init__(self) -> None:
        self._context = self.certificates.context("server")
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._serving_thread: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None

    @property
    def api_host(self) -> str:
        """For in-process clients with `resolver`; a subprocess uses `address`."""
        return f"{HOST_NAME}:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # running
    async def start(self) -> FaultyDuo:
        app = web.Application()
        app.router.add_route("*", "/auth/v2/{endpoint}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._context)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._arm("preauth")
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def start_in_thread(self) -> FaultyDuo:
        """Serve from a thread of its own, for a proxy running as another process."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        started.wait(10)
        self._serving_thread = (loop, thread)
        return self

    def stop_thread(self) -> None:
        if self._serving_thread is not None:
            loop, thread = self._serving_thread
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    async def reset(self, faults: dict[str, str] | None = None, push_result: str = "allow") -> None:
        """New faults for the next login; listens again if a "refused" fault had stopped it."""
        self.faults = dict(faults or {})
        self.push_result = push_result
        self.calls.clear()
        if self._site is not None and not self._site._server.is_serving():  # type: ignore[union-attr]
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._context)  # type: ignore[arg-type]
            await self._site.start()
        self._arm("preauth")

    def reset_from_another_thread(self, faults: dict[str, str] | None = None, push_result: str = "allow") -> None:
        assert self._serving_thread is not None
        asyncio.run_coroutine_threadsafe(self.reset(faults, push_result), self._serving_thread[0]).result(10)

    # arming connection faults
    def _arm(self, endpoint: str | None) -> None:
        fault = self.faults.get(endpoint) if endpoint else None
        self.resolver.failing = fault == "dns"
        self._use_certificate("impostor" if fault == "untrusted_cert" else "server")
        if fault == "refused" and self._site is not None:
            self._site._server.close()  # type: ignore[union-attr]  # stop listening: connections are refused

    def _use_certificate(self, which: str) -> None:
        # the listening socket keeps its context; a new chain in it serves every later handshake
        self._context.load_cert_chain(self.certificates.directory / f"{which}.pem",
                                      self.certificates.directory / f"{which}.key")

    # answering
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        self.calls.append(endpoint)
        params = await self._params(request)
        fault = self.faults.get(endpoint)
        response = await self._faulty(request, fault) if fault in ANSWER_FAULTS else self._normal(endpoint, params)
        response.force_close()
        following = NEXT_CALL.get(endpoint)
        if endpoint == "auth" and params.get("async") != "1":
            following = None  # a synchronous auth is the last call
        self._arm(following)
        return response

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        if request.method == "GET":
            return dict(request.query)
        body = await request.read()
        try:
            return {str(k): str(v) for k, v in json.loads(body).items()}
        except ValueError:
            return dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))

    def _normal(self, endpoint: str, params: dict[str, str]) -> web.Response:
        if endpoint == "preauth":
            return _ok({"result": "auth", "status_msg": "Account is active", "devices": [DEVICE]})
        if endpoint == "auth":
            if params.get("factor") == "passcode":
                allowed = params.get("passcode") == PASSCODE
                return _ok({"result": "allow" if allowed else "deny", "status": "allow" if allowed else "deny",
                            "status_msg": "Success. Logging you in..." if allowed else "Incorrect passcode."})
            if params.get("async") == "1":
                return _ok({"txid": TXID})
            return _ok({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."})
        if endpoint == "auth_status":
            allowed = self.push_result == "allow"
            return _ok({"result": self.push_result, "status": self.push_result,
                        "status_msg": "Success. Logging you in..." if allowed else "Login request denied."})
        return web.json_response({"stat": "FAIL", "code": 40400, "message": "Resource not found"}, status=404)

    async def _faulty(self, request: web.Request, fault: str | None) -> web.StreamResponse:
        if fault == "timeout":
            await asyncio.sleep(3600)
        if fault == "reset":
            transport = request.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:  # linger 0: close with a RST, not a FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            return web.Response(status=500)
        if fault == "500":
            return web.json_response({"stat": "FAIL", "code": 50000, "message": "Internal error"}, status=500)
        if fault == "502_html":
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if fault == "302":
            return web.Response(status=302, headers={"Location": "https://login.captive.test/"})
        if fault == "200_html":
            return web.Response(text="<html><body>Please sign in to the network</body></html>",
                                content_type="text/html")
        if fault == "200_json":
            return web.json_response({"hello": "this is not Duo"})
        if fault == "unknown_result":
            return _ok({"result": "maybe", "status": "maybe", "status_msg": "?", "devices": [DEVICE]})
        if fault == "401":
            return web.json_response({"stat": "FAIL", "code": 40103,
                                      "message": "Invalid signature in request credentials"}, status=401)
        if fault == "429":
            return web.json_response({"stat": "FAIL", "code": 42901, "message": "Too Many Requests"}, status=429)
        raise AssertionError(f"unknown fault {fault!r}")


def _ok(response: dict[str, Any]) -> web.Response:
    return web.json_response({"stat": "OK", "response": response})
