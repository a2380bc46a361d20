"""`duomfa doctor -c FILE`: the configuration, the UDP port, FIPS mode (when asked for), the secrets source, Duo,
and (with --probe) a running proxy."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from duomfa import fips, radius
from duomfa.config import ConfigError, ProxySettings, load_settings
from duomfa.doctor.checks import (
    CLOCK_FAIL_SECONDS,
    CLOCK_WARN_SECONDS,
    DIRECTORY_PORTS,
    DUO_TIMEOUT_SECONDS,
    FAIL,
    OK,
    WARN,
    Check,
)
from duomfa.duo import DuoApiError, DuoClient, DuoFault
from duomfa.proxy.secrets_source import SecretsSourceError, SourceState, build_client_table, open_source
from duomfa.proxy.secrets_source import resolve_duo_keys as duo_keys  # the proxy's own rule: the secret's keys win
from duomfa.radius.exchange import status_server
from duomfa.radius_udp import exchange
from duomfa.secret_document import RADIUS_SECRET

# --- local: the configuration, the port, the secrets, Duo, a running proxy ---------------------------------------

def check_config(path: Path | None, environ: Mapping[str, str]) -> tuple[Check, ProxySettings | None]:
    where = str(path) if path is not None else "the DUOMFA_* environment variables"
    try:
        settings = load_settings(path, environ)
    except ConfigError as exc:
        return Check("config", FAIL, str(exc),
                     exc.fix or "correct each setting named above; docs/proxy.md lists every key"), None
    kind = settings.secrets_source.kind
    detail = (f"{where} loads: UDP {settings.interface}:{settings.port}, {len(settings.clients)} RADIUS client "
              f"setting(s), failmode {settings.failmode}, secrets_source {kind}")
    without_effect = [m.group(1) for n in settings.notices if (m := _NO_EFFECT.search(n))]
    others = [n for n in settings.notices if not _NO_EFFECT.search(n)]
    if without_effect:
        detail += f"; accepted without effect: {', '.join(without_effect)}"
    if others:
        return Check("config", WARN, detail + "; and:\n  " + "\n  ".join(others),
                     "read each line above: the proxy does not do what the file seems to ask"), settings
    return Check("config", OK, detail), settings


_NO_EFFECT = re.compile(r": (\w+) has no effect: ")


def check_fips(origin: str | None) -> Check:
    """fips_mode = true: the proxy's own start check, without starting it."""
    try:
        setup = fips.prepare(True, origin)
    except fips.FipsUnavailable as exc:
        return Check("fips", FAIL, exc.finding, f"to run in FIPS mode, {fips.HOW_TO_RUN}")
    except fips.CryptoSelfTestFailed as exc:
        return Check("fips", FAIL, str(exc), "use a Python built with its own MD5 (_md5), as python.org's and "
                                             "Debian's are")
    provider = f"{setup.fips_provider} " if setup.fips_provider else "a FIPS provider "
    return Check("fips", OK, f"OpenSSL ({setup.openssl}) runs with {provider}enforced; RADIUS's MD5 runs outside it "
                             f"({setup.radius_md5}, self-tested)")


