"""How one RADIUS datagram is decided: client, packet, secret, Message-Authenticator policy, retransmission, then the
duo_only flow. `receive` answers at once whatever needs no Duo call and hands back a Pending reply for the rest.
Only preauth finding Duo unreachable may fail open (docs/proxy.md, "When Duo fails")."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from duomfa import logline, radius
from duomfa.config import FailMode, MessageAuthenticatorPolicy, ProxySettings
from duomfa.duo import DuoApi, DuoApiError, DuoBadResponse, DuoBusy, DuoError, DuoFault, DuoUnavailable, PreauthResult
from duomfa.emf import DROP_REASONS
from duomfa.logline import JsonLog
from duomfa.proxy.clients import ClientEntry, ClientTable, SecretVersion
from duomfa.proxy.dedup import NO_REPLY, RequestKey, Retransmissions
from duomfa.proxy.dropnotices import DropNotices
from duomfa.proxy.metrics import ProxyMetrics
from duomfa.proxy.pushguard import PushGuard

A = radius.constants
FACTOR_WORD = re.compile(r"(push|phone|sms)([1-9][0-9]?)?", re.IGNORECASE)
PASSCODE = re.compile(r"[0-9]{6,16}")

PAP_REQUIRED_MSG = "PAP is required: set this RADIUS client's authentication protocol to PAP"
NO_USERNAME_MSG = "A username is required"
BAD_FACTOR_MSG = "Enter a passcode, or push, phone or sms (push2, phone2 … for another device)"
PUSH_GUARD_MSG = "Too many login requests for this user; wait a minute, or enter a passcode"
DUO_UNAVAILABLE_MSG = "Duo cannot be reached; try again later"
BUSY_MSG = "Too many logins at once; try again in a moment"
DUO_ERROR_MSG = "Duo refused the request; ask your administrator to check the proxy's Duo keys"
NOT_DUO_MSG = "The answer from Duo could not be trusted; ask your administrator to check the proxy's Duo settings"
FAULT_AFTER_PREAUTH_MSG = "Duo stopped answering during the login; try again"
NO_KEYS_MSG = "The proxy has no Duo keys; ask your administrator to check its configuration"
EXEMPT_MSG = "Exempt from Duo"
FAIL_OPEN_MSG = "Duo cannot be reached; logged in without a second factor (failmode safe)"


class _Redacted(str):
    def __repr__(self) -> str:
        return "'***'"


@dataclass(frozen=True)
class Factor:
    kind: str  # push | phone | sms | passcode
    device_number: int | None = None  # push2 → 2: the second device preauth lists
    passcode: str | None = field(default=None, repr=False)


def parse_factor(password: str) -> Factor | None:
    """What the user typed in the MFA code field, as a Duo factor; None when it is neither a word nor a passcode."""
    text = password.strip()
    word = FACTOR_WORD.fullmatch(text)
    if word:
        return Factor(word.group(1).lower(), int(word.group(2)) if word.group(2) else None)
    if PASSCODE.fullmatch(text):
        return Factor("passcode", passcode=_Redacted(text))
    return None


@dataclass(frozen=True, slots=True)
class Drop:
    """No reply: the datagram was dropped, for `reason` (a label of duomfa_radius_drops_total)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Pending:
    """The reply needs Duo: await `reply` (bytes, or None for no reply) and send it."""

    reply: Awaitable[bytes | None]


# what receive() gives the transport: reply bytes to send now, a Drop, or a Pending reply
Outcome = bytes | Drop | Pending
DROPS = {reason: Drop(reason) for reason in DROP_REASONS}


@dataclass(frozen=True)
class Decision:
    accept: bool
    reason: str  # for the log: why, in a few words
    reply_message: str | None
    txid: str | None = None
    duo_status: str | None = None


# answers that depend on nothing but the request's form: made once
EXEMPT = Decision(True, "exempt user", EXEMPT_MSG)
NOT_PAP = Decision(False, "not PAP", PAP_REQUIRED_MSG)
NO_USERNAME = Decision(False, "no username", NO_USERNAME_MSG)
UNREAD: Any = object()  # the password, not decrypted yet


@functools.lru_cache(maxsize=1024)
def _reply_message(text: str) -> tuple[tuple[tuple[int, bytes], ...], int]:
    """Reply-Message attributes for a text and their encoded size; Duo's messages repeat, so each is split and
    encoded once."""
    pieces = tuple(radius.split_text_attribute(A.REPLY_MESSAGE, text.encode("utf-8")))
    return pieces, sum(2 + len(value) for _, value in pieces)


