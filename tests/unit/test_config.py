"""Settings: an admin's authproxy.cfg is read as Duo's proxy reads it, and every mistake names file, line and fix."""

from __future__ import annotations

import ipaddress
import textwrap

import pytest

from duomfa.config import ConfigError, load_settings, parse_networks

IKEY = "DIABCDEFGHIJKLMNOPQR"
SKEY = "s" * 40


def write(tmp_path, body: str):
    path = tmp_path / "authproxy.cfg"
    path.write_text(textwrap.dedent(body))
    return path


def minimal(extra: str = "") -> str:
    return f"""\
        [main]
        debug = false

        [radius_server_duo_only]
        ikey = {IKEY}
        skey = {SKEY}
        api_host = api-12345678.duosecurity.com
        radius_ip_1 = 10.0.1.10
        radius_secret_1 = first-secret
        radius_ip_2 = 10.0.2.0/24
        radius_secret_2 = second-secret
        {extra}
        """


def test_a_duo_authproxy_section_is_read_with_duos_defaults(tmp_path):
    settings = load_settings(write(tmp_path, minimal()), {})
    assert settings.ikey == IKEY and settings.skey.reveal() == SKEY
    assert settings.port == 1812 and settings.failmode == "safe"
    assert settings.require_message_authenticator == "auto"
    assert settings.client_ip_attr == "Calling-Station-Id"
    assert settings.max_pushes_per_user_per_minute == 3
    assert [c.name for c in settings.clients] == ["radius_ip_1", "radius_ip_2"]
    assert settings.clients[1].networks == (ipaddress.ip_network("10.0.2.0/24"),)
    assert "s" * 40 not in repr(settings)