def _bind_udp(interface: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:  # no SO_REUSEADDR: a running proxy must show as "in use"
        sock.bind((interface, port))


def _bind_tcp(interface: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((interface, port))


def check_port(settings: ProxySettings, bind: Callable[[str, int], None] = _bind_udp) -> Check:
    """The RADIUS port (UDP `port`)."""
    check = _check_bind("port", "UDP", settings.interface, settings.port, "port", bind)
    if check.status == OK and settings.port not in DIRECTORY_PORTS:
        return Check("port", WARN, f"{check.detail}, but Directory Service sends RADIUS only to ports 1025–65535",
                     "choose a port from 1025 (1812 is RADIUS's own)")
    return check


def check_http_port(settings: ProxySettings, bind: Callable[[str, int], None] = _bind_tcp) -> Check | None:
    """The health and metrics listener (TCP `http_port`); None when there is none or the OS picks it."""
    if not settings.http_port:
        return None
    return _check_bind("http-port", "TCP", settings.http_interface, settings.http_port, "http_port", bind)


def _check_bind(name: str, protocol: str, interface: str, port: int, option_name: str,
                bind: Callable[[str, int], None]) -> Check:
    where = f"{protocol} {interface}:{port} ({option_name})"
    try:
        bind(interface, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            flag = "u" if protocol == "UDP" else "t"
            return Check(name, WARN, f"{where} is in use — is the proxy already running?",
                         "if it is, `--probe` checks that it answers; if not, stop what holds the port "
                         f"(`ss -{flag}lpn 'sport = :{port}'`) or choose another {option_name}")
        if exc.errno == errno.EACCES and port < 1024:
            return Check(name, FAIL, f"{where}: permission denied (ports below 1024 need privileges)",
                         f"choose a {option_name} from 1025 (for RADIUS, Directory Service takes 1025–65535; 1812 is "
                         "RADIUS's own), or grant the interpreter CAP_NET_BIND_SERVICE")
        if exc.errno == errno.EADDRNOTAVAIL:
            return Check(name, FAIL, f"{where}: {interface} is not an address of this host",
                         "set the interface to one of this host's addresses, or leave it out to listen on all")
        return Check(name, FAIL, f"{where} cannot be bound: {exc.strerror or exc}",
                     f"check the interface and {option_name} settings")
    return Check(name, OK, f"{where} can be bound")


async def check_secrets(settings: ProxySettings) -> tuple[Check, SourceState | None]:
    """The secrets source can be read, and leaves the proxy at least one RADIUS client."""
    source_text = str(settings.secrets_source)
    try:
        source = open_source(settings)
        state = await source.read() if source.refreshes else None
    except (ConfigError, SecretsSourceError) as exc:
        if settings.secrets_source.kind == "aws-secretsmanager":
            fix = ("check the credentials and region, and secretsmanager:GetSecretValue and DescribeSecret (and "
                   "kms:Decrypt) on the secret; `aws secretsmanager get-secret-value --secret-id ARN` shows what "
                   "the proxy would get")
        else:
            fix = "check that the file exists, is readable, and holds the JSON described in docs/proxy.md"
        return Check("secrets", FAIL, f"{source_text}: {exc}", fix), None
    clients = build_client_table(settings, state)
    if state is None:
        detail = f"inline: {len(settings.clients)} shared secret(s) in the configuration"
    else:
        labels = ", ".join(version.label for version in state.versions)
        detail = (f"{settings.secrets_source.kind}: {len(state.versions)} secret version(s) ({labels}), "
                  f"{len(state.clients)} client address block(s) from the secret")
    if len(clients) == 0:
        return Check("secrets", FAIL, f"{detail}; no RADIUS client has a shared secret, so the proxy answers nobody",
                     "add radius_ip_N with radius_secret_N, or radius_clients with a secrets source that holds a "
                     f"{RADIUS_SECRET}"), state
    return Check("secrets", OK, f"{detail}; {len(clients)} client address block(s) in all"), state


UNAVAILABLE_FIXES = {
    "dns": "check api_host / DNS: the name must resolve from this host (`getent hosts {host}`); copy api_host from "
           "the Duo Admin Panel",
    "tls_verify": "check ca_certs: the certificate is not trusted — leave ca_certs unset for Duo's own CA bundle; "
                  "behind a TLS-inspecting web proxy, put its CA in ca_certs",
    "tls": "check api_host and api_port: what answers there does not speak TLS as Duo does",
    "connect": "check outbound HTTPS 443 / http_proxy: this host (on AWS, the proxies' security group, route and NAT "
               "gateway) must reach {host}:443, or set http_proxy_host and http_proxy_port",
    "timeout": "check outbound HTTPS 443 / http_proxy: nothing answered in time — a firewall that drops packets, a "
               "missing NAT gateway, or a web proxy that is needed (http_proxy_host)",
    "http_5xx": "Duo answered with a server error: see status.duo.com and try again",
    "bad_response": "something that is not Duo answered: check api_host and any web proxy in between",
    "truncated": "Duo's answer broke off: check any web proxy or firewall in between, then try again",
}


def _unavailable(name: str, duo: DuoClient, exc: DuoFault) -> Check:
    return Check(name, FAIL, f"{duo.api_host}: {exc.reason}: {exc.message}",
                 UNAVAILABLE_FIXES[exc.reason].format(host=duo.api_host))


async def check_duo_ping(duo: DuoClient) -> tuple[Check, float | None]:
    """Duo answers /ping (unsigned: reachability, DNS, TLS trust); also returns Duo's clock minus ours."""
    before, started = time.time(), time.perf_counter()
    try:
        duo_time = await duo.ping()
    except DuoFault as exc:
        return _unavailable("duo-ping", duo, exc), None
    elapsed = time.perf_counter() - started
    skew = duo_time - (before + elapsed / 2)
    return Check("duo-ping", OK, f"{duo.api_host} answered /ping in {elapsed * 1000:.0f} ms"), skew


def check_clock(skew: float) -> Check:
    """`skew` is Duo's clock minus ours, in seconds (Duo's has a resolution of one second)."""
    how = f"{abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} Duo's"
    fix = ("synchronise the clock with NTP (chronyd or systemd-timesyncd; on AWS the Amazon Time Sync Service, "
           "169.254.169.123)")
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return Check("clock", FAIL, f"the local clock is {how}: Duo rejects signed requests more than 5 minutes "
                     "off", fix)
    if abs(skew) > CLOCK_WARN_SECONDS:
        return Check("clock", WARN, f"the local clock is {how} (Duo rejects signatures over 5 minutes off)", fix)
    return Check("clock", OK, f"the local clock is within {max(abs(skew), 1):.0f} s of Duo's")


async def check_duo_keys(duo: DuoClient, skew: float | None = None) -> Check:
    """Duo accepts the ikey and skey on a signed /check."""
    try:
        await duo.check()
    except DuoApiError as exc:
        if exc.http_status == 401:
            fix = ("ikey/skey do not match api_host: copy all three from the same application in the Duo Admin "
                   "Panel (Applications → the RADIUS application)")
            if skew is not None and abs(skew) > CLOCK_FAIL_SECONDS:
                fix = "fix the clock first (see clock); otherwise " + fix
            return Check("duo-keys", FAIL, f"ikey {duo.ikey}: {exc}", fix)
        return Check("duo-keys", FAIL, f"ikey {duo.ikey}: {exc}",
                     "see Duo's message; in the Duo Admin Panel the application must be an Auth API or RADIUS one")
    except DuoFault as exc:
        return _unavailable("duo-keys", duo, exc)
    return Check("duo-keys", OK, f"Duo accepted ikey {duo.ikey} on /check")


def _probe_address(interface: str) -> str:
    if ipaddress.ip_address(interface).is_unspecified:
        return "::1" if ":" in interface else "127.0.0.1"
    return interface


def send_status_server(address: str, port: int, secret: bytes, *, timeout: float = 1.0,
                       attempts: int = 3) -> tuple[str, float]:
    """One Status-Server (RFC 5997) to address:port: ("accept" | "reject" | "refused" | "silent" |
    "bad_signature", round-trip seconds)."""
    result = exchange(status_server(secret, "duomfa-doctor"), address, port, timeout=timeout, attempts=attempts)
    if result.reply is None:
        return result.outcome, 0.0
    return ("accept" if result.reply.code == radius.ACCESS_ACCEPT else "reject"), result.rtt


def check_probe(settings: ProxySettings, state: SourceState | None,
                send: Callable[..., tuple[str, float]] = send_status_server) -> Check:
    """A proxy on the configured port answers a Status-Server signed with the configured secret. The proxy
    answers only the addresses in its client lists, so this host's address must be one of them."""
    address = _probe_address(settings.interface)
    where = f"UDP {address}:{settings.port}"
    entry = build_client_table(settings, state).lookup(address)
    if entry is None:
        return Check("probe", WARN, f"{address} is not a configured client: a proxy drops its packets without a "
                     f"reply, so {where} cannot be probed from here",
                     f"to probe from this host, add radius_ip_N = {address} with a radius_secret_N (or, with a "
                     f"secrets source, status_server_clients = {address})")
    version = entry.secrets[0]
    outcome, rtt = send(address, settings.port, version.secret)
    if outcome == "accept":
        return Check("probe", OK, f"the proxy on {where} answered a Status-Server signed with {version.label} in "
                     f"{rtt * 1000:.1f} ms")
    if outcome == "refused":
        return Check("probe", FAIL, f"nothing listens on {where}", "start the proxy: `duomfa proxy -c FILE`")
    if outcome == "silent":
        return Check("probe", FAIL, f"no answer from {where} to a Status-Server signed with {version.label}",
                     "the program on that port does not take this secret from this address: is it a duomfa proxy "
                     "reading the same configuration and secrets source? With debug = true its log names the "
                     "reason for each dropped datagram")
    if outcome == "bad_signature":
        return Check("probe", FAIL, f"{where} answered, but not signed with {version.label}",
                     "the program on that port holds another shared secret: is it the proxy of this configuration?")
    return Check("probe", FAIL, f"{where} answered the Status-Server with {outcome}",
                 "a duomfa proxy answers Status-Server with Access-Accept; is another RADIUS server on that port?")


async def local_checks(path: Path | None, environ: Mapping[str, str], *, probe: bool = False) -> list[Check]:
    config, settings = check_config(path, environ)
    if settings is None:
        return [config]
    checks = [config, check_port(settings)]
    if (http := check_http_port(settings)) is not None:
        checks.append(http)
    if settings.fips_mode:
        checks.append(check_fips(settings.fips_mode_origin))
    secrets_check, state = await check_secrets(settings)
    checks.append(secrets_check)
    keys = duo_keys(settings, state)
    if isinstance(keys, str):
        checks.append(Check("duo-keys", FAIL, f"{keys}; the proxy rejects every login that needs Duo",
                            "set ikey, skey and api_host in [radius_server_duo_only] (or DUOMFA_IKEY …), or in the "
                            "secret's JSON, copied from one application in the Duo Admin Panel"))
    else:
        try:
            duo = DuoClient(keys.ikey, keys.skey.reveal(), keys.api_host, ca_certs=settings.ca_certs,
                            http_proxy=settings.http_proxy,
                            api_timeout=min(settings.api_timeout or DUO_TIMEOUT_SECONDS, DUO_TIMEOUT_SECONDS),
                            rate_limit_retries=0, fips_mode=settings.fips_mode)  # the TLS the proxy would offer
        except ValueError as exc:
            checks.append(Check("duo-ping", FAIL, str(exc), "set api_host to the host name from the Duo Admin Panel"))
        else:
            async with duo:
                ping, skew = await check_duo_ping(duo)
                checks.append(ping)
                if skew is not None:
                    checks.append(check_clock(skew))
                    checks.append(await check_duo_keys(duo, skew))
    if probe and secrets_check.status == FAIL and not settings.secrets_source.inline:
        checks.append(Check("probe", FAIL, "not probed: the shared secret comes from the secrets source, which could "
                            "not be read", "see secrets"))
    elif probe:
        checks.append(await asyncio.to_thread(check_probe, settings, state))
    return checks
