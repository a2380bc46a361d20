"""The proxy's options, each written once: name, where it may be set, how it is parsed, its default, a one-line
summary for messages and the text of docs/proxy.md's option table (a test holds the two together)."""

from __future__ import annotations

import codecs
import contextlib
import difflib
import enum
import ipaddress
import logging.handlers
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duomfa.radius import VENDOR_ATTRIBUTE_NAMES, attribute_key


class ConfigError(Exception):
    """Settings that stop the start: one problem per line, each saying where it is, what is wrong and what would be
    accepted. `fix` is the one thing to do, when the problems do not say it themselves (a file that cannot be read)."""

    def __init__(self, *problems: str, fix: str = ""):
        self.problems = problems
        self.fix = fix
        super().__init__(problems[0] if len(problems) == 1
                         else f"{len(problems)} problems:\n  " + "\n  ".join(problems))


class Problems:
    """Collects every problem of a configuration, so that one run reports them all."""

    def __init__(self) -> None:
        self.found: list[str] = []

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.found.extend(exc.problems)

    def raise_any(self) -> None:
        """The problems in the order of the file's lines; the environment's and the file's own after them."""
        if self.found:
            raise ConfigError(*sorted(self.found, key=_line_of))


def _line_of(problem: str) -> tuple[int, int]:
    where = problem.split(": ", 1)[0]
    path, _, line = where.rpartition(":")
    return (0, int(line)) if path and line.isdigit() else (1, 0)


@dataclass(frozen=True)
class RawValue:
    value: str
    origin: str  # "FILE:LINE" or "environment variable NAME"


class FailMode(enum.StrEnum):
    SAFE = "safe"
    SECURE = "secure"


class MessageAuthenticatorPolicy(enum.StrEnum):
    AUTO = "auto"
    YES = "yes"
    NO = "no"


@dataclass(frozen=True)
class SecretsSource:
    """Where the shared secret (and perhaps the Duo keys) come from: the configuration itself, a JSON file, or an
    AWS Secrets Manager secret (ARN or name). Written as in the configuration: inline, file:PATH,
    aws-secretsmanager:ARN."""

    kind: str  # "inline" | "file" | "aws-secretsmanager"
    location: str = ""

    @property
    def inline(self) -> bool:
        return self.kind == "inline"

    def __str__(self) -> str:
        return self.kind if self.inline else f"{self.kind}:{self.location}"


INLINE = SecretsSource("inline")

# --- parsers: (raw value, key) → typed value, or a ConfigError naming where, what and what is allowed -------------

Parser = Callable[[RawValue, str], Any]


def boolean(raw: RawValue, key: str) -> bool:
    value = raw.value.lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not true or false")


def _bounded(convert: Callable[[str], float], what: str, low: float, high: float, zero_is_none: bool) -> Parser:
    def parse(raw: RawValue, key: str) -> float | None:
        try:
            value = convert(raw.value)
        except ValueError:
            raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not {what} ({low:g}–{high:g})") from None
        if not low <= value <= high:
            raise ConfigError(f"{raw.origin}: {key} = {raw.value} is out of range; allowed {low:g}–{high:g}")
        return None if zero_is_none and value == 0 else value
    return parse


def whole(low: int, high: int, *, zero_is_none: bool = False) -> Parser:
    return _bounded(int, "a whole number", low, high, zero_is_none)


def number(low: float, high: float, *, zero_is_none: bool = False) -> Parser:
    return _bounded(float, "a number", low, high, zero_is_none)


def choice(kind: type[enum.StrEnum]) -> Parser:
    def parse(raw: RawValue, key: str) -> enum.StrEnum:
        try:
            return kind(raw.value.lower())
        except ValueError:
            raise ConfigError(f"{raw.origin}: {key} = {raw.value!r}; allowed: "
                              f"{', '.join(member.value for member in kind)}") from None
    return parse


def address(raw: RawValue, key: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.value))
    except ValueError:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not an IP address") from None


def text(raw: RawValue, key: str) -> str:
    return raw.value


def ca_file(raw: RawValue, key: str) -> str:
    if not Path(raw.value).is_file():
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r}: no such file (a PEM CA bundle is expected)")
    return raw.value


def secrets_source(raw: RawValue, key: str) -> SecretsSource:
    value = raw.value
    if value == "inline":
        return INLINE
    kind, _, location = value.partition(":")
    if kind in ("file", "aws-secretsmanager") and location:
        return SecretsSource(kind, location)
    if kind == "aws-secretsmanager":
        raise ConfigError(f"{raw.origin}: secrets_source needs the secret's ARN or name after aws-secretsmanager:")
    raise ConfigError(f"{raw.origin}: secrets_source = {value!r}; allowed: inline, file:PATH, aws-secretsmanager:ARN")


