"""The proxy's settings: one typed model, read once at start from an authproxy.cfg-style INI file and/or
DUOMFA_* environment variables; the options themselves are declared in duomfa.options."""

from __future__ import annotations

import codecs
import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from duomfa.duo.keys import ikey_problem, skey_problem
from duomfa.options import (
    MAIN,
    OPTIONS,
    SERVER,
    ConfigError,
    FailMode,
    MessageAuthenticatorPolicy,
    Problems,
    RawValue,
    SecretsSource,
    allowed_keys,
    default,
    did_you_mean,
    option,
)
from duomfa.secret import Secret

__all__ = ["ConfigError", "FailMode", "MessageAuthenticatorPolicy", "ProxySettings", "RadiusClient", "Secret",
           "SecretsSource", "load_settings", "parse_networks"]

SERVER_SECTION = SERVER
ENV_PREFIX = "DUOMFA_"
# DUOMFA_* variables that belong to the scripts, not to the proxy's settings
# other tools' variables that share the prefix (radtest's secret, the scripts', the tests'): an admin's shell may
# hold them when it starts a proxy
ENV_NOT_SETTINGS = {"DUOMFA_RADTEST_SECRET", "DUOMFA_VENV", "DUOMFA_ROOT", "DUOMFA_BOOTSTRAP_PLAN",
                    "DUOMFA_FIPS_CACHE", "DUOMFA_FIPS_REFRESH", "DUOMFA_LOGIN_DUO"}

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    port: int = default("port")
    interface: str = default("interface")
    failmode: FailMode = default("failmode")
    exempt_usernames: tuple[str, ...] = ()
    client_ip_attr: str = default("client_ip_attr")
    api_timeout: float | None = default("api_timeout")
    pw_codec: str = default("pw_codec")
    require_message_authenticator: MessageAuthenticatorPolicy = default("require_message_authenticator")
    ca_certs: str | None = default("ca_certs")
    http_port: int | None = default("http_port")
    http_interface: str = default("http_interface")
    secrets_source: SecretsSource = default("secrets_source")
    secrets_refresh_seconds: float = default("secrets_refresh_seconds")
    max_pushes_per_user_per_minute: int = default("max_pushes_per_user_per_minute")
    reply_cache_seconds: float = default("reply_cache_seconds")
    push_wait_seconds: float = default("push_wait_seconds")
    long_poll_grace_seconds: float = default("long_poll_grace_seconds")
    http_proxy: str | None = None
    debug: bool = default("debug")
    metrics_namespace: str = default("metrics_namespace")
    log_syslog: bool = default("log_syslog")
    syslog_facility: int = default("syslog_facility")
    fips_mode: bool = default("fips_mode")  # checked at the proxy's start (duomfa.fips), not here
    fips_mode_origin: str | None = None  # where fips_mode = true was set, for the start check's message
    # not an option: where the local syslog daemon listens (tests point it at a socket of their own)
    syslog_address: str = "/dev/log"
    config_file: str | None = None
    config_encoding: str | None = None  # how the file was decoded, for the start-up log
    notices: tuple[str, ...] = field(default=())  # options accepted but without effect, to log at start


# --- reading the INI file, keeping line numbers -------------------------------------------------------------

_SECTION_RE = re.compile(r"^\[\s*([^\]]+?)\s*\]\s*$")
_OPTION_RE = re.compile(r"^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$")


# how a file saved on Windows may begin: (byte order mark, codec, how the log names it)
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with a byte order mark"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 little-endian (byte order mark)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 big-endian (byte order mark)"),
)
CP1252 = "Windows-1252 (cp1252): not valid UTF-8"
SAVE_AS_UTF8 = "save the file as UTF-8 (in Notepad: File → Save As → Encoding: UTF-8)"


