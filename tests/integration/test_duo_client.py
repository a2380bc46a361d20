"""duomfa.duo.DuoClient over real HTTPS: against the local MFA service (which verifies every signature with
duo_client's canonicalization), and against small local stubs that stall, fail or rate-limit."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import ssl
import time
from pathlib import Path

import duo_client
import pyotp
import pytest
from aiohttp import web

from duomfa.duo import AuthResult, DuoApiError, DuoBadResponse, DuoClient, DuoUnavailable
from duomfa.mfaservice.admin import Admin
from duomfa.mfaservice.datadir import open_data_dir
from duomfa.mfaservice.tls import ensure_ca
from fake_duo import HOST_NAME, FakeResolver
from support import ConnectProxy, MfaServer, free_port

LONG_POLL = 1  # the service's longest /auth_status wait: keeps pending pushes cycling quickly


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--push-timeout", "60", "--long-poll", str(LONG_POLL)).start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def app(server):
    return server.admin("app", "add", "duo-client-tests")


@pytest.fixture
async def client(app):
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"]) as duo:
        yield duo


_counter = iter(range(10**6))


@pytest.fixture
def user(server):
    """A fresh user with one push + TOTP device: (username, totp, device)."""
    created = server.admin("user", "add", f"duouser{next(_counter)}", "--totp", "--push")
    return created["username"], pyotp.parse_uri(created["totp_uri"]), created["devices"][0]


async def approve_when_pending(server, username, within=10.0):
    """`duomfa mfa push approve` as soon as the user has a pending push (the CLI refuses before that)."""
    give_up = time.monotonic() + within
    while True:
        try:
            return await asyncio.to_thread(server.admin, "push", "approve", username)
        except AssertionError:
            if time.monotonic() > give_up:
                raise
            await asyncio.sleep(0.2)


# the Auth API against the MFA service

async def test_ping_and_check_return_the_services_clock(client):
    assert abs(await client.ping() - time.time()) < 5
    assert abs(await client.check() - time.time()) < 5


async def test_preauth_lists_the_devices_of_an_active_user(client, user):
    username, _, device = user
    result = await client.preauth(username, ipaddr="10.0.0.9")
    assert result.result == "auth" and result.status_msg == "Account is active"
    assert result.enroll_portal_url is None
    assert [(d.device, d.type, d.name, d.capabilities) for d in result.devices] == [
        (device["device"], "phone", device["name"], ("auto", "push", "mobile_otp"))]


async def test_preauth_answers_enroll_with_a_portal_for_an_unknown_user(client, server):
    result = await client.preauth("nobody-has-enrolled-me")
    assert (result.result, result.devices) == ("enroll", ())
    assert result.enroll_portal_url.startswith(f"https://127.0.0.1:{server.port}/portal?")


async def test_preauth_answers_allow_for_bypass_and_deny_for_disabled(client, server, user):
    username = user[0]
    server.admin("user", "status", username, "bypass")
    assert (await client.preauth(username)).result == "allow"
    server.admin("user", "status", username, "disabled")
    disabled = await client.preauth(username)
    assert (disabled.result, disabled.status_msg) == ("deny", "Your account is disabled.")


async def test_passcode_is_allowed_once_and_denied_on_replay(client, user):
    username, totp, _ = user
    code = totp.now()
    assert await client.auth("passcode", username, passcode=code, ipaddr="192.0.2.1") == AuthResult(
        "allow", "allow", "Success. Logging you in...", None)
    replay = await client.auth("passcode", username, passcode=code)
    assert (replay.result, replay.status) == ("deny", "deny")


async def test_push_approved_while_auth_and_wait_is_pending_allows(client, server, user):
    username = user[0]
    waiting = asyncio.create_task(client.auth_and_wait(
        "push", username, ipaddr="10.0.0.7", pushinfo="from=duomfa%20tests", type="VPN login",
        deadline=time.monotonic() + 20))
    approved = await approve_when_pending(server, username)
    result = await waiting
    assert result == AuthResult("allow", "allow", "Success. Logging you in...", approved["txid"])


async def test_push_denied_by_the_user_denies(client, server, user):
    username = user[0]
    waiting = asyncio.create_task(client.auth_and_wait("push", username, deadline=time.monotonic() + 20))
    give_up = time.monotonic() + 10
    while True:
        try:
            await asyncio.to_thread(server.admin, "push", "deny", username)
            break
        except AssertionError:
            assert time.monotonic() < give_up
            await asyncio.sleep(0.2)
    result = await waiting
    assert (result.result, result.status, result.status_msg) == ("deny", "deny", "Login request denied.")


@pytest.fixture
def impatient_server(tmp_path):
    """A second service whose pushes time out after 1 s."""
    mfa = MfaServer(tmp_path / "impatient", "--push-timeout", "1", "--long-poll", str(LONG_POLL)).start()
    yield mfa
    mfa.stop()


async def test_unanswered_push_is_denied_when_duo_times_it_out(impatient_server):
    server = impatient_server
    app = server.admin("app", "add", "impatient")
    username = server.admin("user", "add", "slowpoke", "--push")["username"]
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"]) as duo:
        started = time.monotonic()
        result = await duo.auth_and_wait("push", username, deadline=started + 20)
    assert (result.result, result.status, result.status_msg) == ("deny", "timeout", "Login timed out.")
    assert result.txid is not None
    assert time.monotonic() - started < 5


async def test_deadline_passing_before_an_answer_gives_a_timeout_deny(client, user):
    started = time.monotonic()
    result = await client.auth_and_wait("push", user[0], deadline=started + 1.0)
    elapsed = time.monotonic() - started
    assert (result.result, result.status, result.status_msg) == ("deny", "timeout", "Login timed out.")
    assert result.txid is not None
    # not before the deadline; the upper bound only tells "stopped at the deadline" from "waited for the push's own
    # timeout", with room for a loaded machine
    assert 0.9 <= elapsed < 5


async def test_a_deadline_already_past_sends_nothing(app, user):
    exchanges = []
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"],
                         on_response=lambda *seen: exchanges.append(seen)) as duo:
        result = await duo.auth_and_wait("push", user[0], deadline=time.monotonic() - 1)
    assert result == AuthResult("deny", "timeout", "Login timed out.", None)
    assert exchanges == []


def _connections_to(port: int) -> set[int]:
    """Local ports of this machine's established IPv4 TCP connections to `port`."""
    found = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                found.add(int(local.split(":")[1], 16))
    return found