def test_unknown_key_names_file_line_key_and_what_is_allowed(tmp_path):
    path = write(tmp_path, minimal("failmod = secure"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert f"{path}:12" in message and "'failmod'" in message and "failmode" in message


@pytest.mark.parametrize("line, expected", [
    ("failmode = open", "allowed: safe, secure"),
    ("port = 70000", "out of range; allowed 1–65535"),
    ("port = twelve", "not a whole number"),
    ("api_timeout = soon", "not a number"),
    ("require_message_authenticator = maybe", "allowed: auto, yes, no"),
    ("client_ip_attr = Not-An-Attribute", "client_ip_attr"),
    ("pw_codec = klingon", "not a text encoding"),
    ("ca_certs = /no/such/file.pem", "no such file"),
    ("secrets_source = vault:abc", "allowed: inline, file:PATH, aws-secretsmanager:ARN"),
    ("radius_ip_3 = 10.0.0.300", "is not an address, a CIDR block or a range"),
    ("skey_protected = AQAAANCMnd8BFdERjHoAwE", "DPAPI"),
    ("radius_secret_protected_1 = AQAAANCMnd8", "DPAPI"),
])
def test_malformed_values_stop_the_start_with_the_line(tmp_path, line, expected):
    path = write(tmp_path, minimal(line))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert expected in str(caught.value)
    assert f"{path}:12" in str(caught.value)


def test_ip_and_secret_numbers_must_pair(tmp_path):
    with pytest.raises(ConfigError, match="radius_ip_3 has no radius_secret_3"):
        load_settings(write(tmp_path, minimal("radius_ip_3 = 10.0.3.3")), {})
    with pytest.raises(ConfigError, match="radius_secret_4 has no radius_ip_4"):
        load_settings(write(tmp_path, minimal("radius_secret_4 = x")), {})


def test_duos_options_without_effect_are_accepted_with_a_notice(tmp_path):
    settings = load_settings(write(tmp_path, minimal("pass_through_attr_names = Class\nclient = ad_client")), {})
    assert any("pass_through_attr_names has no effect" in n for n in settings.notices)
    assert any("client has no effect" in n for n in settings.notices)


def test_other_proxy_modes_are_refused_with_the_reason(tmp_path):
    path = write(tmp_path, minimal() + "\n[radius_server_auto]\nikey = x\n")
    with pytest.raises(ConfigError, match=r"\[radius_server_auto\] cannot be used: it needs a primary"):
        load_settings(path, {})


def test_fips_mode_is_read_with_where_it_was_set_for_the_start_check(tmp_path):
    """The configuration only reads fips_mode; whether OpenSSL enforces FIPS is checked when the proxy starts
    (tests/unit/test_fips.py), and its message names this origin."""
    on = load_settings(write(tmp_path, minimal().replace("debug = false", "fips_mode = true")), {})
    assert on.fips_mode is True and on.fips_mode_origin.endswith("authproxy.cfg:2") and not on.notices
    from_environment = load_settings(write(tmp_path, minimal()), {"DUOMFA_FIPS_MODE": "true"})
    assert from_environment.fips_mode_origin == "environment variable DUOMFA_FIPS_MODE"
    off = load_settings(write(tmp_path, minimal().replace("debug = false", "fips_mode = false")), {})
    assert off.fips_mode is False and off.fips_mode_origin is None and not off.notices
    with pytest.raises(ConfigError, match=r"authproxy.cfg:2: fips_mode = 'maybe' is not true or false"):
        load_settings(write(tmp_path, minimal().replace("debug = false", "fips_mode = maybe")), {})


def test_environment_variables_override_and_can_replace_the_file(tmp_path):
    settings = load_settings(write(tmp_path, minimal()), {"DUOMFA_FAILMODE": "secure", "DUOMFA_PORT": "11812"})
    assert settings.failmode == "secure" and settings.port == 11812
    only_env = load_settings(None, {
        "DUOMFA_IKEY": IKEY, "DUOMFA_SKEY": SKEY, "DUOMFA_API_HOST": "api-x.duofederal.com",
        "DUOMFA_RADIUS_IP_1": "10.0.0.5", "DUOMFA_RADIUS_SECRET_1": "s3",
        "DUOMFA_EXEMPT_USERNAME_1": "svc-backup", "PATH": "/usr/bin",
    })
    assert only_env.api_host == "api-x.duofederal.com" and only_env.exempt_usernames == ("svc-backup",)
    with pytest.raises(ConfigError, match="environment variable DUOMFA_FAILMOD: unknown setting"):
        load_settings(write(tmp_path, minimal()), {"DUOMFA_FAILMOD": "secure"})


def test_every_other_duomfa_variable_in_the_repository_is_not_taken_for_a_setting(tmp_path):
    """radtest's secret, the scripts' and the tests' variables share the prefix: a proxy started from a shell that
    holds one must not refuse to start. Every DUOMFA_* name written anywhere is a setting or one of those."""
    import re
    from pathlib import Path

    from duomfa.config import ENV_NOT_SETTINGS
    from duomfa.options import option

    root = Path(__file__).resolve().parents[2]
    names = {name for folder in ("src", "scripts", "tests") for path in (root / folder).rglob("*")
             if path.is_file() and path.suffix in ("", ".py", ".sh")
             for name in re.findall(r"\bDUOMFA_[A-Z0-9_]+\b", path.read_text(encoding="utf-8", errors="replace"))}
    deliberate_typo = {"DUOMFA_FAILMOD"}  # test_environment_variables_override_… checks that it is refused
    others = {name for name in names - deliberate_typo
              if option(re.sub(r"_\d+$", "_N", name.removeprefix("DUOMFA_").lower())) is None
              and option(name.removeprefix("DUOMFA_").lower()) is None}
    assert {"DUOMFA_RADTEST_SECRET", "DUOMFA_VENV", "DUOMFA_FIPS_CACHE"} <= others
    assert others == others & ENV_NOT_SETTINGS, "add these to duomfa.config.ENV_NOT_SETTINGS"
    assert load_settings(write(tmp_path, minimal()), dict.fromkeys(others, "x")).port == 1812


def test_secrets_source_replaces_inline_secrets(tmp_path):
    body = """\
        [radius_server_duo_only]
        secrets_source = aws-secretsmanager:arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:duo-AbCdEf
        radius_ip_1 = 10.0.1.10
        radius_ip_2 = 10.0.1.11
        """
    settings = load_settings(write(tmp_path, body), {})
    assert settings.skey is None and all(c.secret is None for c in settings.clients)
    with pytest.raises(ConfigError, match="radius_secret_1 is set, but the secrets_source provides"):
        load_settings(write(tmp_path, body + "radius_secret_1 = x\n"), {})


def test_bad_keys_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="not an integration key"):
        load_settings(write(tmp_path, minimal().replace(IKEY, "DIshort")), {})
    with pytest.raises(ConfigError, match="not a Duo secret key"):
        load_settings(write(tmp_path, minimal().replace(SKEY, "short")), {})
    with pytest.raises(ConfigError, match="without https://"):
        load_settings(write(tmp_path, minimal().replace("api-12345678", "https://api-12345678")), {})


def test_structure_errors_name_the_line(tmp_path):
    path = write(tmp_path, "ikey = x\n")
    with pytest.raises(ConfigError, match=rf"{path}:1: 'ikey' is outside any section"):
        load_settings(path, {})
    path = write(tmp_path, "[radius_server_duo_only]\nport = 1\nport = 2\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: port is set twice"):
        load_settings(path, {})
    path = write(tmp_path, "[radius_server_duo_only]\nthis line is nonsense\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: this line is neither 'key = value' nor"):
        load_settings(path, {})


@pytest.mark.parametrize("text, expected", [
    ("10.0.0.1", ["10.0.0.1/32"]),
    ("10.0.0.0/24", ["10.0.0.0/24"]),
    ("10.1.0.0/255.255.0.0", ["10.1.0.0/16"]),
    ("10.0.0.1-10.0.0.3", ["10.0.0.1/32", "10.0.0.2/31"]),
    ("fd00::1", ["fd00::1/128"]),
])
def test_clients_may_be_addresses_blocks_or_ranges(text, expected):
    assert [str(n) for n in parse_networks(text)] == expected


def test_radius_clients_list_shares_the_sources_secret(tmp_path):
    body = """\
        [radius_server_duo_only]
        secrets_source = file:/run/secrets/duomfa.json
        radius_clients = 10.0.1.10, 10.0.2.10,10.0.3.0/28
        """
    settings = load_settings(write(tmp_path, body), {})
    [client] = settings.clients
    assert [str(n) for n in client.networks] == ["10.0.1.10/32", "10.0.2.10/32", "10.0.3.0/28"]
    with pytest.raises(ConfigError, match="'10.0.9' is not an address"):
        load_settings(write(tmp_path, body.replace("10.0.3.0/28", "10.0.9")), {})


def test_exempt_users_are_read_up_to_the_first_missing_number_and_the_rest_named_at_start(tmp_path):
    path = write(tmp_path, minimal("exempt_username_1 = svc-break-glass\n        exempt_username_2 = Svc-Backup\n"
                                   "        exempt_username_4 = svc-after-the-gap\n"
                                   "        exempt_username_7 = svc-far"))
    settings = load_settings(path, {})
    assert settings.exempt_usernames == ("svc-break-glass", "Svc-Backup")  # as written: matched exactly
    ignored = [notice for notice in settings.notices if "IGNORED" in notice]
    assert len(ignored) == 2
    assert f"{path}:14" in ignored[0] and "exempt_username_4" in ignored[0]
    assert "exempt_username_3 is missing" in ignored[0]
    assert "exempt_username_7" in ignored[1]


def test_without_exempt_username_1_nobody_is_exempt(tmp_path):
    settings = load_settings(write(tmp_path, minimal("exempt_username_2 = svc-two")), {})
    assert settings.exempt_usernames == ()
    assert any("exempt_username_2 is IGNORED" in notice for notice in settings.notices)


SECRET_LOOKING = "Zq7-not-to-be-printed-9Xk2Lm4Np6Rs8Tv0Wy"  # 40 characters, like an skey


@pytest.mark.parametrize("extra, expected", [
    # ikey and skey swapped
    (f"ikey = {SECRET_LOOKING}\n        skey = {IKEY}", "is it the skey?"),
    # a secret wrapped onto a line of its own
    (f"radius_secret_3 = {SECRET_LOOKING[:20]}\n        {SECRET_LOOKING[20:]}", "neither 'key = value' nor"),
    # radius_ip and radius_secret swapped
    (f"radius_ip_3 = {SECRET_LOOKING}\n        radius_secret_3 = 10.0.3.10", "is it a shared secret?"),
    ("radius_ip_3 = 10.0.3.10\n        radius_secret_3 = x\n        radius_ip_4 = s3cr3t/24\n"
     "        radius_secret_4 = y", "is it a shared secret?"),
])
def test_a_configuration_error_never_prints_a_secret(tmp_path, extra, expected):
    body = minimal(extra)
    if extra.startswith("ikey"):
        body = body.replace(f"ikey = {IKEY}\n", "").replace(f"skey = {SKEY}\n", "")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, body), {})
    message = str(caught.value)
    assert expected in message
    for piece in (SECRET_LOOKING, SECRET_LOOKING[:20], SECRET_LOOKING[20:], "s3cr3t"):
        assert piece not in message