def name_list(raw: RawValue, key: str) -> tuple[str, ...]:
    """Comma-separated names, each trimmed of surrounding spaces (and exact after that); empty entries dropped."""
    return tuple(name.strip() for name in raw.value.split(",") if name.strip())


def host_port(raw: RawValue, key: str) -> str | None:
    """host:port of a web proxy, as the proxy URL; empty: none."""
    value = raw.value.strip()
    if not value:
        return None
    if "@" in value:  # user:password@host — not shown, not supported
        raise ConfigError(f"{raw.origin}: {key} holds credentials (its value is not shown); give host:port of a "
                          "proxy that needs none, e.g. proxy.corp.example:3128")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535 or "/" in value:
        raise ConfigError(f"{raw.origin}: {key} = {value!r} is not host:port (e.g. proxy.corp.example:3128)")
    return f"http://{value}"


def proxy_host(raw: RawValue, key: str) -> str:
    """A web proxy's host name or address, as Duo's proxy takes it: no scheme, no credentials, no port."""
    value = raw.value.strip()
    if "@" in value:  # user:password@host — not shown, not supported
        raise ConfigError(f"{raw.origin}: {key} holds credentials (its value is not shown); give the host name of a "
                          "proxy that needs none, e.g. proxy.corp.example, and its port in http_proxy_port")
    if not value or "/" in value or any(c.isspace() for c in value) or value.count(":") == 1:
        raise ConfigError(f"{raw.origin}: {key} = {value!r} is not a host name or address (e.g. proxy.corp.example; "
                          "the port goes in http_proxy_port, and no http:// in front)")
    if ":" in value and not value.startswith("["):
        return f"[{value}]"  # an IPv6 address, ready for a URL
    return value


# client_ip_attr's aliases in Duo's proxy (its parse_client_ip_attribute)
CLIENT_IP_ALIASES = {"default": "Calling-Station-Id", "paloalto": "PaloAlto-Client-Source-IP"}


def client_ip_attribute(raw: RawValue, key: str) -> str:
    name = CLIENT_IP_ALIASES.get(raw.value.strip().lower(), raw.value.strip())
    try:
        attribute_key(name)
    except KeyError as exc:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r}: {exc.args[0]}; or one of the vendor attributes "
                          f"{', '.join(VENDOR_ATTRIBUTE_NAMES)}, or {', '.join(CLIENT_IP_ALIASES)}") from None
    return name


def syslog_facility(raw: RawValue, key: str) -> int:
    """Duo's proxy takes LOG_USER, LOG_AUTH, LOG_LOCAL0 …; the same names without LOG_, in any case, work too."""
    name = raw.value.strip().lower().removeprefix("log_")
    code = logging.handlers.SysLogHandler.facility_names.get(name)
    if code is None:
        allowed = ", ".join(f"LOG_{n.upper()}" for n in logging.handlers.SysLogHandler.facility_names)
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not a syslog facility; allowed: {allowed}")
    return code


def text_encoding(raw: RawValue, key: str) -> str:
    try:
        name = codecs.lookup(raw.value).name
        "x".encode(name)  # hex, base64, rot13 … are codecs too, but not text encodings: refused now, not at a login
    except LookupError:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not a text encoding Python knows "
                          "(e.g. utf-8, latin-1)") from None
    return name


# --- the table -----------------------------------------------------------------------------------------------------

MAIN, SERVER = "main", "radius_server_duo_only"
NO_LOG_FILES = ("duomfa writes no log files: its JSON lines go to standard output (for the container runtime) and, "
                "with `log_syslog`, to syslog; rotation is the log collector's")