async def test_two_hundred_pending_pushes_all_allow_over_a_small_reused_pool(server, app):
    names = [f"crowd{next(_counter)}" for _ in range(200)]

    def add_users():
        admin = Admin(server.data)
        try:
            for name in names:
                admin.add_user(name, totp=False, push=True, phone=None)
        finally:
            admin.close()

    def approve_all():
        admin = Admin(server.data)
        try:
            return [admin.answer_push(name, approve=True)["txid"] for name in names]
        finally:
            admin.close()

    await asyncio.to_thread(add_users)
    seen_ports: set[int] = set()
    peak = 0

    async def watch_connections():
        nonlocal peak
        while True:
            current = _connections_to(server.port)
            seen_ports.update(current)
            peak = max(peak, len(current))
            await asyncio.sleep(0.02)

    exchanges = []
    max_connections, max_long_polls = 10, 50
    watcher = asyncio.create_task(watch_connections())
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"],
                         max_connections=max_connections, max_long_polls=max_long_polls,
                         on_response=lambda *seen: exchanges.append(seen)) as duo:
        deadline = time.monotonic() + 60
        logins = [asyncio.create_task(duo.auth_and_wait("push", name, deadline=deadline)) for name in names]
        while sum(1 for e in exchanges if e[0] == "auth") < len(names):  # every push is out
            assert time.monotonic() < deadline - 30, "the pushes did not all go out"
            await asyncio.sleep(0.05)
        assert not any(login.done() for login in logins)
        txids = await asyncio.to_thread(approve_all)
        results = await asyncio.gather(*logins)
    watcher.cancel()
    assert [(r.result, r.status) for r in results] == [("allow", "allow")] * len(names)
    assert sorted(r.txid for r in results) == sorted(txids)
    assert all(status == 200 for _, _, status in exchanges)
    # hundreds of exchanges over a pool that never grew past its limit
    assert len(exchanges) >= 2 * len(names)
    assert 0 < peak <= max_connections + max_long_polls
    assert len(seen_ports) <= max_connections + max_long_polls