def test_an_address_typo_is_still_shown(tmp_path):
    with pytest.raises(ConfigError, match=r"radius_ip_3 = '10\.0\.3\.300' is not an address"):
        load_settings(write(tmp_path, minimal("radius_ip_3 = 10.0.3.300\n        radius_secret_3 = x")), {})


@pytest.mark.parametrize("codec", ["hex", "base64", "rot13", "zlib", "no-such-codec"])
def test_pw_codec_must_be_a_text_encoding_at_start(tmp_path, codec):
    with pytest.raises(ConfigError, match="not a text encoding"):
        load_settings(write(tmp_path, minimal(f"pw_codec = {codec}")), {})
    assert load_settings(write(tmp_path, minimal("pw_codec = latin-1")), {}).pw_codec == "iso8859-1"


def test_the_docs_option_tables_are_the_option_table():
    """docs/proxy.md's tables are generated from duomfa.options: regenerate them rather than editing by hand."""
    import pathlib

    from duomfa.options import docs_table, main_docs_table

    docs = (pathlib.Path(__file__).parents[2] / "docs" / "proxy.md").read_text()
    for generated in (docs_table(), main_docs_table()):
        start = docs.index(generated[0])
        table = docs[start:docs.index("\n\n", start)].splitlines()
        assert table == generated