@dataclass(frozen=True)
class Option:
    name: str  # as in the file; N marks a numbered family (radius_ip_N)
    summary: str  # one line, for messages
    doc: str  # docs/proxy.md's "Meaning" cell
    shown_default: str  # docs/proxy.md's "Default" cell
    parse: Parser = text
    default: Any = None
    attribute: str | None = None  # the ProxySettings field it sets directly; None: config._build combines it
    sections: tuple[str, ...] = (SERVER,)
    ours: bool = False  # duomfa's own, not an option of Duo's proxy
    no_effect: str = ""  # accepted (and checked) but without effect: why, for the start-up notice and the docs
    main_doc: str = ""  # the [main] table's cell, where it differs from `doc`
    main_decision: str = "honoured"  # what the [main] table says duomfa does with it

    @property
    def numbered(self) -> bool:
        return self.name.endswith("_N")

    def matches(self, key: str) -> bool:
        if self.numbered:
            prefix = self.name[:-1]
            return key.startswith(prefix) and key[len(prefix):].isdigit()
        return key == self.name

    def doc_row(self) -> str:
        ours = "*ours*: " if self.ours else ""
        meaning = f"accepted, **no effect**: {self.no_effect}" if self.no_effect else self.doc
        return f"| `{self.name}` | {self.shown_default} | {ours}{meaning} |"

    def main_doc_row(self) -> str:
        if self.no_effect:
            decision = f"accepted, **no effect**: {self.no_effect}"
        else:
            decision = f"**{self.main_decision}**: {self.main_doc or self.doc}"
        return f"| `{self.name}` | {self.shown_default} | {decision} |"


