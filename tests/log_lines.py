"""Real log lines of the proxy and of the control plane's metrics, for the tests that hold the stack's dashboard and
saved queries to them: the proxy's pipeline runs in-process (as in tests/unit/test_proxy_pipeline.py) against a
scripted Duo, and the control plane's functions write their metric lines to a buffer."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
from typing import Any

from duomfa import radius
from duomfa.config import ProxySettings, RadiusClient, Secret, parse_networks
from duomfa.control import directory, rotation
from duomfa.control.inline_support import set_log_stream
from duomfa.duo import AuthResult, DuoDevice, DuoUnavailable, PreauthResult
from duomfa.logline import JsonLog
from duomfa.proxy.clients import ClientEntry, ClientTable, SecretVersion
from duomfa.proxy.metrics import ProxyMetrics
from duomfa.proxy.pipeline import Pending, Pipeline

A = radius.constants
CLIENT = ("10.0.1.10", 40000)  # a domain controller
SECRET, OTHER_SECRET = b"current-secret", b"someone-elses-secret"
EXEMPT_USER = "svc-break-glass"
PHONE = DuoDevice("DPFAKE00000000000001", "phone", "phone", "XXX-XXX-0001", "phone (XXX-XXX-0001)",
                  ("auto", "push", "sms", "phone", "mobile_otp"))
UNREACHABLE = "gina"  # preauth cannot reach Duo: she is let in (failmode safe)
# what Duo answers each person's factor: (result, status)
ANSWERS = {
    ("alice", "passcode"): ("allow", "allow"), ("bob", "passcode"): ("deny", "deny"),
    ("carol", "push"): ("deny", "deny"), ("dave", "push"): ("deny", "timeout"), ("erin", "push"): ("deny", "fraud"),
    ("frank", "phone"): ("deny", "timeout"), ("alice", "push"): ("allow", "allow"),
}
LOGINS = [  # (username, what the person types), answered in this order
    ("alice", "123456"), ("alice", "push"), ("bob", "654321"), ("carol", "push"), ("dave", "push"),
    ("erin", "push"), ("frank", "phone"), (UNREACHABLE, "push"), ("alice", "hello"), (EXEMPT_USER, "anything"),
]


class ScriptedDuo:
    """A DuoApi whose answers come from ANSWERS; preauth for UNREACHABLE finds Duo unreachable."""

    api_host = "duo.test"

    async def preauth(self, username: str, ipaddr: str | None = None) -> PreauthResult:
        if username == UNREACHABLE:
            raise DuoUnavailable("timeout", "no answer within 10 s", endpoint="preauth")
        return PreauthResult("auth", "Account is active", (PHONE,), None)

    async def auth(self, factor: str, username: str, **options: Any) -> AuthResult:
        result, status = ANSWERS[username, factor]
        return AuthResult(result, status, f"Duo says {status}", None)

    async def auth_and_wait(self, factor: str, username: str, **options: Any) -> AuthResult:
        result, status = ANSWERS[username, factor]
        return AuthResult(result, status, f"Duo says {status}", "a-txid")

    async def close(self) -> None:
        pass


def _pipeline(namespace: str = "") -> tuple[Pipeline, io.BytesIO]:
    settings = ProxySettings(
        ikey="DI" + "A" * 18, skey=Secret("s" * 40), api_host="duo.test", exempt_usernames=(EXEMPT_USER,),
        clients=(RadiusClient("radius_ip_1", parse_networks("10.0.1.0/24"), None),), http_port=None,
        metrics_namespace=namespace)
    entry = ClientEntry("radius_ip_1", (SecretVersion("AWSCURRENT", SECRET),))
    table = ClientTable([(network, entry) for network in settings.clients[0].networks])
    stream = io.BytesIO()
    return Pipeline(settings, table, ScriptedDuo(), ProxyMetrics(), JsonLog(stream)), stream


def _request(username: str, password: str, secret: bytes = SECRET, identifier: int = 1) -> bytes:
    authenticator = radius.new_request_authenticator()
    attributes = [(A.USER_NAME, username.encode()),
                  (A.USER_PASSWORD, radius.hide_user_password(password.encode(), secret, authenticator))]
    return radius.encode_request(A.ACCESS_REQUEST, identifier, authenticator, attributes, secret,
                                 message_authenticator=True)


async def _answer(pipeline: Pipeline, data: bytes, port: int) -> None:
    outcome = pipeline.receive(data, (CLIENT[0], port))
    if isinstance(outcome, Pending):
        await outcome.reply


def _lines(stream: io.BytesIO, pipeline: Pipeline) -> list[dict[str, Any]]:
    pipeline.log.flush()
    return [json.loads(line) for line in stream.getvalue().decode().splitlines()]


def proxy_lines() -> list[dict[str, Any]]:
    """The proxy's lines for LOGINS (accepted, rejected, exempt, push denies and timeouts, a fail-open) and for
    requests signed with another shared secret: the first drop's notice, then the minute's summary."""
    async def run() -> list[dict[str, Any]]:
        pipeline, stream = _pipeline()
        for number, (username, typed) in enumerate(LOGINS, start=1):
            await _answer(pipeline, _request(username, typed, identifier=number), CLIENT[1] + number)
        for number in range(3):
            await _answer(pipeline, _request("alice", "push", OTHER_SECRET, identifier=100 + number), 50000 + number)
        pipeline.notices.summarize(60.0)
        return _lines(stream, pipeline)

    return asyncio.run(run())


def stats_line(namespace: str) -> dict[str, Any]:
    """The proxy's first stats line with metrics in `namespace`, after a minute (made short) with a login or two
    and a Duo call."""
    from duomfa.proxy.server import _log_stats

    async def run() -> dict[str, Any]:
        pipeline, stream = _pipeline(namespace)
        proxy = dataclasses.make_dataclass("Proxy", ["pipeline", "log", "settings", "syslog", "duo_reachable",
                                                     "duo_keys_problem"])(
            pipeline, pipeline.log, pipeline.settings, None, True, None)
        task = asyncio.create_task(_log_stats(proxy, interval=0.05))
        await asyncio.sleep(0.01)
        await _answer(pipeline, _request("alice", "123456"), CLIENT[1])
        await _answer(pipeline, _request(EXEMPT_USER, "anything", identifier=2), CLIENT[1] + 1)
        pipeline.metrics.observe_duo("preauth", 0.120, 200)
        await asyncio.sleep(0.07)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return next(line for line in _lines(stream, pipeline) if line["event"] == "stats")

    return asyncio.run(run())


def control_plane_metric_lines(namespace: str, directory_id: str = "d-1234567890") -> list[dict[str, Any]]:
    """The metric lines of the directory updater (one run per RADIUS state) and of the rotation (one that finished,
    one that failed), as their functions write them."""
    buffer = io.StringIO()
    set_log_stream(buffer)
    try:
        for state in ("completed", "creating", "failed", "absent", "differs"):
            findings = directory.Findings()
            findings.status = {"completed": "Completed", "differs": "Completed", "creating": "Creating",
                               "failed": "Failed", "absent": None}[state]
            findings.in_sync = state == "completed"
            directory.publish_status(_updater_settings(namespace, directory_id, "Enabled"), findings)
        directory.publish_status(_updater_settings(namespace, directory_id, "Disabled"), directory.Findings())
        settings = rotation.RotationSettings(cluster="c", service="s", radius_port=1812, updater_function="u",
                                             deadline_seconds=60, metrics_namespace=namespace)
        rotation.publish_outcome(settings, "finishSecret", "finished")
        rotation.publish_outcome(settings, "testSecret", None)
    finally:
        set_log_stream(None)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def _updater_settings(namespace: str, directory_id: str, mfa: str) -> directory.UpdaterSettings:
    environment = {"DIRECTORY_ID": directory_id, "SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:s",
                   "ADDRESS_PARAMETER": "/a", "STATE_PARAMETER": "/s", "TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
                   "DIRECTORY_MFA": mfa, "METRICS_NAMESPACE": namespace}
    return directory.UpdaterSettings.from_environ(environment)


def emf_metrics(lines: list[dict[str, Any]]) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    """{(namespace, metric name): the dimension sets it is published with} over the lines' EMF blocks."""
    found: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    found.setdefault((directive["Namespace"], metric["Name"]), set()).add(tuple(sorted(dimensions)))
    return found