def test_every_option_default_is_the_settings_default():
    import dataclasses

    from duomfa.config import ProxySettings
    from duomfa.options import OPTIONS

    fields = {f.name: f.default for f in dataclasses.fields(ProxySettings)}
    for spec in OPTIONS:
        if spec.attribute is not None:
            assert fields[spec.attribute] == spec.default, spec.name


def test_typed_values_are_parsed_once():
    from duomfa.config import FailMode, MessageAuthenticatorPolicy, SecretsSource

    settings = load_settings(None, {"DUOMFA_FAILMODE": "SECURE", "DUOMFA_REQUIRE_MESSAGE_AUTHENTICATOR": "yes",
                                    "DUOMFA_SECRETS_SOURCE": "aws-secretsmanager:arn:aws:secretsmanager:us-east-1:1:"
                                                             "secret:x", "DUOMFA_RADIUS_CLIENTS": "10.0.0.0/24"})
    assert settings.failmode is FailMode.SECURE
    assert settings.require_message_authenticator is MessageAuthenticatorPolicy.YES
    assert settings.secrets_source == SecretsSource("aws-secretsmanager", "arn:aws:secretsmanager:us-east-1:1:secret:x")
    assert str(settings.secrets_source).startswith("aws-secretsmanager:arn:")


def test_the_stack_s_comma_separated_exempt_users_join_the_numbered_ones(tmp_path):
    settings = load_settings(write(tmp_path, minimal("exempt_username_1 = svc-one")),
                             {"DUOMFA_EXEMPT_USERNAMES": " svc-break-glass , Svc Two,,svc-one"})
    assert settings.exempt_usernames == ("svc-one", "svc-break-glass", "Svc Two")


