"""The secrets source over time, in a running proxy: a version that cannot be used changes nothing and never stops
the refreshing; missing or malformed Duo keys reject every login that needs Duo — never fail open — and say so."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import urllib.error
import urllib.request

import pytest

from duomfa.config import FailMode, load_settings
from duomfa.logline import JsonLog
from duomfa.proxy import server as server_module
from duomfa.proxy.pipeline import NO_KEYS_MSG
from duomfa.proxy.server import start_proxy
from duomfa.radtest import radtest
from support import free_port

GOOD_KEYS = {"ikey": "DI" + "K" * 18, "skey": "s" * 40, "api_host": "127.0.0.1:9"}


class Running:
    def __init__(self, proxy, stream):
        self.proxy, self.stream = proxy, stream

    def lines(self, event):
        self.proxy.log.flush()
        records = [json.loads(line) for line in self.stream.getvalue().decode().splitlines()]
        return [r for r in records if r["event"] == event]

    def metric(self, name, **labels):
        return self.proxy.pipeline.metrics.registry.get_sample_value(name, labels) or 0.0

    async def login(self, username, secret, factor="123456"):
        return await radtest(username, factor, port=self.proxy.port, secret=secret, timeout=5, retry_interval=2)

    async def readyz(self):
        def get():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.proxy.http_port}/readyz", timeout=5) as answer:
                    return answer.status, json.load(answer)
            except urllib.error.HTTPError as error:
                return error.code, json.load(error)
        return await asyncio.to_thread(get)


@pytest.fixture
async def running(tmp_path, request):
    secrets_file = tmp_path / "secrets.json"
    first = getattr(request, "param", {"radius_secret": "first-secret", **GOOD_KEYS})
    secrets_file.write_text(json.dumps(first))
    environ = {"DUOMFA_SECRETS_SOURCE": f"file:{secrets_file}", "DUOMFA_RADIUS_CLIENTS": "127.0.0.1",
               "DUOMFA_INTERFACE": "127.0.0.1", "DUOMFA_PORT": str(free_port(socket.SOCK_DGRAM)),
               "DUOMFA_HTTP_INTERFACE": "127.0.0.1",
               "DUOMFA_HTTP_PORT": str(free_port()), "DUOMFA_SECRETS_REFRESH_SECONDS": "1",
               "DUOMFA_EXEMPT_USERNAME_1": "svc-exempt", "DUOMFA_API_TIMEOUT": "1"}
    stream = io.BytesIO()
    proxy = await start_proxy(load_settings(None, environ), JsonLog(stream))
    yield Running(proxy, stream), secrets_file
    await proxy.close()


async def wait_for(condition, seconds=6.0):
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting")


BAD_VERSIONS = [
    ("not JSON", "{ this is not json"),
    ("ikey of the wrong type", json.dumps({"radius_secret": "bad-1", **GOOD_KEYS, "ikey": 12345})),
    ("api_host with a scheme", json.dumps({"radius_secret": "bad-2", **GOOD_KEYS, "api_host": "https://x/y"})),
    ("radius_clients as one string", json.dumps({"radius_secret": "bad-3", "radius_clients": "127.0.0.1"})),
    ("radius_clients with a number", json.dumps({"radius_secret": "bad-4", "radius_clients": [127001]})),
    ("skey and ikey swapped", json.dumps({"radius_secret": "bad-5", **GOOD_KEYS, "ikey": GOOD_KEYS["skey"],
                                          "skey": GOOD_KEYS["ikey"]})),
    ("the keys gone", json.dumps({"radius_secret": "bad-6"})),
    ("no radius_secret", json.dumps({**GOOD_KEYS})),
]


async def test_bad_versions_change_nothing_and_the_next_good_one_is_applied(running):
    proxy, secrets_file = running
    assert (await proxy.login("svc-exempt", b"first-secret")).code == "Access-Accept"
    for number, (what, text) in enumerate(BAD_VERSIONS, start=1):
        secrets_file.write_text(text)
        await wait_for(lambda errors=number: proxy.metric("duomfa_secrets_source_errors_total") >= errors)
        error = proxy.lines("secrets_source_error")[-1]
        assert error["level"] == "ERROR" and error["source"] == f"file:{secrets_file}", what
        assert error["version"] == "AWSCURRENT" or what == "not JSON", (what, error)
        # still the last good state: the first secret and the first keys
        assert (await proxy.login("svc-exempt", b"first-secret")).code == "Access-Accept", what
        assert proxy.proxy.duo_keys is not None and proxy.proxy.duo_keys.ikey == GOOD_KEYS["ikey"]
    text = "".join(json.dumps(line) for line in proxy.lines("secrets_source_error"))
    assert GOOD_KEYS["skey"] not in text and "bad-" not in text  # no secret, not even a bad one, is logged
    new_keys = {**GOOD_KEYS, "ikey": "DI" + "N" * 18}
    secrets_file.write_text(json.dumps({"radius_secret": "second-secret", **new_keys}))
    await wait_for(lambda: proxy.lines("secrets_updated"))
    assert (await proxy.login("svc-exempt", b"second-secret")).code == "Access-Accept"
    assert (await proxy.login("svc-exempt", b"first-secret")).code is None  # the old secret is gone: dropped
    assert proxy.proxy.duo_keys.ikey == new_keys["ikey"]


NO_KEYS = {"radius_secret": "first-secret"}


@pytest.mark.parametrize("running", [NO_KEYS, {**NO_KEYS, **GOOD_KEYS, "skey": "too-short"}], indirect=True,
                         ids=["missing", "malformed"])
@pytest.mark.parametrize("failmode", ["safe", "secure"])
async def test_without_usable_duo_keys_logins_are_rejected_never_let_in(running, failmode):
    proxy, secrets_file = running
    # the settings are frozen; this one test bends them
    object.__setattr__(proxy.proxy.settings, "failmode", FailMode(failmode))
    for factor in ("123456", "push"):
        result = await proxy.login("alice", b"first-secret", factor)
        assert (result.code, result.reply_message) == ("Access-Reject", NO_KEYS_MSG)
    assert (await proxy.login("svc-exempt", b"first-secret")).code == "Access-Accept"
    assert proxy.metric("duomfa_fail_open_total") == 0
    assert proxy.metric("duomfa_duo_keys_missing") == 1
    status, body = await proxy.readyz()
    assert status == 503 and body["duo_keys"] is False and any("Duo" in reason or "key" in reason
                                                              for reason in body["reasons"])
    [started] = proxy.lines("duo_keys_missing")  # once at start …
    assert started["level"] == "ERROR" and "skey" in started["detail"]
    assert "too-short" not in json.dumps(proxy.lines("duo_keys_missing"))
    server_module._report_missing_keys(proxy.proxy)  # … and again every minute (the stats loop calls this)
    assert len(proxy.lines("duo_keys_missing")) == 2
    secrets_file.write_text(json.dumps({**NO_KEYS, **GOOD_KEYS}))  # keys arrive: the proxy uses them
    await wait_for(lambda: proxy.proxy.duo_keys is not None)
    assert proxy.metric("duomfa_duo_keys_missing") == 0
    status, body = await proxy.readyz()
    assert body["duo_keys"] is True