# errors from the MFA service

async def test_wrong_skey_is_an_api_error_that_does_not_show_the_skey(app):
    wrong_skey = "W" * 40
    async with DuoClient(app["ikey"], wrong_skey, app["api_host"], ca_certs=app["ca_cert"]) as duo:
        assert wrong_skey not in repr(duo)
        with pytest.raises(DuoApiError) as raised:
            await duo.preauth("anyone")
        assert await duo.ping() > 0  # unsigned: reachability says nothing about the keys
    error = raised.value
    assert (error.http_status, error.code, error.message) == (
        401, 40103, "Invalid signature in request credentials")
    assert wrong_skey not in str(error) and app["skey"] not in str(error)


async def test_unknown_user_push_is_an_api_error(client):
    with pytest.raises(DuoApiError) as raised:
        await client.auth("push", "no-such-user-anywhere")
    assert (raised.value.http_status, raised.value.code, raised.value.detail) == (400, 40002, "username")


async def test_nothing_listening_is_unavailable_connect(app):
    async with DuoClient(app["ikey"], app["skey"], f"127.0.0.1:{free_port()}", ca_certs=app["ca_cert"]) as duo:
        with pytest.raises(DuoUnavailable) as raised:
            await duo.check()
    assert raised.value.reason == "connect"


async def test_service_stopped_under_a_pooled_client_is_unavailable_connect(impatient_server):
    server = impatient_server
    app = server.admin("app", "add", "stopping")
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"]) as duo:
        assert await duo.check() > 0
        await asyncio.to_thread(server.stop)
        for call in (duo.check(), duo.preauth("alice")):
            with pytest.raises(DuoUnavailable) as raised:
                await call
            assert raised.value.reason == "connect"


async def test_certificate_from_another_ca_is_a_bad_response_tls_verify(app, tmp_path):
    other = open_data_dir(tmp_path / "other")
    ensure_ca(other)  # a CA of its own, like a second MFA service's
    other_ca_file = str(other.ca_cert)
    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=other_ca_file) as duo:
        with pytest.raises(DuoBadResponse) as raised:
            await duo.ping()
    assert raised.value.reason == "tls_verify"


async def test_duos_own_ca_bundle_does_not_trust_the_local_service(app):
    async with DuoClient(app["ikey"], app["skey"], app["api_host"]) as duo:
        with pytest.raises(DuoBadResponse) as raised:
            await duo.check()
    assert raised.value.reason == "tls_verify"


async def test_a_name_that_does_not_resolve_is_unavailable_dns(app):
    resolver = FakeResolver()
    resolver.failing = True  # the lookup fails as a DNS server's "no such name" would: no real DNS is asked
    async with DuoClient(app["ikey"], app["skey"], f"{HOST_NAME}:443", ca_certs=app["ca_cert"],
                         resolver=resolver) as duo:
        with pytest.raises(DuoUnavailable) as raised:
            await duo.preauth("alice")
    assert raised.value.reason == "dns"