@pytest.mark.parametrize("value, expected", [("proxy.corp.example:3128", "http://proxy.corp.example:3128"),
                                             ("10.0.0.5:8080", "http://10.0.0.5:8080"), ("", None)])
def test_http_proxy_is_host_and_port(tmp_path, value, expected):
    assert load_settings(write(tmp_path, minimal()), {"DUOMFA_HTTP_PROXY": value}).http_proxy == expected


@pytest.mark.parametrize("value", ["proxy.corp.example", "http://proxy:3128", "user:pw@proxy:3128", "proxy:99999"])
def test_http_proxy_that_is_not_host_and_port_is_refused_without_showing_credentials(tmp_path, value):
    with pytest.raises(ConfigError, match="not host:port|holds credentials") as caught:
        load_settings(write(tmp_path, minimal()), {"DUOMFA_HTTP_PROXY": value})
    assert "pw" not in str(caught.value)


# --- Duo's [main] section, and files as Windows admins save them ---------------------------------------------------

# An authproxy.cfg as it comes off a Windows server: every [main] option of Duo's proxy (its 5.0 check of the section,
# and log_file_prefix), CRLF line ends, a non-ASCII comment and a non-ASCII exempt user. Line numbers matter below.
WINDOWS_CFG = """\
; Duo Authentication Proxy — Ansprechpartner: Jürgen Müller (IT-Sicherheit)
[main]
debug = false
log_dir = C:\\\\Program Files\\\\Duo Security Authentication Proxy\\\\log
log_auth_events = true
log_sso_events = false
log_max_files = 10
log_max_size = 20971520
log_file = true
log_stdout = true
log_syslog = true
syslog_facility = LOG_AUTH
http_ca_certs_file = {ca}
interface = 10.0.5.20
http_proxy_host = proxy.corp.example
http_proxy_port = 3128
test_connectivity_on_startup = true
client = ad_client
fips_mode = false
server = radius_server_duo_only
log_file_prefix = authproxy

[radius_server_duo_only]
ikey = {ikey}
skey = {skey}
api_host = api-12345678.duosecurity.com
radius_ip_1 = 10.0.1.10
radius_secret_1 = Geheim-Schlüssel-1
failmode = secure
client_ip_attr = paloalto
exempt_username_1 = svc-notfall-zugang-é
"""
WINDOWS_CFG_NO_EFFECT = ("log_dir", "log_auth_events", "log_max_files", "log_max_size", "log_file",
                         "test_connectivity_on_startup", "client", "server", "log_file_prefix")
# how Windows editors save a file, and how the proxy should say it read it
ENCODINGS = [
    ("utf-8", b"", "UTF-8"),
    ("utf-8", b"\xef\xbb\xbf", "UTF-8 with a byte order mark"),
    ("utf-16-le", b"\xff\xfe", "UTF-16 little-endian (byte order mark)"),
    ("utf-16-be", b"\xfe\xff", "UTF-16 big-endian (byte order mark)"),
    ("cp1252", b"", "Windows-1252 (cp1252): not valid UTF-8"),
]


def write_windows_file(tmp_path, text: str, codec: str, mark: bytes):
    path = tmp_path / "authproxy.cfg"
    path.write_bytes(mark + text.replace("\n", "\r\n").encode(codec))
    return path


def windows_cfg(tmp_path) -> str:
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    return WINDOWS_CFG.format(ca=ca, ikey=IKEY, skey=SKEY)