REPLY_ROOM = radius.MAX_PACKET_LENGTH - 20 - 18  # a reply's attributes, after the header and Message-Authenticator


def _fit(pieces: tuple[tuple[int, bytes], ...], room: int) -> list[tuple[int, bytes]]:
    """As much of a Reply-Message as fits in `room` octets, cut between UTF-8 characters."""
    kept: list[tuple[int, bytes]] = []
    for kind, value in pieces:
        if 2 + len(value) <= room:
            kept.append((kind, value))
            room -= 2 + len(value)
            continue
        cut = room - 2
        while cut > 0 and value[cut] & 0xC0 == 0x80:  # not inside a character
            cut -= 1
        if cut > 0:
            kept.append((kind, value[:cut]))
        break
    return kept


@dataclass(frozen=True)
class Request:
    """An authenticated Access-Request that needs Duo."""

    key: RequestKey
    packet: radius.Packet
    secret: SecretVersion
    username: str
    factor: Factor
    client_ip: str | None
    received: float


class Pipeline:
    def __init__(self, settings: ProxySettings, clients: ClientTable, duo: DuoApi | None, metrics: ProxyMetrics,
                 log: JsonLog, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clients = clients
        self.duo = duo
        self.metrics = metrics
        self.log = log
        self.clock = clock
        self.guard = PushGuard(settings.max_pushes_per_user_per_minute)
        self.retransmissions = Retransmissions(settings.reply_cache_seconds)
        # compared exactly, as Duo's proxy does: no case or Unicode folding, no trimming
        self.exempt = frozenset(settings.exempt_usernames)
        # what matched before exact matching: a request that only matches these is warned about (for one release)
        self.formerly_exempt = {name.strip().lower(): name for name in settings.exempt_usernames}
        self.ma_clients: set[str] = set()  # addresses whose Access-Requests carried Message-Authenticator (auto)
        self.notices = DropNotices(log, clock)
        # a standard attribute's number, or (vendor id, vendor type) for a vendor attribute such as
        # PaloAlto-Client-Source-IP (client_ip_attr = paloalto)
        self.client_ip_attribute = radius.attribute_key(settings.client_ip_attr)
        self.pending_pushes = 0
        self.draining = False  # stopping: finish what is in flight, take nothing new

    # --- the synchronous part --------------------------------------------------------------------------------

    def receive(self, data: bytes, address: tuple[str, int]) -> Outcome:
        """Reply bytes to send back now, a Drop (stay silent), or a Pending reply."""
        started = self.clock()
        client_address, client_port = address[0], address[1]
        client = self.clients.lookup(client_address)
        if client is None:
            return self._drop("unknown_client", client_address)
        try:
            packet = radius.parse(data)
        except radius.MalformedPacket as exc:
            return self._drop("malformed", client_address, detail=exc.reason)
        if packet.code not in (A.ACCESS_REQUEST, A.STATUS_SERVER):
            return self._drop("unsupported_code", client_address, detail=str(packet.code))
        if client.status_only and packet.code != A.STATUS_SERVER:
            return self._drop("unknown_client", client_address, detail="status-server-only client")
        try:
            identified = self._identify_secret(client, packet)
        except radius.MalformedPacket as exc:
            return self._drop("malformed", client_address, detail=exc.reason)
        if isinstance(identified, str):
            return self._drop(identified, client_address)
        secret, password = identified  # password is UNREAD when Message-Authenticator identified the secret
        has_authenticator = packet.has(A.MESSAGE_AUTHENTICATOR)
        if has_authenticator:
            # learnt from Access-Requests only, as FreeRADIUS does: RFC 5997 makes it mandatory on Status-Server, so
            # a health check must not make a client that logs users in without it look like one that uses it
            if packet.code == A.ACCESS_REQUEST:
                self.ma_clients.add(client_address)
        elif self.settings.require_message_authenticator is MessageAuthenticatorPolicy.YES or (
                self.settings.require_message_authenticator is MessageAuthenticatorPolicy.AUTO
                and client_address in self.ma_clients):
            return self._drop("missing_message_authenticator", client_address)

        key: RequestKey = (client_address, client_port, packet.identifier, packet.authenticator)
        earlier = self.retransmissions.lookup(key, data)
        if earlier is not None:
            if isinstance(earlier, bytes):
                if earlier == NO_REPLY:
                    return self._drop("unanswerable", client_address, detail="a copy of a request with no reply")
                self.metrics.resent.inc()
                return earlier
            self.metrics.joined.inc()
            return Pending(earlier)  # the in-flight reply; the transport sends it to this copy too

        if self.draining:  # the client's retry goes to another proxy; Status-Server probes see this one going
            return self._drop("shutting_down", client_address)
        if packet.code == A.STATUS_SERVER:
            self.metrics.status_server.inc()
            self.log.debug("status_server", client=client_address, secret_version=secret.label)
            return radius.encode_reply(A.ACCESS_ACCEPT, packet, secret.secret, self._proxy_state(packet))

        username = self._username(packet)
        immediate: Decision | Factor | None = self._decide_without_duo(packet, username)
        if immediate is None:  # not decided by who the user is: what they typed decides, so read it now
            if password is UNREAD:
                try:
                    password = self._password(packet, secret)
                except radius.MalformedPacket as exc:
                    return self._drop("malformed", client_address, detail=exc.reason)
            factor = parse_factor(password) if password is not None else None
            immediate = factor if factor is not None else Decision(
                False, "invalid factor" if password else "no factor", BAD_FACTOR_MSG)
            factor_kind = factor.kind if factor is not None else ("invalid" if password else None)
        else:
            factor_kind = None
        if isinstance(immediate, Decision):
            reply = self._reply(packet, secret, immediate)
            self.retransmissions.remember(key, data, reply)
            self._log(client_address, username, factor_kind, immediate, secret, started)
            return reply
        assert immediate is not None  # a Factor: _decide_without_duo's None was replaced above
        request = Request(key, packet, secret, username or "", immediate, self._client_ip(packet), started)
        future = self.retransmissions.begin(key, data)
        return Pending(self._answer(request, future))

    def _drop(self, reason: str, client_address: str, detail: str | None = None) -> Drop:
        self.metrics.drop(reason)
        self.notices.note(reason, client_address)
        self.log.debug("drop", reason=reason, client=client_address, detail=detail)
        return DROPS[reason]

    def _identify_secret(self, client: ClientEntry, packet: radius.Packet) -> tuple[SecretVersion, str | None] | str:
        """The secret version that signed the request and the decrypted password, or a drop reason."""
        if packet.has(A.MESSAGE_AUTHENTICATOR):
            for version in client.secrets:
                if radius.verify_request_message_authenticator(packet, version.secret):
                    return version, UNREAD  # decrypted only if the decision needs it (exempt users do not)
            return "bad_message_authenticator"
        if packet.code == A.STATUS_SERVER:
            return "missing_message_authenticator"  # RFC 5997: Status-Server is only trusted with one
        hidden = packet.get(A.USER_PASSWORD)
        if hidden is None:
            # CHAP, EAP or nothing, without Message-Authenticator: nothing in it depends on the secret. A reply signed
            # with the secret would let anyone test guesses of a weak secret offline, so there is none
            return "unverifiable"
        candidates = []
        for version in client.secrets:
            password = self._password(packet, version)
            if password is not None:
                candidates.append((version, password))
        if not candidates:
            return "bad_secret"
        if len(candidates) == 1:
            return candidates[0]
        well_formed = [c for c in candidates if parse_factor(c[1]) is not None]
        if len(well_formed) == 1:
            return well_formed[0]
        return "ambiguous_secret"

    def _password(self, packet: radius.Packet, version: SecretVersion) -> str | None:
        """The PAP password under this secret, if it decrypts cleanly (zero padding, decodable, printable)."""
        hidden = packet.get(A.USER_PASSWORD)
        if hidden is None:
            return None
        plain = radius.pap_password(hidden, version.secret, packet.authenticator)
        if plain is None:
            return None
        try:
            text = plain.decode(self.settings.pw_codec)
        except UnicodeDecodeError:
            return None
        return text if text.isprintable() else None

    def _username(self, packet: radius.Packet) -> str | None:
        """The User-Name as sent: not trimmed, not folded (Duo's proxy passes it on as it is)."""
        raw = packet.get(A.USER_NAME)
        if not raw:
            return None
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return name if name.strip() and name.isprintable() else None

    def _client_ip(self, packet: radius.Packet) -> str | None:
        """The user's address for Duo, from the configured attribute; None (no ipaddr) when it is missing or is not
        an address — for a vendor attribute, also when its Vendor-Specific is malformed."""
        where = self.client_ip_attribute
        raw = packet.get(where) if isinstance(where, int) else radius.first_vendor_attribute(packet, *where)
        if raw is None:
            return None
        try:
            return str(ipaddress.ip_address(raw.decode("ascii").strip()))
        except (ValueError, UnicodeDecodeError):
            pass
        if len(raw) in (4, 16):  # an address attribute such as Framed-IP-Address carries the octets
            return str(ipaddress.ip_address(raw))
        return None

    @staticmethod
    def _uses_other_protocol(packet: radius.Packet) -> bool:
        return packet.has(A.CHAP_PASSWORD) or packet.has(A.EAP_MESSAGE) or radius.uses_ms_chap(packet)

    def _decide_without_duo(self, packet: radius.Packet, username: str | None) -> Decision | None:
        """The answer when who is asking, or how, decides it; None when the factor must be read."""
        if self._uses_other_protocol(packet):
            return NOT_PAP
        if username is None:
            return NO_USERNAME
        if username in self.exempt:
            return EXEMPT
        if self.formerly_exempt and (entry := self.formerly_exempt.get(username.strip().lower())) is not None:
            self.log.event("WARNING", "exempt_mismatch", username=username, exempt_entry=entry,
                           detail="would have been exempt before; now needs Duo: exempt users are matched exactly "
                                  "(case and spaces count), as Duo's proxy matches them")
        return None

    def _proxy_state(self, packet: radius.Packet) -> list[tuple[int, bytes]]:
        return [(A.PROXY_STATE, value) for value in packet.get_all(A.PROXY_STATE)]

    def _reply(self, packet: radius.Packet, secret: SecretVersion, decision: Decision) -> bytes:
        proxy_state = self._proxy_state(packet)
        attributes: list[tuple[int, bytes]] = []
        if decision.reply_message:
            pieces, size = _reply_message(decision.reply_message)
            room = REPLY_ROOM - sum(2 + len(value) for _, value in proxy_state)
            # Proxy-State must go back whole (RFC 2865 §5.33); a long message from Duo is what gets trimmed
            attributes = list(pieces) if size <= room else _fit(pieces, room)
        attributes.extend(proxy_state)
        code = A.ACCESS_ACCEPT if decision.accept else A.ACCESS_REJECT
        self.metrics.requests["accept" if decision.accept else "reject"].inc()
        if decision is EXEMPT:
            self.metrics.exempt.inc()
        return radius.encode_reply(code, packet, secret.secret, attributes)

    def _log(self, client_address: str, username: str | None, factor: str | None, decision: Decision,
             secret: SecretVersion, started: float) -> None:
        latency = round((self.clock() - started) * 1000, 2)
        self.log.auth(client=client_address, username=username, factor=factor,
                      result="accept" if decision.accept else "reject", reason=decision.reason,
                      duo_status=decision.duo_status, txid=decision.txid,
                      latency_ms=latency, secret_version=secret.label)
        self.metrics.login_latency.observe(latency)

    # --- the part that asks Duo ------------------------------------------------------------------------------

    async def _answer(self, request: Request, future: asyncio.Future[bytes | None]) -> bytes | None:
        reply: bytes | None = None
        try:
            decision = await self.decide(request)
            reply = self._reply(request.packet, request.secret, decision)
            self._log(request.key[0], request.username, request.factor.kind, decision, request.secret,
                      request.received)
        except Exception as exc:  # a bug must cost one request, never the server
            self.metrics.drop("internal_error")
            self.log.event("ERROR", "internal_error", client=request.key[0], username=request.username,
                           error=type(exc).__name__, detail=str(exc)[:200])
        finally:
            self.retransmissions.finish(request.key, future, reply)
        return reply

    async def decide(self, request: Request) -> Decision:
        factor = request.factor
        if factor.kind in ("push", "phone") and not self.guard.allow(request.username):
            self.metrics.push_guard.inc()
            return Decision(False, "push guard", PUSH_GUARD_MSG)
        duo = self.duo
        if duo is None:  # missing or unusable keys are a configuration fault, never "Duo unreachable"
            self.metrics.duo_errors.labels("no_keys").inc()
            return Decision(False, "no duo keys", NO_KEYS_MSG)
        try:
            preauth = await duo.preauth(request.username, ipaddr=request.client_ip)
        except DuoUnavailable as exc:  # the one case where failmode decides
            self.metrics.duo_errors.labels(exc.reason).inc()
            return self._duo_unreachable(request, exc.reason)
        except DuoError as exc:
            return self._duo_failed(request, exc, after_preauth=False)
        if preauth.result == "allow":
            return Decision(True, "preauth allow", preauth.status_msg, duo_status="allow")
        if preauth.result in ("deny", "enroll"):
            return Decision(False, f"preauth {preauth.result}", preauth.status_msg, duo_status=preauth.result)
        if preauth.result != "auth":  # DuoClient refuses these itself; another DuoApi might not
            return self._duo_failed(request, DuoBadResponse("bad_response", f"unknown preauth result "
                                                            f"{preauth.result[:40]!r}", endpoint="preauth"),
                                    after_preauth=False)
        try:  # Duo has asked for a second factor: from here on, no failure lets anyone in
            return await self._auth(request, duo, preauth)
        except DuoError as exc:
            return self._duo_failed(request, exc, after_preauth=True)

    def _duo_failed(self, request: Request, exc: DuoError, *, after_preauth: bool) -> Decision:
        """A reject for any Duo failure that failmode must not act on."""
        if isinstance(exc, DuoBusy):  # this proxy is overloaded, Duo may be fine
            self.metrics.duo_errors.labels("busy").inc()
            return Decision(False, "proxy busy", BUSY_MSG)
        if isinstance(exc, DuoApiError):
            self.metrics.duo_errors.labels(f"http_{exc.http_status}").inc()
            self.log.event("ERROR", logline.DUO_ERROR, username=request.username, endpoint=exc.endpoint,
                           http_status=exc.http_status, code=exc.code, message=exc.message)
            return Decision(False, f"duo error {exc.http_status} {exc.code}", DUO_ERROR_MSG)
        assert isinstance(exc, DuoFault)
        self.metrics.duo_errors.labels(exc.reason).inc()
        if after_preauth:
            self.metrics.faults_after_preauth.labels(exc.reason).inc()
            self.log.event("ERROR", logline.DUO_FAULT_AFTER_PREAUTH, username=request.username, client=request.key[0],
                           endpoint=exc.endpoint, fault=exc.reason, http_status=exc.http_status,
                           detail=exc.message[:200])
            return Decision(False, f"duo fault after preauth: {exc.endpoint} {exc.reason}", FAULT_AFTER_PREAUTH_MSG)
        self.log.event("ERROR", logline.DUO_ERROR, username=request.username, endpoint=exc.endpoint, fault=exc.reason,
                       http_status=exc.http_status, message=exc.message[:200])
        return Decision(False, f"not duo: {exc.endpoint} {exc.reason}", NOT_DUO_MSG)

    async def _auth(self, request: Request, duo: DuoApi, preauth: PreauthResult) -> Decision:
        factor = request.factor
        if factor.kind == "passcode":
            result = await duo.auth("passcode", request.username, passcode=str(factor.passcode),
                                         ipaddr=request.client_ip)
            return Decision(result.result == "allow", f"passcode {result.status}", result.status_msg,
                            duo_status=result.status)
        device = "auto"
        if factor.device_number is not None:
            capable = [d for d in preauth.devices if factor.kind in d.capabilities]
            if factor.device_number > len(capable):
                return Decision(False, f"no device {factor.device_number} for {factor.kind}",
                                f"No device number {factor.device_number} can receive {factor.kind}")
            device = capable[factor.device_number - 1].device
        elif not any(factor.kind in d.capabilities for d in preauth.devices):
            return Decision(False, f"no device for {factor.kind}", f"No device can receive {factor.kind}")
        if factor.kind == "sms":
            result = await duo.auth("sms", request.username, device=device, ipaddr=request.client_ip)
            return Decision(False, f"sms {result.status}", result.status_msg, duo_status=result.status)
        deadline = request.received + self.settings.push_wait_seconds
        self.pending_pushes += 1
        self.metrics.pending_pushes.inc()
        try:
            result = await duo.auth_and_wait(factor.kind, request.username, device=device,
                                                  ipaddr=request.client_ip, pushinfo=self._pushinfo(request),
                                                  deadline=deadline)
        finally:
            self.pending_pushes -= 1
            self.metrics.pending_pushes.dec()
        return Decision(result.result == "allow", f"{factor.kind} {result.status}", result.status_msg,
                        txid=result.txid, duo_status=result.status)

    def _pushinfo(self, request: Request) -> str:
        info = {"from": "AWS Directory Service (duomfa)"}
        if request.client_ip:
            info["client_ip"] = request.client_ip
        return urllib.parse.urlencode(info)

    def _duo_unreachable(self, request: Request, reason: str) -> Decision:
        if self.settings.failmode is FailMode.SAFE:
            self.metrics.fail_open.inc()
            self.log.event("WARNING", logline.FAIL_OPEN, username=request.username, client=request.key[0],
                           reason=reason, failmode="safe")
            return Decision(True, f"fail open: duo unavailable ({reason})", FAIL_OPEN_MSG)
        self.metrics.fail_closed.inc()
        return Decision(False, f"fail closed: duo unavailable ({reason})", DUO_UNAVAILABLE_MSG)