OPTIONS: tuple[Option, ...] = (
    Option("ikey", "the integration key of a Duo RADIUS or Auth API application",
           "the Duo application's integration key (`DI` and 18 letters or digits)",
           "required (unless the secrets source has it)"),
    Option("skey", "its secret key", "its secret key (40 characters)", "required (unless the secrets source has it)"),
    Option("api_host", "the API host name, e.g. api-XXXXXXXX.duosecurity.com (or duofederal.com)",
           "its API host (`api-XXXXXXXX.duosecurity.com`, or `…duofederal.com` for Duo Federal); may carry a port",
           "required (unless the secrets source has it)"),
    Option("api_port", "the API port (default 443)", "Duo's port", "443", whole(1, 65535), 443),
    Option("radius_ip_N", "a RADIUS client: an address, a CIDR block or a range a.b.c.d-e.f.g.h",
           "a RADIUS client — an address, a CIDR block (`10.0.2.0/24` or `10.0.2.0/255.255.255.0`) or a range "
           "`a.b.c.d-e.f.g.h`. The most specific block wins. Packets from any other address are dropped without a "
           "reply", "at least one, with inline secrets"),
    Option("radius_secret_N", "the shared secret of radius_ip_N",
           "the shared secret of `radius_ip_N` (with `secrets_source = inline`)", "one per `radius_ip_N`"),
    Option("radius_clients", "comma-separated addresses, CIDR blocks or ranges that use the secrets source's shared "
           "secret",
           "comma-separated addresses, blocks or ranges that use the secrets source's shared secret (the deployment "
           "passes the directory's domain controllers here)", "—", ours=True),
    Option("status_server_clients", "comma-separated addresses or CIDR blocks that may send Status-Server only",
           "comma-separated addresses or blocks that may send **Status-Server only**, with the secrets source's "
           "secret — probes such as the rotation check, which must never be able to log anyone in", "—", ours=True),
    Option("port", "the UDP port (default 1812)", "the UDP port the proxy listens on", "1812", whole(1, 65535), 1812,
           "port"),
    Option("interface", "the address to listen on (default: all)",
           "the address it listens on (this section's value wins over `[main]`'s, as in Duo's proxy)",
           "all (`0.0.0.0`)", address, "0.0.0.0", "interface", sections=(MAIN, SERVER),
           main_doc="the address to listen on when `[radius_server_duo_only]` sets none"),
    Option("failmode", "safe (let users in when preauth cannot reach Duo at all; Duo's default) or secure",
           "what happens when **preauth cannot reach Duo at all** (connection refused or reset before any reply, DNS "
           "failure, no reply in time, HTTP 5xx): `safe` lets the user in, `secure` rejects. Nothing else ever lets "
           "anyone in — not a fault after Duo asked for a second factor, not an answer that is not Duo's, not a "
           "certificate that does not verify, not a 4xx: see [When Duo fails](#when-duo-fails). Every fail-open is "
           "logged at WARNING and counted", "`safe` (Duo's default)", choice(FailMode), FailMode.SAFE, "failmode"),
    Option("exempt_username_N", "a user accepted without Duo",
           "users accepted without Duo. Read as Duo's proxy reads them: `exempt_username_1`, `_2` … up to the first "
           "missing number (an entry after a gap is ignored, with a WARNING at start naming it), and compared "
           "**exactly** with the User-Name: case counts, nothing is trimmed or Unicode-folded. See "
           "[Changes](#changes)", "—"),
    Option("exempt_usernames", "comma-separated users accepted without Duo (each trimmed of surrounding spaces)",
           "comma-separated users accepted without Duo, in addition to `exempt_username_N`: each trimmed of "
           "surrounding spaces, then compared exactly (the stack's `ExemptUsernames` parameter)", "—", name_list, (),
           ours=True),
    Option("client_ip_attr", "the RADIUS attribute carrying the user's IP for Duo (default Calling-Station-Id; "
           "paloalto for PaloAlto-Client-Source-IP)",
           "the request attribute carrying the user's IP, passed to Duo as `ipaddr`: a standard attribute's name, or "
           "`paloalto` (Duo's alias for the vendor attribute `PaloAlto-Client-Source-IP`, vendor 25461, type 7). "
           "When the request lacks it, or it is not an address, Duo gets no `ipaddr`", "`Calling-Station-Id`",
           client_ip_attribute, "Calling-Station-Id", "client_ip_attr"),
    Option("api_timeout", "seconds for each call to Duo; 0 = no limit (default 10)",
           "seconds for each call to Duo; `0` = no limit (Duo's proxy defaults to 0; a limit is what lets failmode "
           "act at all). Waiting for a push is governed by `push_wait_seconds`", "**10**",
           number(0, 600, zero_is_none=True), 10.0, "api_timeout"),
    Option("pw_codec", "the text encoding of the password (default utf-8)",
           "the password's text encoding (a codec that is not one, such as `hex` or `base64`, is refused at start)",
           "`utf-8`", text_encoding, "utf-8", "pw_codec"),
    Option("http_proxy_host", "a web proxy for outbound HTTPS to Duo (host name or address)",
           "a web proxy for outbound HTTPS to Duo: its host name or address (the port goes in `http_proxy_port`). "
           "`[main]`'s replaces it, as in Duo's proxy", "—", proxy_host, sections=(MAIN, SERVER),
           main_doc="a web proxy for every call to Duo (CONNECT tunnel); it replaces `[radius_server_duo_only]`'s "
                    "own, as in Duo's proxy (a `DUOMFA_*` variable replaces both)"),
    Option("http_proxy_port", "its port (default 80)", "its port; taken from the same section as `http_proxy_host`",
           "80", whole(1, 65535), 80, sections=(MAIN, SERVER),
           main_doc="its port (with `[main]`'s `http_proxy_host`)"),
    Option("http_proxy", "a web proxy for outbound HTTPS to Duo, as host:port",
           "`http_proxy_host` and `http_proxy_port` in one value, `host:port` (the stack's `HttpProxy` parameter); "
           "`http_proxy_host` wins when both are set", "—", host_port, None, "http_proxy", ours=True),
    Option("ca_certs", "a CA bundle to trust for Duo (default: Duo's pinned bundle from duo_client)",
           "what to trust for Duo's certificate: a PEM CA bundle; the local MFA service's `ca.pem` for tests and "
           "trials", "Duo's pinned CA bundle (from duo_client)", ca_file, None, "ca_certs", ours=True),
    Option("http_ca_certs_file", "a CA bundle to trust for Duo instead of Duo's pinned one (same as ca_certs)",
           "Duo's proxy's name for `ca_certs` (if both are set, this one wins; `[main]`'s `http_ca_certs_file` "
           "replaces either, as in Duo's proxy)", "Duo's pinned CA bundle (from duo_client)", ca_file,
           sections=(MAIN, SERVER),
           main_doc="the CA bundle for every call to Duo; it replaces `[radius_server_duo_only]`'s "
                    "`http_ca_certs_file` or `ca_certs`, as in Duo's proxy (a `DUOMFA_*` variable replaces both)"),
    Option("require_message_authenticator", "auto, yes or no (default auto)",
           "`yes` drops requests without Message-Authenticator; `auto` drops them from an address once one of its "
           "Access-Requests has carried one (so a downgrade is impossible; a Status-Server does not count, as in "
           "FreeRADIUS: RFC 5997 makes it mandatory there, so a health check cannot lock a client out); `no` does "
           "not require it (it is still checked when present). Whatever the setting, a request that proves no "
           "knowledge of the secret is dropped: see above", "`auto`", choice(MessageAuthenticatorPolicy),
           MessageAuthenticatorPolicy.AUTO, "require_message_authenticator", ours=True),
    Option("secrets_source", "inline, a JSON file path (file:PATH), or aws-secretsmanager:ARN",
           "where the shared secret (and optionally the Duo keys) come from — see below", "`inline`",
           secrets_source, INLINE, "secrets_source", ours=True),
    Option("secrets_refresh_seconds", "how often a file or Secrets Manager source is read again (default 30)",
           "how often a file or Secrets Manager source is read again", "30", number(1, 86400), 30.0,
           "secrets_refresh_seconds", ours=True),
    Option("max_pushes_per_user_per_minute", "pushes and calls per person per minute before refusing more "
           "(default 3)",
           "the push-bombing guard — more pushes or calls for one person in a minute are rejected with a message, "
           "without asking Duo. A person is counted under all their names: case, spaces, a `DOMAIN\\` prefix and an "
           "`@domain` suffix are ignored (`CORP\\alice`, `alice@corp.example` and `Alice` are one person), which "
           "can only make the cap stricter", "3", whole(1, 1000), 3, "max_pushes_per_user_per_minute", ours=True),
    Option("reply_cache_seconds", "how long a reply is resent to retransmissions (default 30)",
           "how long a reply is resent to retransmissions of its request", "30", number(0, 600), 30.0,
           "reply_cache_seconds", ours=True),
    Option("push_wait_seconds", "longest wait for a push or call to be answered (default 75)",
           "the longest the proxy waits for a push or call to be answered", "75", number(5, 600), 75.0,
           "push_wait_seconds", ours=True),
    Option("long_poll_grace_seconds", "how much longer than api_timeout a long-poll to Duo may take (default 65)",
           "how much longer than `api_timeout` one long-poll to Duo (`/auth_status`) may take; Duo holds one for up "
           "to 60 s", "65", number(1, 300), 65.0, "long_poll_grace_seconds", ours=True),
    Option("http_port", "TCP port of /healthz, /readyz and /metrics (default 8080; 0 = off)",
           "the TCP port of `/healthz`, `/readyz` and `/metrics`; `0` turns them off", "8080",
           whole(0, 65535, zero_is_none=True), 8080, "http_port", ours=True),
    Option("http_interface", "address of that HTTP listener (default: all)", "the address of that HTTP listener",
           "all (`0.0.0.0`)", address, "0.0.0.0", "http_interface", ours=True),
    Option("client", "the primary authentication section (no effect with duo_only)",
           "", "—", sections=(MAIN, SERVER),
           no_effect="`[radius_server_duo_only]` has no primary authentication, so there is no client to name"),
    Option("pass_through_attr_names", "attributes passed through from the primary server (no effect with duo_only)",
           "", "—", no_effect="attributes pass through from a primary server, and duo_only has none"),
    Option("pass_through_all", "pass through every attribute of the primary server (no effect with duo_only)",
           "", "false", boolean, no_effect="attributes pass through from a primary server, and duo_only has none"),
    Option("metrics_namespace", "CloudWatch namespace of the stats line's metrics (default: none)",
           "a CloudWatch namespace: the once-a-minute `stats` line then also carries its counts and latencies as "
           "metrics in the embedded metric format (the stack sets `DuoMfa/STACK`)", "none", text, "",
           "metrics_namespace", ours=True),
    Option("debug", "true for more detail in the log",
           "also log dropped datagrams and Status-Server probes (in either section)", "false", boolean, False,
           sections=(MAIN, SERVER), main_doc="also log dropped datagrams and Status-Server probes"),
    # [main] only, in the order of Duo's own check of the section
    Option("log_dir", "the directory of Duo's log files (no effect)", "", "`log`, in the install directory",
           sections=(MAIN,), no_effect=NO_LOG_FILES),
    Option("log_auth_events", "Duo's authevents.log (no effect: the auth line is always written)", "", "false",
           boolean, sections=(MAIN,),
           no_effect="duomfa always writes one JSON `auth` line per authentication, with its result and reason, to "
                     "the same outputs as every other line"),
    Option("log_sso_events", "Duo's ssoevents.log (no effect: no SSO)", "", "true", boolean, sections=(MAIN,),
           no_effect="duomfa has no SSO"),
    Option("log_max_files", "how many rotated log files Duo keeps (no effect)", "", "6 (`0`: keep all)",
           whole(0, 1_000_000), sections=(MAIN,), no_effect=NO_LOG_FILES),
    Option("log_max_size", "the size at which Duo rotates a log file (no effect)", "", "10485760 bytes (10 MiB)",
           whole(0, 2**63 - 1), sections=(MAIN,), no_effect=NO_LOG_FILES),
    Option("log_file", "true for Duo's log/authproxy.log (no effect)", "",
           "false (Duo's proxy writes its file anyway when neither `log_stdout` nor `log_syslog` is on)", boolean,
           sections=(MAIN,), no_effect=NO_LOG_FILES),
    Option("log_stdout", "always true: the proxy logs JSON lines to standard output",
           "accepted for Duo's files; the proxy always logs JSON lines to standard output", "false", boolean, True,
           sections=(MAIN,), main_doc="the proxy always writes its JSON lines to standard output, for the container "
                                      "runtime; `false` is accepted with a notice"),
    Option("log_syslog", "true to send the log lines to the local syslog as well",
           "", "false", boolean, False, "log_syslog", sections=(MAIN,),
           main_doc="every JSON line goes to the local syslog (`/dev/log`) too, with the severity of its `level`, "
                    "as `duomfa[PID]`. Without a syslog socket (a container has none) one WARNING `syslog_unavailable` "
                    "at start, and standard output only"),
    Option("syslog_facility", "the syslog facility, e.g. LOG_AUTH or LOG_LOCAL0 (default LOG_USER)", "",
           "`LOG_USER`", syslog_facility, 1, "syslog_facility", sections=(MAIN,),
           main_doc="the facility of those syslog lines: `LOG_USER`, `LOG_AUTH`, `LOG_DAEMON`, `LOG_LOCAL0` … "
                    "`LOG_LOCAL7` and the other standard names (without `LOG_`, any case, also accepted); an unknown "
                    "name stops the start, as in Duo's proxy"),
    Option("test_connectivity_on_startup", "check Duo at start (no effect: always done)", "", "false", boolean,
           sections=(MAIN,), no_effect="duomfa always checks Duo: `/readyz` follows Duo's `/ping`, and a change is "
                                      "logged as `duo_reachability`"),
    Option("server", "the server section [main] client applies to (no effect)", "", "—", sections=(MAIN,),
           no_effect="Duo's proxy uses it only to point `[main]`'s `client` at a server section, and "
                     "`[radius_server_duo_only]` takes no client"),
    Option("fips_mode", "true to run only with OpenSSL's FIPS provider enforced (checked at start)", "",
           "false", boolean, False, "fips_mode", sections=(MAIN,),
           main_doc="`true`: the proxy starts only when OpenSSL runs with a FIPS provider enforced (else it stops "
                    "with what it found and how to run with one: the FIPS image), and then uses only FIPS-approved "
                    "algorithms inside OpenSSL's boundary; RADIUS's MD5 runs outside it. See "
                    "[FIPS mode](#fips-mode)"),
    Option("log_file_prefix", "a prefix for Duo's log file names (no effect)", "", "—", sections=(MAIN,),
           no_effect=NO_LOG_FILES + " (not in Duo's proxy 5.0 source; accepted in case a later version has it)"),
    Option("log_format", "a log format (no effect)", "", "—", sections=(MAIN,),
           no_effect="duomfa logs JSON lines (not in Duo's proxy 5.0 source; accepted as earlier releases did)"),
    Option("log_ldap_events", "LDAP event log (no effect)", "", "—", sections=(MAIN,),
           no_effect="duomfa has no LDAP (not in Duo's proxy 5.0 source; accepted as earlier releases did)"),
)


