"""The proxy's settings: one typed model, read once at start from an authproxy.cfg-style INI file and/or
DUOMFA_* environment variables, validated with messages that name the file, line, key and what is allowed.

Duo admins can reuse their Duo Authentication Proxy `[radius_server_duo_only]` section as it is: every option Duo's
proxy knows is either honoured or refused with the reason; only keys nobody knows are "unknown".
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from duomfa.duo.keys import ikey_problem, skey_problem
from duomfa.radius.constants import attribute_type
from duomfa.secret import Secret

__all__ = ["ConfigError", "ProxySettings", "RadiusClient", "Secret", "load_settings", "parse_networks"]

SERVER_SECTION = "radius_server_duo_only"
ENV_PREFIX = "DUOMFA_"
# DUOMFA_* variables that belong to the scripts, not to the proxy's settings
ENV_NOT_SETTINGS = {"DUOMFA_VENV", "DUOMFA_ROOT"}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """A setting that stops the start; the message says where it is and what would be accepted."""


@dataclass(frozen=True)
class RadiusClient:
    """One radius_ip_N entry: the networks it covers and, for inline secrets, its radius_secret_N."""

    name: str  # "radius_ip_1", for logs and errors
    networks: tuple[IpNetwork, ...]
    secret: Secret | None
    status_only: bool = False  # a prober (e.g. the rotation check): Status-Server only, never a login


@dataclass(frozen=True)
class ProxySettings:
    ikey: str
    skey: Secret | None
    api_host: str
    clients: tuple[RadiusClient, ...]
    port: int = 1812
    interface: str = "0.0.0.0"
    failmode: str = "safe"
    exempt_usernames: tuple[str, ...] = ()
    client_ip_attr: str = "Calling-Station-Id"
    api_timeout: float | None = 10.0
    pw_codec: str = "utf-8"
    require_message_authenticator: str = "auto"
    ca_certs: str | None = None
    http_port: int | None = 8080
    http_interface: str = "0.0.0.0"
    secrets_source: str = "inline"
    secrets_refresh_seconds: float = 30.0
    max_pushes_per_user_per_minute: int = 3
    reply_cache_seconds: float = 30.0
    push_wait_seconds: float = 75.0
    long_poll_grace_seconds: float = 65.0
    http_proxy: str | None = None
    debug: bool = False
    notices: tuple[str, ...] = field(default=())  # options accepted but without effect, to log at start


# --- reading the INI file, keeping line numbers -------------------------------------------------------------

@dataclass(frozen=True)
class RawValue:
    value: str
    origin: str  # "FILE:LINE" or "environment variable NAME"


_SECTION_RE = re.compile(r"^\[\s*([^\]]+?)\s*\]\s*$")
_OPTION_RE = re.compile(r"^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$")


def read_ini(path: Path) -> dict[str, dict[str, RawValue]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    sections: dict[str, dict[str, RawValue]] = {}
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        where = f"{path}:{number}"
        section = _SECTION_RE.match(stripped)
        if section:
            current = section.group(1).strip().lower()
            if current in sections:
                raise ConfigError(f"{where}: section [{current}] appears twice; merge the two")
            sections[current] = {}
            continue
        option = _OPTION_RE.match(stripped)
        if option is None:
            # the line is not shown: a secret wrapped onto a line of its own would be printed
            raise ConfigError(f"{where}: this line is neither 'key = value' nor '[section]' (its text is not shown, "
                              "in case it holds a secret); join a value that was wrapped onto its own line, or put "
                              "# before a comment")
        if current is None:
            raise ConfigError(f"{where}: {option.group(1)!r} is outside any section; put it under [main] or "
                              f"[{SERVER_SECTION}]")
        key = option.group(1).strip().lower()
        if key in sections[current]:
            raise ConfigError(f"{where}: {key} is set twice in [{current}] (first at "
                              f"{sections[current][key].origin}); keep one")
        sections[current][key] = RawValue(option.group(2).strip(), where)
    return sections


# --- what each option means ----------------------------------------------------------------------------------

MAIN_OPTIONS = {"debug", "log_stdout"}
# [main] options of Duo's proxy that make no sense for duomfa's logging model: accepted, with a notice
MAIN_IGNORED = {
    "log_auth_events": "duomfa always logs one JSON line per authentication",
    "log_sso_events": "duomfa has no SSO",
    "log_dir": "duomfa logs JSON lines to standard output, for the container runtime",
    "log_max_files": "duomfa logs to standard output",
    "log_max_size": "duomfa logs to standard output",
    "log_file_prefix": "duomfa logs to standard output",
    "log_format": "duomfa logs JSON lines",
    "log_ldap_events": "duomfa has no LDAP",
    "test_connectivity_on_startup": "duomfa checks Duo at start and on /readyz",
}
SERVER_OPTIONS = {
    "ikey": "the integration key of a Duo RADIUS or Auth API application",
    "skey": "its secret key",
    "api_host": "the API host name, e.g. api-XXXXXXXX.duosecurity.com (or duofederal.com)",
    "api_port": "the API port (default 443)",
    "api_timeout": "seconds for each call to Duo; 0 = no limit (default 10)",
    "failmode": "safe (let users in when preauth cannot reach Duo at all; Duo's default) or secure",
    "port": "the UDP port (default 1812)",
    "interface": "the address to listen on (default: all)",
    "client_ip_attr": "the RADIUS attribute carrying the user's IP for Duo (default Calling-Station-Id)",
    "pw_codec": "the text encoding of the password (default utf-8)",
    "http_proxy_host": "a web proxy for outbound HTTPS to Duo",
    "http_proxy_port": "its port (default 80)",
    "http_ca_certs_file": "a CA bundle to trust for Duo instead of Duo's pinned one (same as ca_certs)",
    "debug": "true for more detail in the log",
    "require_message_authenticator": "auto, yes or no (default auto)",
    "ca_certs": "a CA bundle to trust for Duo (default: Duo's pinned bundle from duo_client)",
    "http_port": "TCP port of /healthz, /readyz and /metrics (default 8080; 0 = off)",
    "http_interface": "address of that HTTP listener (default: all)",
    "secrets_source": "inline, a JSON file path (file:PATH), or aws-secretsmanager:ARN",
    "radius_clients": "comma-separated addresses, CIDR blocks or ranges that use the secrets_source's shared secret",
    "status_server_clients": "comma-separated addresses or CIDR blocks that may send Status-Server only (probes)",
    "secrets_refresh_seconds": "how often a file or Secrets Manager source is read again (default 30)",
    "max_pushes_per_user_per_minute": "pushes and calls per user per minute before refusing more (default 3)",
    "reply_cache_seconds": "how long a reply is resent to retransmissions (default 30)",
    "push_wait_seconds": "longest wait for a push or call to be answered (default 75)",
    "long_poll_grace_seconds": "how much longer than api_timeout a long-poll to Duo may take (default 65)",
}
SERVER_NUMBERED = ("radius_ip_", "radius_secret_", "exempt_username_")
SERVER_NO_EFFECT = {
    "client": "[radius_server_duo_only] has no primary authentication",
    "pass_through_attr_names": "attributes pass through to a primary server, and duo_only has none",
    "pass_through_all": "attributes pass through to a primary server, and duo_only has none",
}
SERVER_REFUSED = {
    "skey_protected": "it is a Windows DPAPI blob that cannot be read on Linux; put the key in skey or in the "
                      "secrets_source instead",
    "radius_secret_protected_": "it is a Windows DPAPI blob that cannot be read on Linux; use radius_secret_N or "
                                "the secrets_source instead",
}
OTHER_SECTIONS = {
    "radius_server_auto": "it needs a primary authenticator; AWS Directory Service checks the password itself, so "
                          "use [radius_server_duo_only]",
    "radius_server_challenge": "duomfa implements [radius_server_duo_only] only",
    "radius_server_iframe": "duomfa implements [radius_server_duo_only] only",
    "radius_server_eap": "duomfa implements [radius_server_duo_only] only (PAP)",
    "radius_server_duo_only_concat": "duomfa implements [radius_server_duo_only] only",
    "ldap_server_auto": "duomfa is a RADIUS proxy only",
    "ad_client": "duo_only mode has no primary authentication",
    "radius_client": "duo_only mode has no primary authentication",
    "ldap_client": "duo_only mode has no primary authentication",
    "cloud": "Directory Sync is not part of duomfa; run Duo's proxy for it",
    "http_proxy": "duomfa does not act as an HTTP proxy",
    "sso": "duomfa has no SSO",
}


def _bool(raw: RawValue, key: str) -> bool:
    value = raw.value.lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not true or false")


def _int(raw: RawValue, key: str, low: int, high: int) -> int:
    try:
        value = int(raw.value)
    except ValueError:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not a whole number ({low}–{high})") from None
    if not low <= value <= high:
        raise ConfigError(f"{raw.origin}: {key} = {value} is out of range; allowed {low}–{high}")
    return value


def _number(raw: RawValue, key: str, low: float, high: float) -> float:
    try:
        value = float(raw.value)
    except ValueError:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not a number ({low:g}–{high:g})") from None
    if not low <= value <= high:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value} is out of range; allowed {low:g}–{high:g}")
    return value


def _choice(raw: RawValue, key: str, allowed: tuple[str, ...]) -> str:
    value = raw.value.lower()
    if value not in allowed:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r}; allowed: {', '.join(allowed)}")
    return value


def _address(raw: RawValue, key: str) -> str:
    try:
        return str(ipaddress.ip_address(raw.value))
    except ValueError:
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r} is not an IP address") from None


_ADDRESS_CHARACTERS = re.compile(r"[0-9A-Fa-f:./\-\s]{1,64}")


def shown_address(value: str) -> str:
    """A value meant to be an address, quoted for a message — unless it does not look like one, when it may be a
    shared secret put in the wrong place, and is not shown."""
    if _ADDRESS_CHARACTERS.fullmatch(value):
        return repr(value)
    return "(a value not shown: it does not look like an address — is it a shared secret?)"


def _not_networks(origin: str, what: str, value: str, exc: ValueError) -> ConfigError:
    if shown_address(value) == repr(value):
        return ConfigError(f"{origin}: {what} {value!r} is not an address, a CIDR block or a range a.b.c.d-e.f.g.h "
                           f"({exc})")
    return ConfigError(f"{origin}: {what} {shown_address(value)} is not an address, a CIDR block or a range "
                       "a.b.c.d-e.f.g.h")


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """An address, a CIDR block (or address/netmask), or a range a.b.c.d-e.f.g.h, as networks."""
    text = text.strip()
    if "-" in text:
        first, _, last = text.partition("-")
        start, end = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
        if start.version != end.version or end < start:
            raise ValueError("a range runs from a lower to a higher address of the same IP version")
        return tuple(ipaddress.summarize_address_range(start, end))  # type: ignore[arg-type]
    return (ipaddress.ip_network(text, strict=False),)


def _ca_path(raw: RawValue, key: str) -> str:
    if not Path(raw.value).is_file():
        raise ConfigError(f"{raw.origin}: {key} = {raw.value!r}: no such file (a PEM CA bundle is expected)")
    return raw.value


def _secrets_source(raw: RawValue) -> str:
    value = raw.value
    if value == "inline" or value.startswith("file:"):
        return value
    if value.startswith("aws-secretsmanager:"):
        if not value.split(":", 1)[1]:
            raise ConfigError(f"{raw.origin}: secrets_source needs the secret's ARN or name after "
                              "aws-secretsmanager:")
        return value
    raise ConfigError(f"{raw.origin}: secrets_source = {value!r}; allowed: inline, file:PATH, aws-secretsmanager:ARN")


def _environment_values(environ: Mapping[str, str]) -> dict[str, RawValue]:
    values: dict[str, RawValue] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX):].lower()
        values[key] = RawValue(value.strip(), f"environment variable {name}")
    return values


def _known_server_key(key: str) -> bool:
    if key in SERVER_OPTIONS or key in SERVER_NO_EFFECT or key in MAIN_OPTIONS or key in MAIN_IGNORED:
        return True
    return any(key.startswith(prefix) and key[len(prefix):].isdigit() for prefix in SERVER_NUMBERED)


def _allowed_keys_text() -> str:
    names = sorted(SERVER_OPTIONS) + ["radius_ip_N", "radius_secret_N", "exempt_username_N"]
    return ", ".join(names)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> ProxySettings:
    """Read the INI file (if any), overlay DUOMFA_* environment variables, and validate everything."""
    main: dict[str, RawValue] = {}
    server: dict[str, RawValue] = {}
    if path is not None:
        sections = read_ini(path)
        for name, options in sections.items():
            if name == "main":
                main = options
            elif name == SERVER_SECTION:
                server = options
            else:
                origin = next(iter(options.values())).origin if options else str(path)
                base = re.sub(r"\d+$", "", name)
                if base == SERVER_SECTION:
                    reason = "run one duomfa proxy per [radius_server_duo_only] section"
                else:
                    reason = OTHER_SECTIONS.get(base, "duomfa reads [main] and [radius_server_duo_only] only")
                raise ConfigError(f"{path}: section [{name}] cannot be used: {reason}"
                                  + (f" (near {origin})" if options else ""))
        if not server:
            raise ConfigError(f"{path}: no [{SERVER_SECTION}] section with settings; see docs/proxy.md")
    for key, raw in main.items():
        if key not in MAIN_OPTIONS and key not in MAIN_IGNORED and key != "fips_mode":
            raise ConfigError(f"{raw.origin}: unknown key {key!r} in [main]; allowed: "
                              f"{', '.join(sorted(MAIN_OPTIONS | set(MAIN_IGNORED) | {'fips_mode'}))}")
    for key, raw in _environment_values(environ).items():
        if not _known_server_key(key) and key != "fips_mode":
            raise ConfigError(f"{raw.origin}: unknown setting {key!r}; allowed: {_allowed_keys_text()}")
        (main if key in MAIN_OPTIONS or key in MAIN_IGNORED or key == "fips_mode" else server)[key] = raw
    return _build(main, server)


def _build(main: dict[str, RawValue], server: dict[str, RawValue]) -> ProxySettings:
    notices: list[str] = []
    for key, raw in main.items():
        if key in MAIN_IGNORED:
            notices.append(f"{raw.origin}: {key} has no effect: {MAIN_IGNORED[key]}")
    if "fips_mode" in main and _bool(main["fips_mode"], "fips_mode"):
        raise ConfigError(
            f"{main['fips_mode'].origin}: fips_mode = true, but this Python's OpenSSL is not running in FIPS mode, "
            "so duomfa cannot honour it; run the proxy on a FIPS-enabled host or image, or remove fips_mode")
    for key, raw in server.items():
        refusal = SERVER_REFUSED.get(key) or next(
            (why for prefix, why in SERVER_REFUSED.items() if prefix.endswith("_") and key.startswith(prefix)), None)
        if refusal:
            raise ConfigError(f"{raw.origin}: {key} cannot be used: {refusal}")
        if not _known_server_key(key):
            raise ConfigError(f"{raw.origin}: unknown key {key!r} in [{SERVER_SECTION}]; allowed: {_allowed_keys_text()}")
        if key in SERVER_NO_EFFECT:
            notices.append(f"{raw.origin}: {key} has no effect: {SERVER_NO_EFFECT[key]}")

    def get(key: str) -> RawValue | None:
        return server.get(key)

    source_raw = get("secrets_source")
    secrets_source = _secrets_source(source_raw) if source_raw else "inline"
    inline = secrets_source == "inline"

    def required(key: str) -> RawValue:
        raw = get(key)
        if raw is None or not raw.value:
            raise ConfigError(f"{key} is required in [{SERVER_SECTION}] (or DUOMFA_{key.upper()}): "
                              f"{SERVER_OPTIONS.get(key, key)}")
        return raw

    ikey = skey = None
    api_host = ""
    if inline or get("ikey"):
        ikey_raw = required("ikey")
        problem = ikey_problem(ikey_raw.value)
        if problem:
            raise ConfigError(f"{ikey_raw.origin}: {problem}")
        ikey = ikey_raw.value
    if inline or get("skey"):
        skey_raw = required("skey")
        problem = skey_problem(skey_raw.value)
        if problem:
            raise ConfigError(f"{skey_raw.origin}: {problem}")
        skey = Secret(skey_raw.value)
    if inline or get("api_host"):
        api_host = required("api_host").value.lower()
        if "://" in api_host or "/" in api_host:
            raise ConfigError(f"{get('api_host').origin}: api_host is a host name such as "  # type: ignore[union-attr]
                              "api-XXXXXXXX.duosecurity.com, without https:// or a path")
    if get("api_port") is not None:
        api_port = _int(get("api_port"), "api_port", 1, 65535)  # type: ignore[arg-type]
        if ":" not in api_host and api_host and api_port != 443:
            api_host = f"{api_host}:{api_port}"

    clients = _clients(server, inline)
    exempt = _exempt_usernames(server, notices)
    client_ip_attr = "Calling-Station-Id"
    if get("client_ip_attr") is not None:
        raw = get("client_ip_attr")
        assert raw is not None
        client_ip_attr = "Calling-Station-Id" if raw.value.lower() == "default" else raw.value
        try:
            attribute_type(client_ip_attr)
        except KeyError as exc:
            raise ConfigError(f"{raw.origin}: client_ip_attr = {raw.value!r}: {exc.args[0]}") from None
    pw_codec = "utf-8"
    if get("pw_codec") is not None:
        raw = get("pw_codec")
        assert raw is not None
        try:
            pw_codec = codecs.lookup(raw.value).name
            "x".encode(pw_codec)  # hex, base64, rot13 … are codecs too, but not text encodings: refused now
        except LookupError:
            raise ConfigError(f"{raw.origin}: pw_codec = {raw.value!r} is not a text encoding Python knows "
                              "(e.g. utf-8, latin-1)") from None
    http_proxy = None
    if get("http_proxy_host") is not None:
        port = _int(get("http_proxy_port"), "http_proxy_port", 1, 65535) if get("http_proxy_port") else 80  # type: ignore[arg-type]
        http_proxy = f"http://{get('http_proxy_host').value}:{port}"  # type: ignore[union-attr]
    ca_certs = None
    for key in ("ca_certs", "http_ca_certs_file"):
        if get(key) is not None:
            ca_certs = _ca_path(get(key), key)  # type: ignore[arg-type]
    api_timeout: float | None = 10.0
    if get("api_timeout") is not None:
        api_timeout = _number(get("api_timeout"), "api_timeout", 0, 600) or None  # type: ignore[arg-type]
    http_port: int | None = 8080
    if get("http_port") is not None:
        http_port = _int(get("http_port"), "http_port", 0, 65535) or None  # type: ignore[arg-type]

    debug = False
    for raw_debug in (main.get("debug"), get("debug")):
        if raw_debug is not None:
            debug = debug or _bool(raw_debug, "debug")
    if main.get("log_stdout") is not None:
        _bool(main["log_stdout"], "log_stdout")  # always on: validate, nothing else

    def opt(key: str, convert, default):
        raw = get(key)
        return default if raw is None else convert(raw, key)

    return ProxySettings(
        ikey=ikey or "",
        skey=skey,
        api_host=api_host,
        clients=clients,
        port=opt("port", lambda r, k: _int(r, k, 1, 65535), 1812),
        interface=opt("interface", _address, "0.0.0.0"),
        failmode=opt("failmode", lambda r, k: _choice(r, k, ("safe", "secure")), "safe"),
        exempt_usernames=exempt,
        client_ip_attr=client_ip_attr,
        api_timeout=api_timeout,
        pw_codec=pw_codec,
        require_message_authenticator=opt(
            "require_message_authenticator", lambda r, k: _choice(r, k, ("auto", "yes", "no")), "auto"),
        ca_certs=ca_certs,
        http_port=http_port,
        http_interface=opt("http_interface", _address, "0.0.0.0"),
        secrets_source=secrets_source,
        secrets_refresh_seconds=opt("secrets_refresh_seconds", lambda r, k: _number(r, k, 1, 86400), 30.0),
        max_pushes_per_user_per_minute=opt("max_pushes_per_user_per_minute", lambda r, k: _int(r, k, 1, 1000), 3),
        reply_cache_seconds=opt("reply_cache_seconds", lambda r, k: _number(r, k, 0, 600), 30.0),
        push_wait_seconds=opt("push_wait_seconds", lambda r, k: _number(r, k, 5, 600), 75.0),
        long_poll_grace_seconds=opt("long_poll_grace_seconds", lambda r, k: _number(r, k, 1, 300), 65.0),
        http_proxy=http_proxy,
        debug=debug,
        notices=tuple(notices),
    )


def _exempt_usernames(server: dict[str, RawValue], notices: list[str]) -> tuple[str, ...]:
    """exempt_username_1, _2 … up to the first number missing, as Duo's proxy reads them; a notice for each entry
    after the gap, which Duo's proxy ignores too (and which duomfa before 0.2 honoured)."""
    numbered = {int(key.rsplit("_", 1)[1]): raw for key, raw in server.items()
                if key.startswith("exempt_username_") and key.rsplit("_", 1)[1].isdigit()}
    names: list[str] = []
    number = 1
    while number in numbered:
        names.append(numbered[number].value)
        number += 1
    for ignored in sorted(n for n in numbered if n > number):
        notices.append(f"{numbered[ignored].origin}: exempt_username_{ignored} is IGNORED: exempt_username_{number} "
                       f"is missing, and exempt users are read from 1 up to the first missing number (as Duo's "
                       f"proxy reads them); renumber the entries without gaps if this user must be exempt")
    return tuple(names)