def decode_config(data: bytes, path: Path) -> tuple[str, str]:
    """The file's text and how it was decoded: by its byte order mark (UTF-8, UTF-16 LE or BE), else as UTF-8,
    else as Windows-1252 — what Windows editors save. A byte that fits none is named by line, never shown."""

    def undecodable(codec: str, described: str, exc: UnicodeDecodeError) -> ConfigError:
        line = data[:exc.start].decode(codec, errors="replace").count("\n") + 1
        return ConfigError(f"{path}:{line}: not valid {described} (byte {exc.start}); {SAVE_AS_UTF8}")

    for mark, codec, described in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(codec), described
            except UnicodeDecodeError as exc:
                raise undecodable(codec, described, exc) from None
    if b"\x00" in data:  # Notepad's "Unicode" always writes the mark; without it, UTF-16 cannot be told for sure
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: holds NUL bytes: it looks like UTF-16 without a byte order mark; "
                          f"{SAVE_AS_UTF8}")
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), CP1252
    except UnicodeDecodeError as exc:
        raise undecodable("cp1252", "UTF-8 or Windows-1252", exc) from None


def read_ini(path: Path, problems: Problems) -> tuple[dict[str, dict[str, RawValue]], str]:
    """The file's sections, each key with its value and FILE:LINE; and how the file was decoded. A line that cannot
    be read is a problem, and reading goes on."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fix = ("check the path (give the file with -c, or set DUOMFA_* variables instead)"
               if isinstance(exc, FileNotFoundError) else "check the path and that this user may read the file")
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})", fix=fix) from None
    try:
        text, encoding = decode_config(data, path)
    except ConfigError as exc:
        raise ConfigError(*exc.problems, fix=SAVE_AS_UTF8) from None
    sections: dict[str, dict[str, RawValue]] = {}
    current: str | None = None
    # split at line ends only, as editors number lines (str.splitlines also splits at U+2028, \x0c …)
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        where = f"{path}:{number}"
        section = _SECTION_RE.match(stripped)
        if section:
            current = section.group(1).strip().lower()
            if current in sections:
                problems.found.append(f"{where}: section [{current}] appears twice; merge the two")
            sections.setdefault(current, {})
            continue
        option = _OPTION_RE.match(stripped)
        if option is None:
            # the line is not shown: a secret wrapped onto a line of its own would be printed
            problems.found.append(
                f"{where}: this line is neither 'key = value' nor '[section]' (its text is not shown, in case it "
                "holds a secret); join a value that was wrapped onto its own line, or put # before a comment")
            continue
        if current is None:
            problems.found.append(f"{where}: {option.group(1)!r} is outside any section; put it under [main] or "
                                  f"[{SERVER_SECTION}]")
            continue
        key = option.group(1).strip().lower()
        if key in sections[current]:
            problems.found.append(f"{where}: {key} is set twice in [{current}] (first at "
                                  f"{sections[current][key].origin}); keep one")
            continue
        sections[current][key] = RawValue(option.group(2).strip(), where)
    return sections, encoding


# --- options of Duo's proxy that duomfa does not take ---------------------------------------------------------

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



INVALID = object()  # a value whose line is a problem: the rules that depend on it are not checked

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
        if isinstance(start, ipaddress.IPv4Address) and isinstance(end, ipaddress.IPv4Address) and start <= end:
            return tuple(ipaddress.summarize_address_range(start, end))
        if isinstance(start, ipaddress.IPv6Address) and isinstance(end, ipaddress.IPv6Address) and start <= end:
            return tuple(ipaddress.summarize_address_range(start, end))
        raise ValueError("a range runs from a lower to a higher address of the same IP version")
    return (ipaddress.ip_network(text, strict=False),)


def _environment_values(environ: Mapping[str, str]) -> dict[str, RawValue]:
    values: dict[str, RawValue] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX):].lower()
        values[key] = RawValue(value.strip(), f"environment variable {name}")
    return values


def _refusal(key: str) -> str | None:
    return SERVER_REFUSED.get(key) or next(
        (why for prefix, why in SERVER_REFUSED.items() if prefix.endswith("_") and key.startswith(prefix)), None)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> ProxySettings:
    """Read the INI file (if any), overlay DUOMFA_* environment variables, and validate everything."""
    main: dict[str, RawValue] = {}
    server: dict[str, RawValue] = {}
    encoding = None
    problems = Problems()
    if path is not None:
        sections, encoding = read_ini(path, problems)
        for name, options in sections.items():
            if name == MAIN:
                main = options
            elif name == SERVER:
                server = options
            else:
                origin = next(iter(options.values())).origin if options else str(path)
                base = re.sub(r"\d+$", "", name)
                if base == SERVER:
                    reason = "run one duomfa proxy per [radius_server_duo_only] section"
                else:
                    reason = OTHER_SECTIONS.get(base, "duomfa reads [main] and [radius_server_duo_only] only")
                problems.found.append(f"{path}: section [{name}] cannot be used: {reason}"
                                      + (f" (near {origin})" if options else ""))
        if not server and not problems.found:
            raise ConfigError(f"{path}: no [{SERVER}] section with settings; see docs/proxy.md")
    for key, raw in _environment_values(environ).items():
        known = option(key)
        if known is None and not _refusal(key):
            problems.found.append(f"{raw.origin}: unknown setting {key!r}"
                                  f"{did_you_mean(key, SERVER) or did_you_mean(key, MAIN)}; allowed: "
                                  f"{allowed_keys(SERVER)}, {allowed_keys(MAIN)}")
            continue
        in_main = known is not None and SERVER not in known.sections
        (main if in_main else server)[key] = raw
    settings = _build(main, server, problems)
    if path is None:
        return settings
    return dataclasses.replace(settings, config_file=str(path), config_encoding=encoding)


def _check_keys(main: dict[str, RawValue], server: dict[str, RawValue], problems: Problems) -> None:
    """Every key is an option of its section (or refused with the reason); any other key is a problem, and is left
    out of what is read next."""
    for key, raw in list(main.items()):
        known = option(key)
        if known is None or MAIN not in known.sections:
            problems.found.append(f"{raw.origin}: unknown key {key!r} in [main]{did_you_mean(key, MAIN)}; allowed: "
                                  f"{allowed_keys(MAIN)}")
            del main[key]
    for key, raw in list(server.items()):
        refusal = _refusal(key)
        known = option(key)
        if refusal:
            problems.found.append(f"{raw.origin}: {key} cannot be used: {refusal}")
        elif known is None or SERVER not in known.sections:
            problems.found.append(f"{raw.origin}: unknown key {key!r} in [{SERVER}]{did_you_mean(key, SERVER)}; "
                                  f"allowed: {allowed_keys(SERVER)}")
        else:
            continue
        del server[key]


def _build(main: dict[str, RawValue], server: dict[str, RawValue], problems: Problems) -> ProxySettings:
    """Each option through its parser; then the rules that span several options. Where both sections set one,
    [radius_server_duo_only]'s value wins, except the web proxy and CA bundle for Duo, where [main]'s does (as in
    Duo's proxy)."""
    _check_keys(main, server, problems)
    notices: list[str] = []
    values: dict[str, object] = {}
    parsed: dict[str, object] = {}
    for spec in OPTIONS:
        if spec.numbered:
            continue
        for section, given in ((MAIN, main), (SERVER, server)):
            found = given.get(spec.name)
            if found is None or section not in spec.sections:
                continue
            try:
                parsed[f"{section}.{spec.name}"] = value = spec.parse(found, spec.name)
            except ConfigError as exc:
                problems.found.extend(exc.problems)
                parsed[f"{section}.{spec.name}"] = INVALID
                continue
            if spec.attribute is not None:
                values[spec.attribute] = value  # [main] first, so the server section's value wins
            if spec.no_effect and value is not False:  # a switch turned off asks for nothing duomfa lacks
                notices.append(f"{found.origin}: {spec.name} has no effect: {spec.no_effect}")

    if parsed.get(f"{MAIN}.fips_mode") is True:  # whether OpenSSL enforces FIPS is the proxy's start check
        values["fips_mode_origin"] = main["fips_mode"].origin
    if parsed.get(f"{MAIN}.log_stdout") is False:
        notices.append(f"{main['log_stdout'].origin}: log_stdout = false has no effect: the proxy always writes "
                       "its JSON lines to standard output")
    values["debug"] = parsed.get(f"{MAIN}.debug") is True or parsed.get(f"{SERVER}.debug") is True
    ikey, skey, api_host = "", None, ""
    clients: tuple[RadiusClient, ...] = ()
    # what the secrets source must be is unknown while its line is wrong: the keys and clients are checked after
    if parsed.get(f"{SERVER}.secrets_source") is not INVALID:
        source = values.get("secrets_source", default("secrets_source"))
        assert isinstance(source, SecretsSource)
        with problems.collect():
            ikey, skey, api_host = _duo_keys(server, source.inline, problems)
        with problems.collect():
            clients = _clients(server, source.inline, problems)
    port = parsed.get(f"{SERVER}.api_port")
    if isinstance(port, int) and api_host and ":" not in api_host and port != 443:
        api_host = f"{api_host}:{port}"
    values["http_proxy"] = _web_proxy(main, server, parsed, values.get("http_proxy"), notices)
    values["ca_certs"] = _ca_bundle(main, server, parsed, values.get("ca_certs"), notices)
    listed = parsed.get(f"{SERVER}.exempt_usernames")
    exempt = _exempt_usernames(server, notices)
    exempt += tuple(name for name in listed if name not in exempt) if isinstance(listed, tuple) else ()
    problems.raise_any()
    return ProxySettings(ikey=ikey, skey=skey, api_host=api_host, clients=clients,
                         exempt_usernames=exempt, notices=tuple(notices), **values)  # type: ignore[arg-type]


def _web_proxy(main: dict[str, RawValue], server: dict[str, RawValue], parsed: dict[str, object],
               ours: object, notices: list[str]) -> str | None:
    """The web proxy for the calls to Duo. As in Duo's proxy, [main]'s http_proxy_host (with [main]'s port, 80 if
    none) replaces the server section's; a DUOMFA_* environment variable replaces both."""
    urls = {}
    for section, given in ((MAIN, main), (SERVER, server)):
        host = parsed.get(f"{section}.http_proxy_host")
        if host is not None:
            urls[section] = f"http://{host}:{parsed.get(f'{section}.http_proxy_port') or 80}"
        elif "http_proxy_port" in given:
            notices.append(f"{given['http_proxy_port'].origin}: http_proxy_port has no effect: there is no "
                           f"http_proxy_host in [{section}]")
    in_server = urls.get(SERVER) or (ours if isinstance(ours, str) else None)
    server_raw = server.get("http_proxy_host") or server.get("http_proxy")
    if _from_environment(server, "http_proxy_host", "http_proxy_port", "http_proxy"):
        return in_server
    if in_server and MAIN in urls and urls[MAIN] != in_server and server_raw is not None:
        notices.append(_overridden("web proxy", main["http_proxy_host"], server_raw))
    return urls.get(MAIN) or in_server


def _ca_bundle(main: dict[str, RawValue], server: dict[str, RawValue], parsed: dict[str, object], ours: object,
               notices: list[str]) -> str | None:
    """The CA bundle for Duo: [main]'s http_ca_certs_file, as in Duo's proxy, else the server section's
    http_ca_certs_file or ca_certs (a DUOMFA_* environment variable first); None: Duo's pinned bundle."""
    in_server = parsed.get(f"{SERVER}.http_ca_certs_file") or ours
    in_main = parsed.get(f"{MAIN}.http_ca_certs_file")
    server_raw = server.get("http_ca_certs_file") or server.get("ca_certs")
    if _from_environment(server, "http_ca_certs_file", "ca_certs"):
        found = in_server
    else:
        if in_server and in_main and in_server != in_main and server_raw is not None:
            notices.append(_overridden("CA bundle", main["http_ca_certs_file"], server_raw))
        found = in_main or in_server
    return found if isinstance(found, str) else None


def _from_environment(server: dict[str, RawValue], *keys: str) -> bool:
    """Whether a DUOMFA_* variable set one of `keys`: the environment overrides the whole file, [main] included."""
    return any(key in server and server[key].origin.startswith("environment variable ") for key in keys)


def _overridden(what: str, used: RawValue, ignored: RawValue) -> str:
    return (f"{used.origin}: [main]'s {what} is used, not the one at {ignored.origin} ([main] applies to every "
            "section, as in Duo's proxy); remove one of the two")


def _duo_keys(server: dict[str, RawValue], inline: bool, problems: Problems) -> tuple[str, Secret | None, str]:
    """ikey, skey and api_host: required with inline secrets; otherwise the secrets source may carry them."""

    def given(key: str) -> RawValue | None:
        raw = server.get(key)
        if raw is not None and raw.value:
            return raw
        if inline:
            spec = option(key)
            problems.found.append(f"{key} is required in [{SERVER}] (or DUOMFA_{key.upper()}): "
                                  f"{spec.summary if spec else key}")
        return None

    ikey = skey = None
    api_host = ""
    if (raw := given("ikey")) is not None:
        if problem := ikey_problem(raw.value):
            problems.found.append(f"{raw.origin}: {problem}")
        ikey = raw.value
    if (raw := given("skey")) is not None:
        if problem := skey_problem(raw.value):
            problems.found.append(f"{raw.origin}: {problem}")
        skey = Secret(raw.value)
    if (raw := given("api_host")) is not None:
        api_host = raw.value.lower()
        if "://" in api_host or "/" in api_host:
            problems.found.append(f"{raw.origin}: api_host is a host name such as api-XXXXXXXX.duosecurity.com, "
                                  "without https:// or a path")
    return ikey or "", skey, api_host


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


def _clients(server: dict[str, RawValue], inline: bool, problems: Problems) -> tuple[RadiusClient, ...]:
    clients: list[RadiusClient] = []
    numbers = sorted({int(k.rsplit("_", 1)[1]) for k in server
                      if k.startswith(("radius_ip_", "radius_secret_")) and k.rsplit("_", 1)[1].isdigit()})
    for number in numbers:
        with problems.collect():
            clients.append(_numbered_client(server, number, inline))
    for key, status_only in (("radius_clients", False), ("status_server_clients", True)):
        with problems.collect():
            listed = _listed_clients(server, key, status_only, inline)
            if listed is not None:
                clients.append(listed)
    if inline and not clients and not problems.found:
        raise ConfigError(f"radius_ip_1 and radius_secret_1 are required in [{SERVER_SECTION}]: the RADIUS clients "
                          "(for AWS Directory Service, its domain controllers' addresses) and their shared secret")
    return tuple(clients)


def _numbered_client(server: dict[str, RawValue], number: int, inline: bool) -> RadiusClient:
    """One pair of radius_ip_N and radius_secret_N."""
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
    return RadiusClient(name=f"radius_ip_{number}", networks=networks, secret=secret)


def _listed_clients(server: dict[str, RawValue], key: str, status_only: bool, inline: bool) -> RadiusClient | None:
    """radius_clients or status_server_clients: addresses that share the secrets source's secret."""
    listed = server.get(key)
    if listed is None or not listed.value:
        return None
    if inline:
        raise ConfigError(f"{listed.origin}: {key} share the secrets_source's secret; with inline secrets "
                          "use radius_ip_N and radius_secret_N")
    networks: list[IpNetwork] = []
    problems = Problems()
    for item in listed.value.split(","):
        try:
            networks.extend(parse_networks(item))
        except ValueError as exc:
            problems.found.extend(_not_networks(listed.origin, f"{key} entry", item.strip(), exc).problems)
    problems.raise_any()
    return RadiusClient(name=key, networks=tuple(networks), secret=None, status_only=status_only)
