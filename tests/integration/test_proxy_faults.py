"""When Duo cannot be reached, failmode decides; when Duo refuses the request (4xx), nobody gets in."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading

import pytest
from aiohttp import web

from support import ProxyProcess, duomfa_json, free_port, proxy_config, radclient

SECRET = "faults-secret"


class DuoStub:
    """An HTTPS server that misbehaves on demand, with a certificate from a local MFA service data directory."""

    def __init__(self, data_dir):
        self.mode = "500"
        self.port = free_port()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(data_dir / "tls" / "server.pem", data_dir / "tls" / "server.key")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if self.mode == "slow":
            await asyncio.sleep(10)
        if self.mode == "500":
            return web.Response(status=500, text="internal error")
        if self.mode == "401":
            return web.json_response({"stat": "FAIL", "code": 40103,
                                      "message": "Invalid signature in request credentials"}, status=401)
        return web.json_response({"stat": "OK", "response": {"time": 0}})

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.context).start())
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> "DuoStub":
        threading.Thread(target=self.run, daemon=True).start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    app = duomfa_json("mfa", "app", "add", "faults", "--data", str(root / "mfa"))
    from duomfa.mfaservice.datadir import open_data_dir
    from duomfa.mfaservice.tls import ensure_server_cert, server_names

    ensure_server_cert(open_data_dir(root / "mfa"), server_names("127.0.0.1"))
    stub = DuoStub(root / "mfa").start()
    nothing = free_port()  # nobody listens here: "connection refused"
    proxies = {}
    for target, port in (("stub", stub.port), ("nothing", nothing)):
        for failmode in ("safe", "secure"):
            config = proxy_config(root / f"{target}-{failmode}.cfg", app, secret=SECRET,
                                  api_host=f"127.0.0.1:{port}", extra=f"failmode = {failmode}")
            proxies[target, failmode] = ProxyProcess(config).start()
    yield stub, proxies, app
    for proxy in proxies.values():
        proxy.stop()
    stub.stop()


def login(proxy):
    return radclient(proxy.port, SECRET, 'User-Name = "alice"\nUser-Password = "123456"\n', timeout=8, retries=1)


@pytest.mark.parametrize("fault, target", [("stopped", "nothing"), ("slow", "stub"), ("500", "stub")])
@pytest.mark.parametrize("failmode, expected", [("safe", "Access-Accept"), ("secure", "Access-Reject")])
def test_duo_unreachable_follows_failmode(setup, fault, target, failmode, expected):
    stub, proxies, _ = setup
    stub.mode = fault if target == "stub" else "500"
    proxy = proxies[target, failmode]
    opened_before = proxy.metric("duomfa_fail_open_total")
    result = login(proxy)
    assert f"Received {expected}" in result.stdout, result.stdout + result.stderr
    opened = proxy.metric("duomfa_fail_open_total") - opened_before
    assert opened == (1 if failmode == "safe" else 0)
    if failmode == "safe":
        warnings = [r for r in proxy.records("fail_open") if r["level"] == "WARNING"]
        assert warnings and warnings[-1]["username"] == "alice"


@pytest.mark.parametrize("failmode", ["safe", "secure"])
def test_duo_refusing_the_keys_never_fails_open(setup, failmode):
    stub, proxies, _ = setup
    stub.mode = "401"
    proxy = proxies["stub", failmode]
    opened_before = proxy.metric("duomfa_fail_open_total")
    result = login(proxy)
    assert "Received Access-Reject" in result.stdout
    assert proxy.metric("duomfa_fail_open_total") == opened_before
    errors = proxy.records("duo_error")
    assert errors and errors[-1]["http_status"] == 401


def test_readyz_says_whether_duo_answers(setup):
    import urllib.error
    import urllib.request

    _, proxies, _ = setup
    for failmode, status in (("safe", 200), ("secure", 503)):
        proxy = proxies["nothing", failmode]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{proxy.http_port}/readyz", timeout=5) as response:
                code, body = response.status, json.load(response)
        except urllib.error.HTTPError as error:
            code, body = error.code, json.load(error)
        assert code == status and body["duo_reachable"] is False and body["listening"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy.http_port}/healthz", timeout=5) as response:
            assert response.status == 200


def test_no_log_holds_the_shared_secret_or_skey(setup):
    _, proxies, app = setup
    for proxy in proxies.values():
        text = "".join(proxy.output)
        assert SECRET not in text and app["skey"] not in text and "123456" not in text
