"""Every cell of the fail-safe rule table in docs/proxy.md — phase × fault × failmode → answer — for a passcode and
for a push, through the real pipeline and DuoClient over real HTTPS to a Duo that misbehaves on demand.

The rule: failmode `safe` lets a user in only when *preauth* could not reach Duo at all. Once Duo has asked for a
second factor, every fault rejects; an answer that is not Duo's, or a certificate that does not verify, rejects
everywhere.
"""

from __future__ import annotations

import io
import json

import pytest

from duomfa import radius
from duomfa.config import FailMode, ProxySettings, RadiusClient, Secret, parse_networks
from duomfa.duo import DuoClient
from duomfa.logline import JsonLog
from duomfa.proxy import pipeline as pipeline_module
from duomfa.proxy.clients import ClientEntry, ClientTable, SecretVersion
from duomfa.proxy.metrics import ProxyMetrics
from duomfa.proxy.pipeline import Pending, Pipeline
from fake_duo import FAULTS, PASSCODE, UNREACHABLE_FAULTS, Certificates, FaultyDuo

A = radius.constants
SECRET = b"failsafe-secret"
CLIENT = ("10.0.0.5", 40000)
IKEY, SKEY = "DI" + "F" * 18, "k" * 40
PHASES = {"passcode": ("preauth", "auth"), "push": ("preauth", "auth", "auth_status")}
DUO_SAYS_NO = {"401", "429"}  # Duo itself refusing: duo_error, never a fault


def expected_accept(phase: str, fault: str, failmode: str) -> bool:
    """The rule table, written once more, plainly, for the test to hold the code to."""
    return phase == "preauth" and fault in UNREACHABLE_FAULTS and failmode == "safe"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return Certificates.make(tmp_path_factory.mktemp("fake-duo-tls"))


class Login:
    """One Access-Request through a pipeline whose Duo is a FaultyDuo."""

    def __init__(self, certificates: Certificates, failmode: str):
        self.certificates = certificates
        self.failmode = failmode
        self.stream = io.BytesIO()

    async def run(self, factor: str, faults: dict[str, str], push_result: str = "allow") -> radius.Packet:
        self.fake = await FaultyDuo(self.certificates, faults, push_result).start()
        settings = ProxySettings(ikey=IKEY, skey=Secret(SKEY), api_host=self.fake.api_host,
                                 failmode=FailMode(self.failmode),
                                 clients=(RadiusClient("radius_ip_1", parse_networks("10.0.0.0/24"), None),),
                                 http_port=None, push_wait_seconds=10)
        entry = ClientEntry("radius_ip_1", (SecretVersion("radius_secret_1", SECRET),))
        # api_timeout long enough that a loaded machine never times out a healthy preauth (which fails open)
        duo = DuoClient(IKEY, SKEY, self.fake.api_host, ca_certs=self.certificates.ca_file, api_timeout=2.0,
                        long_poll_grace=0.3, rate_limit_backoff=0.01, resolver=self.fake.resolver)
        self.pipeline = Pipeline(settings, ClientTable([(settings.clients[0].networks[0], entry)]), duo,
                                 ProxyMetrics(), JsonLog(self.stream))
        authenticator = radius.new_request_authenticator()
        password = PASSCODE if factor == "passcode" else factor
        data = radius.encode_request(A.ACCESS_REQUEST, 1, authenticator, [
            (A.USER_NAME, b"alice"), (A.USER_PASSWORD, radius.hide_user_password(password.encode(), SECRET,
                                                                                   authenticator))], SECRET)
        try:
            outcome = self.pipeline.receive(data, CLIENT)
            assert isinstance(outcome, Pending)
            reply = await outcome.reply
        finally:
            await duo.close()
            await self.fake.stop()
        assert reply is not None
        return radius.verify_reply(reply, authenticator, SECRET)

    def lines(self, event: str) -> list[dict]:
        self.pipeline.log.flush()
        records = [json.loads(line) for line in self.stream.getvalue().decode().splitlines()]
        return [r for r in records if r["event"] == event]

    def counter(self, name: str, **labels: str) -> float:
        return self.pipeline.metrics.registry.get_sample_value(name, labels) or 0.0