async def test_plain_http_where_https_is_expected_is_a_bad_response_tls(app):
    async def plain_http(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with DuoClient(app["ikey"], app["skey"], f"127.0.0.1:{port}", ca_certs=app["ca_cert"]) as duo:
            with pytest.raises(DuoBadResponse) as raised:
                await duo.preauth("alice")
    finally:
        server.close()
        await server.wait_closed()
    assert raised.value.reason == "tls"


# local stubs for what the MFA service does not do

class Stub:
    """A tiny HTTPS server with the MFA service's certificate; `handler` decides each answer."""

    def __init__(self, server_data: Path):
        self.data = open_data_dir(server_data)
        self.requests: list[dict] = []
        self.handler = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"method": request.method, "path": request.path, "query": request.query_string,
                              "headers": dict(request.headers), "body": await request.read()})
        return await self.handler(request)

    async def start(self) -> Stub:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.data.server_cert, self.data.server_key)
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(application, access_log=None, shutdown_timeout=0.2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    @property
    def api_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def stub(server):
    running = await Stub(server.data).start()
    yield running
    await running.close()


def ok(response):
    return web.json_response({"stat": "OK", "response": response})


def stub_client(stub, app, **options) -> DuoClient:
    return DuoClient(app["ikey"], app["skey"], stub.api_host, ca_certs=app["ca_cert"], **options)


async def test_stalled_answer_is_unavailable_timeout_within_api_timeout(stub, app):
    async def stall(request):
        await asyncio.sleep(30)
        return ok({"time": 0})

    stub.handler = stall
    async with stub_client(stub, app, api_timeout=0.5) as duo:
        started = time.monotonic()
        with pytest.raises(DuoUnavailable) as raised:
            await duo.preauth("alice")
    assert raised.value.reason == "timeout"
    assert 0.4 <= time.monotonic() - started < 10  # the stub stalls for 30 s


async def test_server_that_never_completes_tls_is_unavailable_timeout(app):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts into the backlog and never says a word
    try:
        port = listener.getsockname()[1]
        async with DuoClient(app["ikey"], app["skey"], f"127.0.0.1:{port}", ca_certs=app["ca_cert"],
                             api_timeout=0.5) as duo:
            started = time.monotonic()
            with pytest.raises(DuoUnavailable) as raised:
                await duo.check()
        assert raised.value.reason == "timeout"
        assert time.monotonic() - started < 10  # the listener never answers at all
    finally:
        listener.close()


async def test_long_poll_gets_more_time_than_api_timeout(stub, app):
    async def slow_status(request):
        await asyncio.sleep(2.5)  # past api_timeout, well inside the long-poll grace
        return ok({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."})

    stub.handler = slow_status
    async with stub_client(stub, app, api_timeout=1.0) as duo:
        result = await duo.auth_status("some-txid")
    assert result == AuthResult("allow", "allow", "Success. Logging you in...", "some-txid")


async def test_pending_long_polls_never_starve_ordinary_calls(stub, app):
    release = asyncio.Event()
    in_flight = peak_polls = 0

    async def answer(request):
        nonlocal in_flight, peak_polls
        if request.path.endswith("/auth_status"):
            in_flight += 1
            peak_polls = max(peak_polls, in_flight)
            await release.wait()
            in_flight -= 1
            return ok({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."})
        return ok({"result": "auth", "status_msg": "Account is active", "devices": []})

    stub.handler = answer
    async with stub_client(stub, app, api_timeout=1.0, max_connections=1, max_long_polls=2) as duo:
        polls = [asyncio.create_task(duo.auth_status(f"txid-{index}")) for index in range(6)]
        await asyncio.sleep(0.3)
        for _ in range(3):  # the pool's long-poll share is full and four more polls queue: preauth still runs
            assert (await duo.preauth("alice")).result == "auth"
        release.set()
        results = await asyncio.gather(*polls)
    assert [r.result for r in results] == ["allow"] * 6
    assert peak_polls == 2


async def test_a_dropped_preauth_is_sent_again_once_but_a_dropped_auth_is_not(stub, app):
    drops = {"/auth/v2/preauth": 1, "/auth/v2/auth": 1}

    async def drop_first(request):
        if drops.get(request.path):
            drops[request.path] -= 1
            request.transport.close()  # as a server closing an idle keep-alive connection would
            return web.Response()
        if request.path.endswith("/preauth"):
            return ok({"result": "auth", "status_msg": "Account is active", "devices": []})
        return ok({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."})

    stub.handler = drop_first
    async with stub_client(stub, app) as duo:
        assert (await duo.preauth("alice")).result == "auth"
        with pytest.raises(DuoUnavailable) as raised:  # a passcode may have been used up: never resend it
            await duo.auth("passcode", "alice", passcode="123456")
    assert raised.value.reason == "connect"
    assert [r["path"] for r in stub.requests] == ["/auth/v2/preauth", "/auth/v2/preauth", "/auth/v2/auth"]


async def test_http_500_is_unavailable_http_5xx(stub, app):
    async def broken(request):
        return web.json_response({"stat": "FAIL", "code": 50000, "message": "Internal error"}, status=500)

    stub.handler = broken
    async with stub_client(stub, app) as duo:
        with pytest.raises(DuoUnavailable) as raised:
            await duo.preauth("alice")
    assert (raised.value.reason, raised.value.http_status) == ("http_5xx", 500)


async def test_an_answer_that_is_not_duos_json_is_a_bad_response(stub, app):
    async def captive_portal(request):
        return web.Response(text="<html>Please log in to the Wi-Fi</html>", content_type="text/html")

    stub.handler = captive_portal
    async with stub_client(stub, app) as duo:
        with pytest.raises(DuoBadResponse) as raised:
            await duo.preauth("alice")
    assert raised.value.reason == "bad_response"


async def test_an_answer_that_breaks_off_is_truncated(stub, app):
    async def half_an_answer(request):
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "500"})
        await response.prepare(request)
        await response.write(b'{"stat": "OK", "response": {"result": "al')
        request.transport.close()
        return response

    stub.handler = half_an_answer
    async with stub_client(stub, app) as duo:
        with pytest.raises(DuoBadResponse) as raised:
            await duo.auth("passcode", "alice", passcode="123456")
    assert raised.value.reason == "truncated"


async def test_rate_limited_twice_then_answered_succeeds_after_backing_off(stub, app):
    answers = iter([429, 429, 200])

    async def rate_limited(request):
        status = next(answers)
        if status == 429:
            return web.json_response({"stat": "FAIL", "code": 42901, "message": "Too Many Requests"}, status=429)
        return ok({"result": "auth", "status_msg": "Account is active", "devices": [
            {"device": "DHQOEFH4Q6KMAFU7Q8V4", "name": "20361492", "type": "token"}]})

    stub.handler = rate_limited
    exchanges = []
    async with stub_client(stub, app, rate_limit_backoff=0.05,
                           on_response=lambda *seen: exchanges.append(seen)) as duo:
        started = time.monotonic()
        result = await duo.preauth("alice")
    assert time.monotonic() - started >= 0.05 + 0.1  # backed off 1× then 2× the base
    assert result.result == "auth"
    assert [(d.device, d.type, d.capabilities) for d in result.devices] == [("DHQOEFH4Q6KMAFU7Q8V4", "token", ())]
    assert [(endpoint, status) for endpoint, _, status in exchanges] == [
        ("preauth", 429), ("preauth", 429), ("preauth", 200)]


async def test_still_rate_limited_after_the_retries_is_an_api_error(stub, app):
    async def always_limited(request):
        return web.json_response({"stat": "FAIL", "code": 42901, "message": "Too Many Requests"}, status=429)

    stub.handler = always_limited
    async with stub_client(stub, app, rate_limit_backoff=0.01, rate_limit_retries=3) as duo:
        with pytest.raises(DuoApiError) as raised:
            await duo.check()
    assert (raised.value.http_status, raised.value.code) == (429, 42901)
    assert len(stub.requests) == 4


async def test_rate_limit_backoff_stays_within_api_timeout(stub, app):
    async def always_limited(request):
        return web.json_response({"stat": "FAIL", "code": 42901, "message": "Too Many Requests"}, status=429)

    stub.handler = always_limited
    async with stub_client(stub, app, api_timeout=1.0, rate_limit_backoff=0.5, rate_limit_retries=10) as duo:
        started = time.monotonic()
        with pytest.raises(DuoApiError):
            await duo.check()
    # ten back-offs from 0.5 s would take 5 s or more; the budget is api_timeout (room left for a loaded machine)
    assert time.monotonic() - started < 3


async def test_we_send_what_duo_client_sends(stub, app, monkeypatch):
    """Same method, path, query, body, Date, Content-Type and Authorization as duo_client 5.7 for each call."""
    fixed_date = email.utils.formatdate()
    monkeypatch.setattr(email.utils, "formatdate", lambda *args, **kwargs: fixed_date)

    async def answer(request):
        if request.path.endswith("/check"):
            return ok({"time": int(time.time())})
        if request.path.endswith("/preauth"):
            return ok({"result": "auth", "status_msg": "Account is active", "devices": []})
        if request.path.endswith("/auth") and b'"async":"1"' in await request.read():
            return ok({"txid": "0b3e7e6a-d6b3-4cc4-9d09-1f7d8a1a2a39"})
        return ok({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."})

    stub.handler = answer
    official = duo_client.Auth(ikey=app["ikey"], skey=app["skey"], host="127.0.0.1", port=stub.port,
                               ca_certs=app["ca_cert"])
    txid = "0b3e7e6a-d6b3-4cc4-9d09-1f7d8a1a2a39"
    calls = [
        (lambda duo: duo.check(), lambda: official.check()),
        (lambda duo: duo.preauth("ålice é", ipaddr="10.1.2.3"),
         lambda: official.preauth(username="ålice é", ipaddr="10.1.2.3")),
        (lambda duo: duo.auth("passcode", "alice", passcode="123456", ipaddr="10.1.2.3"),
         lambda: official.auth("passcode", username="alice", passcode="123456", ipaddr="10.1.2.3")),
        (lambda duo: duo.auth("push", "alice", device="auto", pushinfo="from=login%20portal&x=y", type="VPN",
                              async_txn=True),
         lambda: official.auth("push", username="alice", device="auto", pushinfo="from=login%20portal&x=y",
                               type="VPN", async_txn=True)),
        (lambda duo: duo.auth_status(txid), lambda: official.auth_status(txid)),
    ]
    compared = ("Authorization", "Date", "Content-Type")
    async with stub_client(stub, app) as duo:
        for ours, theirs in calls:
            stub.requests.clear()
            await ours(duo)
            await asyncio.to_thread(theirs)
            mine, reference = stub.requests
            assert (mine["method"], mine["path"], mine["query"], mine["body"]) == (
                reference["method"], reference["path"], reference["query"], reference["body"])
            assert {h: mine["headers"].get(h) for h in compared} == {h: reference["headers"].get(h) for h in compared}
            assert mine["headers"]["Host"] == reference["headers"]["Host"] == stub.api_host


async def test_requests_go_through_an_http_proxy_tunnel(app):
    proxy = ConnectProxy().start()
    try:
        async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"],
                             http_proxy=f"127.0.0.1:{proxy.port}") as duo:
            assert await duo.check() > 0
            assert (await duo.preauth("nobody-via-proxy")).result == "enroll"
    finally:
        proxy.stop()
    assert proxy.tunnels and set(proxy.tunnels) == {app["api_host"]}


async def test_latency_hook_sees_every_exchange_and_failures(app):
    exchanges = []

    def observe(endpoint, seconds, status):
        exchanges.append((endpoint, status))
        assert seconds >= 0
        raise RuntimeError("a broken metrics hook")  # must not break the call

    async with DuoClient(app["ikey"], app["skey"], app["api_host"], ca_certs=app["ca_cert"],
                         on_response=observe) as duo:
        assert await duo.check() > 0
        with pytest.raises(DuoApiError):
            await duo.preauth("")
    async with DuoClient(app["ikey"], app["skey"], f"127.0.0.1:{free_port()}", ca_certs=app["ca_cert"],
                         on_response=observe) as duo:
        with pytest.raises(DuoUnavailable):
            await duo.ping()
    assert exchanges == [("check", 200), ("preauth", 400), ("ping", None)]