def _clients(server: dict[str, RawValue], inline: bool) -> tuple[RadiusClient, ...]:
    clients: list[RadiusClient] = []
    numbers = sorted({int(k.rsplit("_", 1)[1]) for k in server
                      if k.startswith(("radius_ip_", "radius_secret_")) and k.rsplit("_", 1)[1].isdigit()})
    for number in numbers:
        ip_raw, secret_raw = server.get(f"radius_ip_{number}"), server.get(f"radius_secret_{number}")
        if ip_raw is None:
            assert secret_raw is not None
            raise ConfigError(f"{secret_raw.origin}: radius_secret_{number} has no radius_ip_{number}; "
                              "IP and secret numbers must pair")
        try:
            networks = parse_networks(ip_raw.value)
        except ValueError as exc:
            raise _not_networks(ip_raw.origin, f"radius_ip_{number} =", ip_raw.value, exc) from None
        secret = None
        if inline:
            if secret_raw is None or not secret_raw.value:
                raise ConfigError(f"{ip_raw.origin}: radius_ip_{number} has no radius_secret_{number}; IP and "
                                  "secret numbers must pair")
            secret = Secret(secret_raw.value)
        elif secret_raw is not None:
            raise ConfigError(f"{secret_raw.origin}: radius_secret_{number} is set, but the secrets_source provides "
                              "the shared secret; remove one of them")
        clients.append(RadiusClient(name=f"radius_ip_{number}", networks=networks, secret=secret))
    for key, status_only in (("radius_clients", False), ("status_server_clients", True)):
        listed = server.get(key)
        if listed is None or not listed.value:
            continue
        if inline:
            raise ConfigError(f"{listed.origin}: {key} share the secrets_source's secret; with inline secrets "
                              "use radius_ip_N and radius_secret_N")
        networks: list[IpNetwork] = []
        for item in listed.value.split(","):
            try:
                networks.extend(parse_networks(item))
            except ValueError as exc:
                raise _not_networks(listed.origin, f"{key} entry", item.strip(), exc) from None
        clients.append(RadiusClient(name=key, networks=tuple(networks), secret=None, status_only=status_only))
    if inline and not clients:
        raise ConfigError(f"radius_ip_1 and radius_secret_1 are required in [{SERVER_SECTION}]: the RADIUS clients "
                          "(for AWS Directory Service, its domain controllers' addresses) and their shared secret")
    return tuple(clients)