@pytest.mark.parametrize("codec, mark, described", ENCODINGS)
def test_a_windows_authproxy_cfg_with_every_main_option_is_read_in_any_encoding(tmp_path, codec, mark, described):
    text = windows_cfg(tmp_path)
    settings = load_settings(write_windows_file(tmp_path, text, codec, mark), {})
    assert settings.config_encoding == described
    assert settings.exempt_usernames == ("svc-notfall-zugang-é",)
    assert settings.clients[0].secret.reveal() == "Geheim-Schlüssel-1"
    # honoured from [main]
    assert settings.interface == "10.0.5.20"
    assert settings.http_proxy == "http://proxy.corp.example:3128"
    assert settings.ca_certs == str(tmp_path / "corp-ca.pem")
    assert settings.log_syslog is True and settings.syslog_facility == 4  # LOG_AUTH
    assert settings.debug is False and settings.fips_mode is False
    assert settings.client_ip_attr == "PaloAlto-Client-Source-IP" and settings.failmode == "secure"
    # accepted without effect: one notice each, naming the file and line; none for what is off or already so
    said = {notice.split(" has no effect")[0].rsplit(": ", 1)[1]: notice for notice in settings.notices
            if " has no effect" in notice}
    assert set(said) == set(WINDOWS_CFG_NO_EFFECT)
    assert said["log_max_files"].startswith(f"{tmp_path / 'authproxy.cfg'}:7: ")
    for notice in settings.notices:
        assert SKEY not in notice and "Geheim" not in notice


@pytest.mark.parametrize("codec, mark, described", ENCODINGS)
def test_a_bad_line_names_file_and_line_in_every_encoding(tmp_path, codec, mark, described):
    text = windows_cfg(tmp_path).replace("failmode = secure", "this line is nonsense, Jürgen")
    path = write_windows_file(tmp_path, text, codec, mark)
    with pytest.raises(ConfigError, match=rf"{path}:29: this line is neither 'key = value' nor") as caught:
        load_settings(path, {})
    assert "Jürgen" not in str(caught.value)  # the line is not shown: it could be a wrapped secret
    text = windows_cfg(tmp_path).replace("log_max_files = 10", "log_max_files = zehn")
    with pytest.raises(ConfigError, match=rf"{path}:7: log_max_files = 'zehn' is not a whole number"):
        load_settings(write_windows_file(tmp_path, text, codec, mark), {})


@pytest.mark.parametrize("data, line, expected", [
    (b"[main]\r\ndebug = false\r\n; caf\x81\xff\r\n", 3, "not valid UTF-8 or Windows-1252"),
    (b"\xff\xfe" + "[main]\r\n".encode("utf-16-le") + b"\x00\xd8\x41", 2, "not valid UTF-16 little-endian"),
    ("[main]\r\ndebug = false\r\n".encode("utf-16-le"), 1, "looks like UTF-16 without a byte order mark"),
])
def test_a_file_in_no_encoding_we_read_says_where_and_how_to_fix_it(tmp_path, data, line, expected):
    path = tmp_path / "authproxy.cfg"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ") and expected in message and "save the file as UTF-8" in message


def test_a_value_in_the_server_section_wins_over_main_but_mains_web_proxy_and_ca_bundle_win_as_in_duo(tmp_path):
    ca_main, ca_server = tmp_path / "main.pem", tmp_path / "server.pem"
    ca_main.write_text("x")
    ca_server.write_text("x")
    main = (f"[main]\nhttp_proxy_host = main-proxy.corp.example\nhttp_proxy_port = 8080\n"
            f"http_ca_certs_file = {ca_main}\ninterface = 10.0.0.1\ndebug = true\n")
    server = minimal().split("[radius_server_duo_only]")[1]
    only_main = load_settings(write(tmp_path, main + "[radius_server_duo_only]" + server), {})
    assert only_main.http_proxy == "http://main-proxy.corp.example:8080"
    assert only_main.ca_certs == str(ca_main) and only_main.interface == "10.0.0.1" and only_main.debug
    assert not only_main.notices

    both = load_settings(write(tmp_path, main + "[radius_server_duo_only]" + server.replace(
        "radius_ip_1", f"http_proxy_host = 10.9.9.9\n        ca_certs = {ca_server}\n        interface = 10.0.0.2\n"
        "        debug = false\n        radius_ip_1")), {})
    # Duo's proxy copies [main]'s web proxy and CA bundle into every server section, over the section's own
    assert both.http_proxy == "http://main-proxy.corp.example:8080"
    assert both.ca_certs == str(ca_main)
    assert both.interface == "10.0.0.2"  # interface: the server section's wins, as in Duo's proxy
    assert both.debug  # debug anywhere turns it on, as in Duo's proxy
    overridden = [notice for notice in both.notices if "[main]'s" in notice and "is used, not the one at" in notice]
    assert len(overridden) == 2 and all("remove one of the two" in n for n in overridden)

    by_env = load_settings(write(tmp_path, main + "[radius_server_duo_only]" + server),
                           {"DUOMFA_HTTP_PROXY": "env-proxy.corp.example:3128"})
    assert by_env.http_proxy == "http://env-proxy.corp.example:3128"  # the environment overrides the file
    ca_env = load_settings(write(tmp_path, main + "[radius_server_duo_only]" + server),
                           {"DUOMFA_CA_CERTS": str(ca_server)})
    assert ca_env.ca_certs == str(ca_server) and not ca_env.notices