def option(key: str) -> Option | None:
    """The option a key of the file (or a DUOMFA_ variable, lower-cased) sets, if any."""
    return next((o for o in OPTIONS if o.matches(key)), None)


def default(name: str) -> Any:
    """An option's default, for the settings dataclass."""
    found = option(name)
    assert found is not None, name
    return found.default


def docs_table() -> list[str]:
    """docs/proxy.md's table of [radius_server_duo_only] (and environment) options, row by row."""
    return ["| Key | Default | Meaning |", "|---|---|---|", *(o.doc_row() for o in OPTIONS if SERVER in o.sections)]


def main_docs_table() -> list[str]:
    """docs/proxy.md's table of Duo's [main] options and what duomfa does with each, row by row."""
    return ["| `[main]` key | Duo's default | duomfa |", "|---|---|---|",
            *(o.main_doc_row() for o in OPTIONS if MAIN in o.sections)]


def allowed_keys(section: str) -> str:
    return ", ".join(o.name for o in OPTIONS if section in o.sections)


def did_you_mean(key: str, section: str) -> str:
    """" (did you mean radius_secret_1?)" for a key close to one of the section's options; "" for none."""
    number = key[len(key.rstrip("0123456789")):]
    names = {o.name[:-1] + number if o.numbered and number else o.name: o for o in OPTIONS if section in o.sections}
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""

