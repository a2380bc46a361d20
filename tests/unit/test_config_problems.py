"""A file with several mistakes: every one is reported in one run, each with file:line, what is wrong and the fix."""

from __future__ import annotations

import textwrap

import pytest

from duomfa.config import ConfigError, load_settings
from duomfa.doctor.local import check_config

SKEY = "s" * 40
SECRET = "do-not-show-this-secret"

SEVERAL_MISTAKES = f"""\
    [main]
    debgu = true
    log_max_files = ten

    [radius_server_duo_only]
    ikey = DIABCDEFGHIJKLMNOPQR
    skey = {SKEY}
    api_host = https://api-12345678.duosecurity.com
    radius_ip_1 = 10.0.1.300
    radius_secret_1 = {SECRET}
    radius_secert_2 = {SECRET}
    failmode = open
    this line has no equals sign
    port = 1812
    port = 1813
    status_server_clients = 10.0.0.0/8, 10.1.2.3.4
    """


def load(tmp_path, body: str, environ=None):
    path = tmp_path / "authproxy.cfg"
    path.write_text(textwrap.dedent(body))
    return path, load_settings(path, environ or {})


def test_every_mistake_in_a_file_is_reported_in_one_run_with_its_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, SEVERAL_MISTAKES)
    error = caught.value
    path = tmp_path / "authproxy.cfg"
    found = {problem.split(": ", 1)[0].removeprefix(f"{path}:"): problem for problem in error.problems}
    assert list(found) == ["2", "3", "8", "9", "11", "12", "13", "15", "16"], error.problems  # in line order
    assert "did you mean debug?" in found["2"]
    assert "log_max_files = 'ten'" in found["3"]
    assert "without https://" in found["8"]
    assert "10.0.1.300" in found["9"]
    assert "did you mean radius_secret_2?" in found["11"]
    assert "allowed: safe, secure" in found["12"]
    assert "neither 'key = value'" in found["13"]
    assert "port is set twice" in found["15"] and f"{path}:14" in found["15"]
    assert "with inline secrets use radius_ip_N" in found["16"]
    assert str(error).startswith(f"{len(error.problems)} problems:\n  {path}:")
    assert SECRET not in str(error) and SKEY not in str(error)


def test_a_wrong_secrets_source_is_reported_without_the_problems_it_would_cause(tmp_path):
    body = """\
        [radius_server_duo_only]
        secrets_source = aws-secretmanager:arn:aws:secretsmanager:us-east-1:111122223333:secret:duomfa
        radius_clients = 10.0.0.0/8
        failmode = sometimes
        """
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body)
    # inline secrets would require ikey, skey and radius_secret_N: those would be the wrong fixes to suggest
    assert len(caught.value.problems) == 2, caught.value.problems
    assert "secrets_source" in caught.value.problems[0] and "failmode" in caught.value.problems[1]


def test_mistakes_in_the_environment_are_reported_with_those_in_the_file(tmp_path):
    body = f"""\
        [radius_server_duo_only]
        ikey = DIABCDEFGHIJKLMNOPQR
        skey = {SKEY}
        api_host = api-12345678.duosecurity.com
        radius_ip_1 = 10.0.1.10
        radius_secret_1 = first
        failmode = open
        """
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, body, {"DUOMFA_FAILMOD": "secure", "DUOMFA_PORT": "70000"})
    text = "\n".join(caught.value.problems)
    assert "environment variable DUOMFA_FAILMOD: unknown setting 'failmod' (did you mean failmode?)" in text
    assert "environment variable DUOMFA_PORT: port = 70000 is out of range" in text
    assert "authproxy.cfg:7: failmode = 'open'" in text


def test_a_missing_file_gets_a_fix_about_the_path_not_about_a_setting(tmp_path):
    check, settings = check_config(tmp_path / "no-such.cfg", {})
    assert settings is None and check.status == "fail"
    assert "cannot read the configuration file" in check.detail
    assert "check the path" in check.fix and "setting" not in check.fix.split("(")[0]


def test_an_undecodable_file_gets_the_save_as_fix(tmp_path):
    path = tmp_path / "authproxy.cfg"
    path.write_bytes(b"\xff\xfe[\x00m\x00a\x00i\x00n\x00]\x00\n\x00\x00\xd8")  # UTF-16 with a lone surrogate
    check, _ = check_config(path, {})
    assert check.status == "fail" and "save the file as UTF-8" in check.fix


def test_doctor_names_the_options_without_effect_and_shows_other_notices(tmp_path):
    body = f"""\
        [main]
        log_dir = /var/log/duo
        log_max_files = 3

        [radius_server_duo_only]
        ikey = DIABCDEFGHIJKLMNOPQR
        skey = {SKEY}
        api_host = api-12345678.duosecurity.com
        radius_ip_1 = 10.0.1.10
        radius_secret_1 = first
        exempt_username_1 = break-glass
        exempt_username_3 = after-a-gap
        """
    path, _ = load(tmp_path, body)
    check, settings = check_config(path, {})
    assert settings is not None
    assert "accepted without effect: log_dir, log_max_files" in check.detail
    assert check.status == "warn" and "exempt_username_3 is IGNORED" in check.detail
