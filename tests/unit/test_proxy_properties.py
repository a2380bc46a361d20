"""Whatever arrives, the pipeline answers, drops it, or hands back a pending reply: it never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_proxy_pipeline import CLIENT, CURRENT, make_pipeline

from duomfa.proxy.pipeline import Drop, Pending
from radius_mutations import base_request, fuzz_datagrams, mutate, resign


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=5000))
def test_random_bytes_never_raise(data):
    pipeline, _ = make_pipeline()
    outcome = pipeline.receive(data, CLIENT)
    assert isinstance(outcome, (bytes, Drop, Pending))
    if isinstance(outcome, Pending):
        outcome.reply.close()


async def test_mutated_requests_with_valid_message_authenticators_never_raise():
    pipeline, _ = make_pipeline(require_ma="no")
    answered = dropped = pending = 0
    for datagram in fuzz_datagrams(seed=7, count=6000, secret=CURRENT,
                                   usernames=[b"svc-exempt", b"alice", b"\xff\xfe", b""]):
        outcome = pipeline.receive(datagram, CLIENT)
        if isinstance(outcome, Drop):
            dropped += 1
        elif isinstance(outcome, bytes):
            answered += 1
        else:
            pending += 1
            assert (await outcome.reply) is not None  # no Duo configured: rejected, never an exception
    assert pipeline.metrics.drops["internal_error"]._value.get() == 0
    assert answered > 100 and dropped > 1000 and pending > 10, (answered, dropped, pending)


def test_resigned_mutation_passes_the_authenticator_check():
    import random

    from duomfa import radius

    rng = random.Random(3)
    raw = base_request(rng, CURRENT, b"svc-exempt", b"push")
    assert resign(raw, CURRENT) == raw  # recomputing an intact packet changes nothing
    assert radius.verify_request_message_authenticator(radius.parse(raw), CURRENT)
    damaged = bytearray(raw)
    damaged[-3] ^= 0xFF  # inside the last attribute (Proxy-State): covered by the authenticator
    assert not radius.verify_request_message_authenticator(radius.parse(bytes(damaged)), CURRENT)
    assert radius.verify_request_message_authenticator(radius.parse(resign(bytes(damaged), CURRENT)), CURRENT)
    assert mutate(rng, raw) != raw
