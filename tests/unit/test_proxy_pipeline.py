"""The pipeline decides datagrams without a socket: what is dropped, what is answered at once, with which secret."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import struct

import pytest

from duomfa import radius
from duomfa.config import MessageAuthenticatorPolicy, ProxySettings, RadiusClient, Secret, parse_networks
from duomfa.logline import JsonLog
from duomfa.proxy.clients import ClientEntry, ClientTable, SecretVersion
from duomfa.proxy.metrics import ProxyMetrics
from duomfa.proxy.pipeline import Drop, Pending, Pipeline, parse_factor

A = radius.constants
CLIENT = ("10.0.0.5", 40000)
CURRENT, PENDING = b"current-secret", b"pending-secret"


def make_pipeline(require_ma="auto", versions=((("AWSCURRENT", CURRENT),)), exempt=("svc-exempt",),
                  client_ip_attr="Calling-Station-Id"):
    settings = ProxySettings(
        ikey="DI" + "A" * 18, skey=Secret("s" * 40), api_host="127.0.0.1:1", exempt_usernames=exempt,
        clients=(RadiusClient("radius_ip_1", parse_networks("10.0.0.0/24"), None),),
        require_message_authenticator=MessageAuthenticatorPolicy(require_ma), http_port=None,
        client_ip_attr=client_ip_attr,
    )
    entry = ClientEntry("radius_ip_1", tuple(SecretVersion(label, secret) for label, secret in versions))
    table = ClientTable([(network, entry) for network in settings.clients[0].networks])
    stream = io.BytesIO()
    log = JsonLog(stream)
    return Pipeline(settings, table, None, ProxyMetrics(), log), stream


def access_request(username="alice", password="123456", secret=CURRENT, ma=True, extra=(), identifier=7):
    authenticator = radius.new_request_authenticator()
    attributes = [(A.USER_NAME, username.encode())]
    if password is not None:
        attributes.append((A.USER_PASSWORD, radius.hide_user_password(password.encode(), secret, authenticator)))
    attributes.extend(extra)
    data = radius.encode_request(A.ACCESS_REQUEST, identifier, authenticator, attributes, secret,
                                 message_authenticator=ma)
    return data, authenticator


def drops(pipeline, reason):
    return pipeline.metrics.drops[reason]._value.get()


def log_lines(stream, pipeline):
    pipeline.log.flush()
    return [json.loads(line) for line in stream.getvalue().decode().splitlines()]


def test_exempt_user_is_accepted_at_once_with_message_authenticator_first():
    pipeline, stream = make_pipeline()
    data, authenticator = access_request("svc-exempt", "anything at all")
    reply = pipeline.receive(data, CLIENT)
    assert isinstance(reply, bytes)
    packet = radius.verify_reply(reply, authenticator, CURRENT)
    assert packet.code == A.ACCESS_ACCEPT
    assert packet.attributes[0][0] == A.MESSAGE_AUTHENTICATOR
    [line] = log_lines(stream, pipeline)
    assert line["result"] == "accept" and line["reason"] == "exempt user" and line["secret_version"] == "AWSCURRENT"


def test_unknown_client_is_dropped_silently_and_counted():
    pipeline, _ = make_pipeline()
    data, _ = access_request("svc-exempt")
    assert pipeline.receive(data, ("10.9.9.9", 1)) == Drop("unknown_client")
    assert drops(pipeline, "unknown_client") == 1


def test_bad_message_authenticator_and_wrong_secret_are_dropped():
    pipeline, _ = make_pipeline()
    data, _ = access_request("svc-exempt", secret=b"someone-else")
    assert pipeline.receive(data, CLIENT) == Drop("bad_message_authenticator")
    assert drops(pipeline, "bad_message_authenticator") == 1
    data, _ = access_request("alice", "push", secret=b"someone-else", ma=False)
    assert pipeline.receive(data, CLIENT) == Drop("bad_secret")
    assert drops(pipeline, "bad_secret") == 1


@pytest.mark.parametrize("mode, first_with_ma, answered", [
    ("yes", False, False), ("no", True, True), ("auto", False, True), ("auto", True, False),
])
def test_message_authenticator_policy(mode, first_with_ma, answered):
    pipeline, _ = make_pipeline(require_ma=mode)
    if first_with_ma:
        assert isinstance(pipeline.receive(access_request("svc-exempt", ma=True)[0], CLIENT), bytes)
    outcome = pipeline.receive(access_request("svc-exempt", ma=False)[0], CLIENT)
    assert isinstance(outcome, bytes) == answered


def test_each_reply_is_signed_with_the_secret_that_signed_the_request():
    pipeline, stream = make_pipeline(require_ma="no", versions=(("AWSCURRENT", CURRENT), ("AWSPENDING", PENDING)))
    for secret, ma in ((CURRENT, True), (PENDING, True), (CURRENT, False), (PENDING, False)):
        data, authenticator = access_request("svc-exempt", "push", secret=secret, ma=ma)
        reply = pipeline.receive(data, (CLIENT[0], CLIENT[1] + len(secret) + ma))
        assert radius.verify_reply(reply, authenticator, secret).code == A.ACCESS_ACCEPT
    labels = [line["secret_version"] for line in log_lines(stream, pipeline)]
    assert labels == ["AWSCURRENT", "AWSPENDING", "AWSCURRENT", "AWSPENDING"]
    data, _ = access_request("svc-exempt", "push", secret=b"third-secret", ma=False)
    assert pipeline.receive(data, CLIENT) == Drop("bad_secret")


def test_status_server_is_answered_and_needs_a_message_authenticator():
    pipeline, _ = make_pipeline()
    authenticator = radius.new_request_authenticator()
    data = radius.encode_request(A.STATUS_SERVER, 1, authenticator, [], CURRENT, message_authenticator=True)
    reply = pipeline.receive(data, CLIENT)
    assert radius.verify_reply(reply, authenticator, CURRENT).code == A.ACCESS_ACCEPT
    bare = struct.pack("!BBH", A.STATUS_SERVER, 2, 20) + authenticator  # RFC 5997 forbids this; a client may not
    assert pipeline.receive(bare, CLIENT) == Drop("missing_message_authenticator")
    assert drops(pipeline, "missing_message_authenticator") == 1


def test_chap_and_eap_are_rejected_with_a_reply_message_saying_pap():
    pipeline, _ = make_pipeline()
    ms_chap2 = radius.encode_vendor_attribute(radius.VENDOR_MICROSOFT, radius.MS_CHAP2_RESPONSE, bytes(50))
    for extra in ([(A.CHAP_PASSWORD, b"\x01" + b"x" * 16)], [(A.EAP_MESSAGE, b"\x02\x01\x00\x05\x01")], [ms_chap2]):
        data, authenticator = access_request("alice", None, extra=extra)
        reply = radius.verify_reply(pipeline.receive(data, CLIENT), authenticator, CURRENT)
        assert reply.code == A.ACCESS_REJECT
        assert b"PAP is required" in reply.get(A.REPLY_MESSAGE)


def test_proxy_state_is_echoed_in_order():
    pipeline, _ = make_pipeline()
    data, authenticator = access_request("svc-exempt", extra=[(A.PROXY_STATE, b"one"), (A.PROXY_STATE, b"two")])
    reply = radius.verify_reply(pipeline.receive(data, CLIENT), authenticator, CURRENT)
    assert reply.get_all(A.PROXY_STATE) == [b"one", b"two"]


def test_retransmission_of_an_answered_request_gets_the_same_reply():
    pipeline, _ = make_pipeline()
    data, _ = access_request("svc-exempt")
    first = pipeline.receive(data, CLIENT)
    assert pipeline.receive(data, CLIENT) == first
    assert pipeline.metrics.resent._value.get() == 1


async def test_retransmission_in_flight_joins_the_first_copy():
    pipeline, _ = make_pipeline()
    calls = []

    async def slow_decide(request):
        calls.append(request)
        await asyncio.sleep(0.05)
        from duomfa.proxy.pipeline import Decision
        return Decision(True, "test", "ok")

    pipeline.decide = slow_decide
    data, authenticator = access_request("alice", "push")
    first = pipeline.receive(data, CLIENT)
    second = pipeline.receive(data, CLIENT)
    assert isinstance(first, Pending) and isinstance(second, Pending)
    replies = await asyncio.gather(first.reply, second.reply)
    assert len(calls) == 1
    assert replies[0] == replies[1]
    assert radius.verify_reply(replies[0], authenticator, CURRENT).code == A.ACCESS_ACCEPT


def test_username_and_factor_are_required():
    pipeline, _ = make_pipeline()
    data, authenticator = access_request("alice", "hello")
    reply = radius.verify_reply(pipeline.receive(data, CLIENT), authenticator, CURRENT)
    assert reply.code == A.ACCESS_REJECT and b"Enter a passcode" in reply.get(A.REPLY_MESSAGE)


@pytest.mark.parametrize("typed, kind, number", [
    ("push", "push", None), ("PUSH2", "push", 2), ("phone", "phone", None), ("sms3", "sms", 3),
    ("123456", "passcode", None), (" 9876543 ", "passcode", None),
])
def test_factors_are_read_from_the_password_field(typed, kind, number):
    factor = parse_factor(typed)
    assert factor.kind == kind and factor.device_number == number
    assert typed.strip() not in repr(factor) or kind != "passcode"


@pytest.mark.parametrize("typed", ["", "hello", "push0", "12345", "push 2", "1234567890123456789"])
def test_anything_else_is_not_a_factor(typed):
    assert parse_factor(typed) is None


async def stats_line(namespace: str = "") -> dict:
    """The first stats line of a pipeline that saw, inside the interval, one exempt login, one unknown client and
    a Duo timeout."""
    from duomfa.proxy.server import _log_stats

    pipeline, stream = make_pipeline()
    pipeline.receive(access_request("svc-exempt")[0], CLIENT)
    pipeline.receive(access_request("svc-exempt")[0], ("10.9.9.9", 1))

    class Syslog:
        dropped = 5  # before the interval: not counted in it

    class Proxy:
        duo_reachable = True
        duo_keys_problem = None
        syslog = Syslog()
        settings = dataclasses.replace(pipeline.settings, metrics_namespace=namespace)

    proxy = Proxy()
    proxy.pipeline, proxy.log = pipeline, pipeline.log
    task = asyncio.create_task(_log_stats(proxy, interval=0.05))
    await asyncio.sleep(0.01)
    pipeline.receive(access_request("svc-exempt")[0], ("10.9.9.9", 2))
    pipeline.receive(access_request("svc-exempt", identifier=9)[0], CLIENT)
    pipeline.metrics.duo_errors.labels("timeout").inc()
    pipeline.metrics.duo_errors.labels("http_401").inc()
    pipeline.metrics.observe_duo("preauth", 0.120, 200)
    pipeline.metrics.observe_duo("auth_status_wait", 20.0, 200)  # a wait for the user: not Duo's latency
    Syslog.dropped = 7
    await asyncio.sleep(0.07)
    task.cancel()
    return [line for line in log_lines(stream, pipeline) if line["event"] == "stats"][0]


async def test_stats_line_counts_what_happened_in_the_interval():
    stats = await stats_line()
    assert stats["accepted"] == 1 and stats["exempt"] == 1
    assert stats["dropped"] == 1 and stats["dropped_unknown_client"] == 1
    assert stats["fail_open"] == 0 and stats["secret_versions"] == 1
    assert stats["syslog_dropped"] == 2
    assert (stats["duo_errors"], stats["duo_errors_timeout"], stats["duo_errors_refused"]) == (2, 1, 1)
    assert len(stats["login_latency_ms"]) == 1 and stats["duo_latency_ms"] == [120.0]
    assert "_aws" not in stats  # no namespace: no metrics


async def test_with_a_namespace_the_stats_line_is_valid_embedded_metric_format():
    from duomfa import emf

    stats = await stats_line("DuoMfa/test-stack")
    [directive] = stats["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "DuoMfa/test-stack"
    assert directive["Dimensions"] == [[]]  # one series per metric for the stack: nothing per user or per task
    names = [metric["Name"] for metric in directive["Metrics"]]
    assert set(names) == set(emf.PROXY_METRICS) and len(names) <= emf.MAX_VALUES
    for metric in directive["Metrics"]:  # each a top-level number, or a list of at most 100 numbers
        value = stats[metric["Name"]]
        assert isinstance(value, int | float) or (
            isinstance(value, list) and 0 < len(value) <= emf.MAX_VALUES
            and all(isinstance(v, int | float) for v in value)), metric
        assert metric["Unit"] == ("Milliseconds" if metric["Name"].endswith("_ms") else "Count")
    assert isinstance(stats["_aws"]["Timestamp"], int)


def test_an_interval_sample_keeps_at_most_its_size_drawn_from_all_values():
    import random

    from duomfa.proxy.metrics import IntervalSample

    sample = IntervalSample(size=100, rng=random.Random(7))
    for value in range(10_000):
        sample.observe(float(value))
    values = sample.take()
    assert len(values) == 100 and len(set(values)) == 100
    assert sum(v >= 5_000 for v in values) > 30  # not just the first hundred
    assert sample.take() == [] and sample.seen == 0


def test_status_server_only_clients_can_probe_but_never_log_in():
    pipeline, _ = make_pipeline()
    prober = ClientEntry("status_server_clients", (SecretVersion("AWSCURRENT", CURRENT),), status_only=True)
    login = pipeline.clients.lookup(CLIENT[0])
    pipeline.clients = ClientTable([(parse_networks("10.0.0.0/24")[0], login),
                                    (parse_networks("10.0.0.0/16")[0], prober)])
    authenticator = radius.new_request_authenticator()
    probe = radius.encode_request(A.STATUS_SERVER, 1, authenticator, [], CURRENT)
    assert radius.verify_reply(pipeline.receive(probe, ("10.0.9.9", 5)), authenticator, CURRENT).code == A.ACCESS_ACCEPT
    assert pipeline.receive(access_request("svc-exempt")[0], ("10.0.9.9", 5)) == Drop("unknown_client")
    assert drops(pipeline, "unknown_client") == 1
    assert isinstance(pipeline.receive(access_request("svc-exempt")[0], CLIENT), bytes)  # the /24 is a login client


def test_a_second_proxy_cannot_bind_the_same_port():
    from duomfa.proxy.server import _bind_udp_socket

    settings = ProxySettings(ikey="", skey=None, api_host="", clients=(), interface="127.0.0.1", port=0)
    first = _bind_udp_socket(settings)
    try:
        taken = ProxySettings(ikey="", skey=None, api_host="", clients=(), interface="127.0.0.1",
                              port=first.getsockname()[1])
        with pytest.raises(OSError):
            _bind_udp_socket(taken).close()
    finally:
        first.close()


def test_draining_takes_nothing_new_but_still_answers_retransmissions():
    pipeline, _ = make_pipeline()
    answered, _ = access_request("svc-exempt")
    first = pipeline.receive(answered, CLIENT)
    pipeline.draining = True
    assert pipeline.receive(answered, CLIENT) == first  # a retry of what was answered: the same reply
    assert pipeline.receive(access_request("svc-exempt", identifier=8)[0], CLIENT) == Drop("shutting_down")
    assert drops(pipeline, "shutting_down") == 1


def test_auto_learns_message_authenticator_from_access_requests_only():
    pipeline, _ = make_pipeline(require_ma="auto")
    authenticator = radius.new_request_authenticator()
    probe = radius.encode_request(A.STATUS_SERVER, 1, authenticator, [], CURRENT, message_authenticator=True)
    assert isinstance(pipeline.receive(probe, CLIENT), bytes)  # a health check, with the MA RFC 5997 requires
    assert isinstance(pipeline.receive(access_request("svc-exempt", ma=False)[0], CLIENT), bytes)  # still answered
    assert isinstance(pipeline.receive(access_request("svc-exempt", ma=True, identifier=8)[0], CLIENT), bytes)
    assert pipeline.receive(access_request("svc-exempt", ma=False, identifier=9)[0], CLIENT) == Drop(
        "missing_message_authenticator")  # an Access-Request with one: from now on required


@pytest.mark.parametrize("extra", [
    [(A.CHAP_PASSWORD, b"\x01" + b"x" * 16)],
    [(A.EAP_MESSAGE, b"\x02\x01\x00\x05\x01")],
    [],  # a User-Name and nothing else
], ids=["chap", "eap", "nothing"])
def test_a_request_that_proves_no_knowledge_of_the_secret_gets_no_reply(extra):
    pipeline, stream = make_pipeline(require_ma="no")
    data, _ = access_request("alice", None, ma=False, extra=extra)
    assert pipeline.receive(data, CLIENT) == Drop("unverifiable")
    assert drops(pipeline, "unverifiable") == 1
    [notice] = [line for line in log_lines(stream, pipeline) if line["event"] == "drop_notice"]
    assert notice["level"] == "WARNING" and notice["client"] == CLIENT[0] and "PAP" in notice["cause"]
    signed, authenticator = access_request("alice", None, ma=True, extra=extra)  # with an MA it is answered
    reply = pipeline.receive(signed, (CLIENT[0], CLIENT[1] + 1))
    assert radius.verify_reply(reply, authenticator, CURRENT).code == A.ACCESS_REJECT


def test_drops_a_person_must_act_on_are_warned_once_then_counted_each_minute():
    pipeline, stream = make_pipeline()
    for identifier in range(5):
        pipeline.receive(access_request("svc-exempt", secret=b"wrong", identifier=identifier)[0], CLIENT)
    pipeline.receive(access_request("svc-exempt", identifier=9)[0], ("10.9.9.9", 1))
    pipeline.receive(access_request("svc-exempt", identifier=10)[0], ("10.9.9.9", 1))
    notices = [line for line in log_lines(stream, pipeline) if line["event"] == "drop_notice"]
    assert [(n["reason"], n["client"], n.get("first")) for n in notices] == [
        ("bad_message_authenticator", CLIENT[0], True), ("unknown_client", "10.9.9.9", True)]
    assert "shared secret" in notices[0]["cause"]
    pipeline.notices.summarize(60.0)
    counts = [line for line in log_lines(stream, pipeline) if line["event"] == "drop_notice"][2:]
    assert sorted((n["reason"], n["client"], n["count"]) for n in counts) == [
        ("bad_message_authenticator", CLIENT[0], 4), ("unknown_client", "10.9.9.9", 1)]
    pipeline.notices.summarize(60.0)  # nothing new: nothing said
    assert len([line for line in log_lines(stream, pipeline) if line["event"] == "drop_notice"]) == 4
    assert "wrong" not in stream.getvalue().decode()


def test_drop_notices_stay_bounded_under_a_flood_from_many_addresses(monkeypatch):
    from duomfa.proxy import dropnotices

    monkeypatch.setattr(dropnotices, "MAX_TRACKED", 50)
    pipeline, stream = make_pipeline()
    data, _ = access_request("svc-exempt")
    for host in range(200):
        pipeline.receive(data, (f"10.9.{host // 250}.{host % 250}", 1))
    pipeline.notices.summarize(60.0)
    notices = [line for line in log_lines(stream, pipeline) if line["event"] == "drop_notice"]
    assert len(notices) == 51  # 50 first warnings, then one count for everyone else
    assert (notices[-1]["client"], notices[-1]["count"]) == ("(other clients)", 150)


@pytest.mark.parametrize("typed, exempt", [
    ("svc-exempt", True), ("SVC-EXEMPT", False), ("Svc-Exempt", False), (" svc-exempt", False), ("svc-exempt ", False),
    ("svc-exempt\u0301", False), ("ｓｖｃ-exempt", False),  # no Unicode folding either
])
def test_exempt_users_are_matched_exactly_as_duos_proxy_does(typed, exempt):
    pipeline, stream = make_pipeline()
    data, authenticator = access_request(typed, "hello")  # "hello" is no factor: rejected if not exempt
    reply = radius.verify_reply(pipeline.receive(data, CLIENT), authenticator, CURRENT)
    assert (reply.code == A.ACCESS_ACCEPT) == exempt
    warned = [line for line in log_lines(stream, pipeline) if line["event"] == "exempt_mismatch"]
    # a name that matched before (case or spaces only) is warned about, for one release
    assert bool(warned) == (not exempt and typed.strip().lower() == "svc-exempt")
    if warned:
        assert warned[0]["level"] == "WARNING" and warned[0]["username"] == typed
        assert warned[0]["exempt_entry"] == "svc-exempt" and "would have been exempt before" in warned[0]["detail"]


async def test_the_username_goes_to_duo_as_it_was_sent():
    pipeline, _ = make_pipeline()
    seen = []

    async def record(request):
        seen.append(request.username)
        from duomfa.proxy.pipeline import Decision
        return Decision(False, "test", None)

    pipeline.decide = record
    data, _ = access_request(" Alice ", "push")
    await pipeline.receive(data, CLIENT).reply
    assert seen == [" Alice "]


@pytest.mark.parametrize("names", [
    ["alice", "ALICE", "CORP\\alice", "alice@corp.example"],
    ["CORP\\Alice", "corp\\alice", " alice", "Alice@Other.Example"],
])
def test_the_push_guard_counts_a_person_under_all_their_names(names):
    from duomfa.proxy.pushguard import PushGuard, person

    assert {person(name) for name in names} == {"alice"}
    guard = PushGuard(3, clock=lambda: 100.0)
    assert [guard.allow(name) for name in names] == [True, True, True, False]
    assert guard.allow("bob")  # someone else is not limited by alice's pushes


class CountingDuo:
    """A DuoApi that answers every passcode with `status_msg` and counts the calls."""

    api_host = "duo.test"

    def __init__(self, status_msg="Success. Logging you in...", fail=False):
        self.status_msg, self.fail, self.calls = status_msg, fail, []

    async def preauth(self, username, ipaddr=None):
        from duomfa.duo import PreauthResult

        self.calls.append("preauth")
        return PreauthResult("auth", "Account is active", (), None)

    async def auth(self, factor, username, **options):
        from duomfa.duo import AuthResult

        self.calls.append("auth")
        if self.fail:
            raise RuntimeError("a bug somewhere below")
        return AuthResult("allow", "allow", self.status_msg, None)

    async def auth_and_wait(self, factor, username, **options):
        raise AssertionError("not used by these tests")

    async def close(self):
        pass


async def test_a_reply_too_long_for_radius_is_trimmed_and_resent_without_asking_duo_again():
    pipeline, _ = make_pipeline()
    pipeline.duo = CountingDuo(status_msg="é" * 1000 + "x" * 5000)  # Duo's message, far over 4096 octets
    proxy_state = [(A.PROXY_STATE, bytes([n]) * 253) for n in range(5)]
    data, authenticator = access_request("alice", "123456", extra=proxy_state)
    reply = await pipeline.receive(data, CLIENT).reply
    assert len(reply) <= radius.MAX_PACKET_LENGTH
    packet = radius.verify_reply(reply, authenticator, CURRENT)
    assert packet.code == A.ACCESS_ACCEPT and packet.get_all(A.PROXY_STATE) == [v for _, v in proxy_state]
    message = b"".join(packet.get_all(A.REPLY_MESSAGE))
    assert message.decode("utf-8").startswith("é" * 100)  # cut between characters, never inside one
    assert pipeline.receive(data, CLIENT) == reply  # the retransmission: the same reply, Duo not asked again
    assert pipeline.duo.calls == ["preauth", "auth"]


async def test_a_request_that_got_no_reply_does_not_ask_duo_again_when_it_is_resent():
    pipeline, _ = make_pipeline()
    pipeline.duo = CountingDuo(fail=True)
    data, _ = access_request("alice", "123456")
    assert await pipeline.receive(data, CLIENT).reply is None
    assert drops(pipeline, "internal_error") == 1
    for _ in range(3):
        assert pipeline.receive(data, CLIENT) == Drop("unanswerable")
    assert pipeline.duo.calls == ["preauth", "auth"]  # one passcode attempt at Duo, not four


def test_the_reply_cache_is_bounded_in_bytes_as_well_as_entries():
    from duomfa.proxy.dedup import Retransmissions

    cache = Retransmissions(30.0, clock=lambda: 0.0, max_entries=1000, max_bytes=10_000)
    for n in range(100):
        cache.remember(("10.0.0.5", n, 1, bytes(16)), b"q" * 100, b"r" * 100)
    assert cache.answered_bytes <= 10_000 and len(cache) == 50  # the oldest were forgotten first
    assert cache.lookup(("10.0.0.5", 99, 1, bytes(16)), b"q" * 100) == b"r" * 100
    assert cache.lookup(("10.0.0.5", 0, 1, bytes(16)), b"q" * 100) is None
    cache.remember(("10.0.0.5", 99, 1, bytes(16)), b"q" * 100, b"s" * 100)  # replacing an entry keeps the count
    assert cache.answered_bytes == 50 * 200


PALO_ALTO_IP = (A.VENDOR_PALO_ALTO, A.PALO_ALTO_CLIENT_SOURCE_IP)


@pytest.mark.parametrize("client_ip_attr, extra, expected", [
    # client_ip_attr = paloalto: the vendor attribute, not Calling-Station-Id
    ("PaloAlto-Client-Source-IP", [radius.encode_vendor_attribute(*PALO_ALTO_IP, b"203.0.113.9"),
                                   (A.CALLING_STATION_ID, b"198.51.100.7")], "203.0.113.9"),
    # behind another vendor's attribute in the same request
    ("PaloAlto-Client-Source-IP", [radius.encode_vendor_attribute(A.VENDOR_MICROSOFT, 7, b"10.9.9.9"),
                                   radius.encode_vendor_attribute(*PALO_ALTO_IP, b"2001:db8::5")], "2001:db8::5"),
    # absent, malformed or not an address: no ipaddr — as with a missing Calling-Station-Id
    ("PaloAlto-Client-Source-IP", [(A.CALLING_STATION_ID, b"198.51.100.7")], None),
    ("PaloAlto-Client-Source-IP", [(A.VENDOR_SPECIFIC, (25461).to_bytes(4, "big") + bytes((7, 40)) + b"10.1.2.3")],
     None),
    ("PaloAlto-Client-Source-IP", [(A.VENDOR_SPECIFIC, b"\x00\x00")], None),
    ("PaloAlto-Client-Source-IP", [radius.encode_vendor_attribute(*PALO_ALTO_IP, b"not an address")], None),
    ("Calling-Station-Id", [(A.CALLING_STATION_ID, b"198.51.100.7")], "198.51.100.7"),
    ("Calling-Station-Id", [], None),
])
async def test_the_client_ip_for_duo_comes_from_the_configured_attribute(client_ip_attr, extra, expected):
    pipeline, _ = make_pipeline(client_ip_attr=client_ip_attr)
    seen = []

    class RecordingDuo(CountingDuo):
        async def preauth(self, username, ipaddr=None):
            seen.append(ipaddr)
            return await super().preauth(username, ipaddr)

    pipeline.duo = RecordingDuo()
    data, _ = access_request("alice", "123456", extra=extra)
    assert await pipeline.receive(data, CLIENT).reply is not None  # answered either way
    assert seen == [expected]