CELLS = [(factor, phase, fault) for factor, phases in PHASES.items() for phase in phases for fault in FAULTS]


@pytest.mark.parametrize("failmode", ["safe", "secure"])
@pytest.mark.parametrize("factor, phase, fault", CELLS)
async def test_rule_table_cell(certificates, failmode, factor, phase, fault):
    login = Login(certificates, failmode)
    reply = await login.run(factor, {phase: fault})
    accept = expected_accept(phase, fault, failmode)
    assert reply.code == (A.ACCESS_ACCEPT if accept else A.ACCESS_REJECT), reply.get(A.REPLY_MESSAGE)
    message = reply.get(A.REPLY_MESSAGE).decode()
    phases_called = [call for call in login.fake.calls]
    if fault not in ("refused", "dns", "untrusted_cert"):  # these never reach the server
        assert phases_called[-1] == phase, phases_called
    assert login.counter("duomfa_fail_open_total") == (1 if accept else 0)
    after_preauth = login.counter("duomfa_duo_faults_after_preauth_total", fault=_reason(fault)) if phase != "preauth" \
        else 0
    if phase == "preauth":
        if fault in UNREACHABLE_FAULTS:
            assert message == (pipeline_module.FAIL_OPEN_MSG if failmode == "safe"
                               else pipeline_module.DUO_UNAVAILABLE_MSG)
            assert login.counter("duomfa_fail_closed_total") == (0 if failmode == "safe" else 1)
        elif fault in DUO_SAYS_NO:
            assert message == pipeline_module.DUO_ERROR_MSG
            assert login.lines("duo_error")[-1]["http_status"] == int(fault)
        else:  # not Duo: a wrong api_host or an intercepting proxy must never let everyone in
            assert message == pipeline_module.NOT_DUO_MSG
            assert login.lines("duo_error")[-1]["fault"] == _reason(fault)
    elif fault in DUO_SAYS_NO:
        assert message == pipeline_module.DUO_ERROR_MSG and after_preauth == 0
    else:  # Duo asked for a factor, then failed: rejected, logged with the fault, counted on its own
        assert message == pipeline_module.FAULT_AFTER_PREAUTH_MSG
        assert after_preauth == 1
        [logged] = login.lines("duo_fault_after_preauth")
        assert (logged["endpoint"], logged["fault"], logged["username"]) == (phase, _reason(fault), "alice")
    [auth_line] = login.lines("auth")
    assert auth_line["result"] == ("accept" if accept else "reject")


def _reason(fault: str) -> str:
    """The DuoFault reason the client gives each fault of the fake."""
    return {"timeout": "timeout", "reset": "connect", "refused": "connect", "dns": "dns", "500": "http_5xx",
            "502_html": "http_5xx", "302": "bad_response", "200_html": "bad_response", "200_json": "bad_response",
            "unknown_result": "bad_response", "untrusted_cert": "tls_verify"}.get(fault, fault)


@pytest.mark.parametrize("failmode", ["safe", "secure"])
@pytest.mark.parametrize("factor, push_result, accepted", [
    ("passcode", "allow", True), ("push", "allow", True), ("push", "deny", False)])
async def test_without_faults_duo_decides(certificates, failmode, factor, push_result, accepted):
    login = Login(certificates, failmode)
    reply = await login.run(factor, {}, push_result)
    assert reply.code == (A.ACCESS_ACCEPT if accepted else A.ACCESS_REJECT)
    assert login.fake.calls == list(PHASES[factor])
    assert login.counter("duomfa_fail_open_total") == 0


async def test_a_reset_preauth_is_sent_twice_then_judged_unreachable(certificates):
    login = Login(certificates, "secure")
    reply = await login.run("passcode", {"preauth": "reset"})
    assert reply.code == A.ACCESS_REJECT
    assert login.fake.calls == ["preauth", "preauth"]  # preauth changes nothing at Duo, so it may be resent once


async def test_an_auth_that_resets_is_never_resent(certificates):
    login = Login(certificates, "safe")
    reply = await login.run("passcode", {"auth": "reset"})
    assert reply.code == A.ACCESS_REJECT
    assert login.fake.calls == ["preauth", "auth"]  # the passcode may have been used up at Duo