def test_http_proxy_port_without_a_host_in_its_section_is_named(tmp_path):
    body = minimal().replace("debug = false", "http_proxy_port = 3128")
    settings = load_settings(write(tmp_path, body), {})
    assert settings.http_proxy is None
    assert any("http_proxy_port has no effect: there is no http_proxy_host in [main]" in n for n in settings.notices)


@pytest.mark.parametrize("value", ["http://proxy.corp.example", "proxy.corp.example:3128", "user:pw@proxy", "a b"])
def test_http_proxy_host_is_a_host_name_only(tmp_path, value):
    with pytest.raises(ConfigError, match="http_proxy_host") as caught:
        load_settings(write(tmp_path, minimal().replace("debug = false", f"http_proxy_host = {value}")), {})
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("value, code", [("LOG_USER", 1), ("LOG_LOCAL0", 16), ("local7", 23), ("log_daemon", 3)])
def test_syslog_facility_takes_duos_names(tmp_path, value, code):
    body = minimal().replace("debug = false", f"log_syslog = true\n        syslog_facility = {value}")
    assert load_settings(write(tmp_path, body), {}).syslog_facility == code


def test_an_unknown_syslog_facility_stops_the_start_as_in_duos_proxy(tmp_path):
    body = minimal().replace("debug = false", "syslog_facility = LOG_NOWHERE")
    with pytest.raises(ConfigError, match=r"authproxy.cfg:2: syslog_facility = 'LOG_NOWHERE' is not a syslog "
                                          r"facility; allowed: LOG_AUTH.*LOG_LOCAL7"):
        load_settings(write(tmp_path, body), {})


def test_main_options_reach_the_settings_from_the_environment_too(tmp_path):
    settings = load_settings(write(tmp_path, minimal()), {"DUOMFA_LOG_SYSLOG": "true", "DUOMFA_FIPS_MODE": "false",
                                                          "DUOMFA_SYSLOG_FACILITY": "LOG_LOCAL3"})
    assert settings.log_syslog and settings.fips_mode is False and settings.syslog_facility == 19


@pytest.mark.parametrize("value, expected", [("paloalto", "PaloAlto-Client-Source-IP"),
                                             ("PaloAlto-Client-Source-IP", "PaloAlto-Client-Source-IP"),
                                             ("default", "Calling-Station-Id"), ("Framed-IP-Address",
                                                                                 "Framed-IP-Address")])
def test_client_ip_attr_takes_duos_aliases_and_the_palo_alto_vendor_attribute(tmp_path, value, expected):
    settings = load_settings(write(tmp_path, minimal(f"client_ip_attr = {value}")), {})
    assert settings.client_ip_attr == expected


def test_an_unknown_main_key_is_refused_with_the_keys_duo_knows(tmp_path):
    path = write(tmp_path, minimal().replace("debug = false", "log_max_filez = 3"))
    with pytest.raises(ConfigError, match=r"authproxy.cfg:2: unknown key 'log_max_filez' in \[main\] "
                                          r"\(did you mean log_max_files\?\); allowed: .*log_max_files"):
        load_settings(path, {})
