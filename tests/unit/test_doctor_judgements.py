"""`duomfa doctor`'s judgements that need no network: the clock, the port errors, security-group rules, the report."""

from __future__ import annotations

import errno
import io
import json

import pytest

from duomfa.config import load_settings
from duomfa.doctor import Check, check_clock, check_port, report, udp_reach


@pytest.mark.parametrize(("skew", "status"), [(0.4, "ok"), (-59, "ok"), (61, "warn"), (-299, "warn"),
                                              (301, "fail"), (-3600, "fail")])
def test_clock_skew_warns_over_a_minute_and_fails_over_five(skew, status):
    check = check_clock(skew)
    assert check.status == status
    assert ("NTP" in check.fix) == (status != "ok")


def test_clock_says_which_way_it_is_off():
    assert "90 s behind Duo's" in check_clock(90).detail
    assert "90 s ahead of Duo's" in check_clock(-90).detail


def settings(port: int):
    return load_settings(None, {"DUOMFA_IKEY": "DI" + "A" * 18, "DUOMFA_SKEY": "s" * 40,
                                "DUOMFA_API_HOST": "api-x.duosecurity.com", "DUOMFA_RADIUS_IP_1": "10.0.0.1",
                                "DUOMFA_RADIUS_SECRET_1": "secret-1", "DUOMFA_PORT": str(port)})


def refuse(code: int):
    def bind(interface: str, port: int) -> None:
        raise OSError(code, "refused")
    return bind


def test_a_privileged_port_without_privileges_fails_with_the_fix():
    check = check_port(settings(812), bind=refuse(errno.EACCES))
    assert check.status == "fail"
    assert "permission denied" in check.detail and "CAP_NET_BIND_SERVICE" in check.fix


def test_a_port_in_use_is_a_warning():
    check = check_port(settings(1812), bind=refuse(errno.EADDRINUSE))
    assert (check.status, check.detail) == ("warn", "UDP 0.0.0.0:1812 (port) is in use — is the proxy already running?")
    assert "choose another port" in check.fix


def test_a_port_directory_service_cannot_send_to_is_a_warning():
    check = check_port(settings(1024), bind=lambda interface, port: None)
    assert check.status == "warn" and "1025–65535" in check.detail


def test_udp_rules_count_all_traffic_and_port_ranges_but_not_tcp():
    reach = udp_reach([
        {"IpProtocol": "tcp", "FromPort": 1812, "ToPort": 1812, "UserIdGroupPairs": [{"GroupId": "sg-tcp"}]},
        {"IpProtocol": "udp", "FromPort": 1800, "ToPort": 1900, "UserIdGroupPairs": [{"GroupId": "sg-range"}]},
        {"IpProtocol": "udp", "FromPort": 1645, "ToPort": 1645, "UserIdGroupPairs": [{"GroupId": "sg-other-port"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/16"}]},
    ], 1812)
    assert reach.groups == {"sg-range"}
    assert reach.covers(["10.0.1.5", "10.0.2.6"]) and not reach.covers(["10.1.0.1"]) and not reach.covers([])


CHECKS = [Check("config", "ok", "loads"), Check("port", "warn", "in use", "stop it"),
          Check("duo-keys", "fail", "HTTP 401", "copy the keys")]


def test_the_text_report_has_one_line_per_check_and_the_fix_after_an_arrow():
    out = io.StringIO()
    assert report(CHECKS, as_json=False, out=out) == 1
    assert out.getvalue().splitlines() == [
        "ok   config    loads",
        "warn port      in use → stop it",
        "fail duo-keys  HTTP 401 → copy the keys",
        "3 check(s): 1 failed, 1 warning(s)",
    ]


def test_warnings_alone_do_not_fail_and_json_counts_them():
    out = io.StringIO()
    assert report(CHECKS[:2], as_json=True, out=out) == 0
    assert json.loads(out.getvalue()) == {
        "checks": [{"name": "config", "status": "ok", "detail": "loads", "fix": ""},
                   {"name": "port", "status": "warn", "detail": "in use", "fix": "stop it"}],
        "failed": 0, "warnings": 1}
