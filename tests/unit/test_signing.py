"""Signature checks against requests signed by duo_client's own `sign`, for every version it may send."""

import base64
import email.utils
import hashlib
import json
import time

import pytest
from duo_client.client import sign

from duomfa.mfaservice.signing import SignatureError, SignedRequest, signed_host, verify

IKEY = "DIXXXXXXXXXXXXXXXXXX"
SKEY = "s" * 40


def skey_for(ikey):
    return SKEY if ikey == IKEY else None


def make_request(sig_version, digestmod=hashlib.sha512, method="POST", params=None, skey=SKEY, date=None,
                 host_header="localhost:8443", path="/auth/v2/preauth", duo_headers=None):
    params = params if params is not None else {"username": "alice", "ipaddr": "10.1.2.3"}
    date = date or email.utils.formatdate()
    if sig_version == 5 and method == "POST":
        body = json.dumps(params, sort_keys=True, separators=(",", ":"))
        auth = sign(IKEY, skey, method, "localhost", path, date, 5, {}, body=body, digestmod=hashlib.sha512,
                    additional_headers=duo_headers)
        signed_params, sent_body = {}, body
    else:
        listed = {k: [v] for k, v in params.items()}
        auth = sign(IKEY, skey, method, "localhost", path, date, sig_version, listed,
                    body="" if sig_version == 5 else None, digestmod=digestmod, additional_headers=duo_headers)
        signed_params, sent_body = listed, None
    return SignedRequest(method=method, host=host_header, path=path, params=signed_params, body=sent_body,
                         date=date, authorization=auth, duo_headers=duo_headers or {})


@pytest.mark.parametrize("sig_version, digestmod, method", [
    (2, hashlib.sha1, "POST"), (2, hashlib.sha512, "POST"), (2, hashlib.sha1, "GET"),
    (5, hashlib.sha512, "POST"), (5, hashlib.sha512, "GET"),
])
def test_valid_signatures_of_each_version_are_accepted(sig_version, digestmod, method):
    verified = verify(make_request(sig_version, digestmod, method), skey_for)
    assert verified.ikey == IKEY
    assert verified.sig_version == sig_version


def test_v5_signature_covers_x_duo_headers():
    request = make_request(5, duo_headers={"X-Duo-Trace": "abc"})
    assert verify(request, skey_for).sig_version == 5
    tampered = SignedRequest(**{**request.__dict__, "duo_headers": {"X-Duo-Trace": "abd"}})
    with pytest.raises(SignatureError) as caught:
        verify(tampered, skey_for)
    assert caught.value.code == 40103


def test_signed_host_is_the_name_without_the_port():
    assert signed_host("localhost:8443") == "localhost"
    assert signed_host("127.0.0.1") == "127.0.0.1"
    assert signed_host("[::1]:8443") == "::1"
    assert verify(make_request(2, host_header="LOCALHOST:9999"), skey_for).ikey == IKEY


def test_wrong_skey_is_an_invalid_signature():
    with pytest.raises(SignatureError) as caught:
        verify(make_request(5, skey="t" * 40), skey_for)
    assert (caught.value.code, caught.value.message) == (40103, "Invalid signature in request credentials")


def test_changed_parameter_breaks_the_signature():
    request = make_request(2)
    tampered = SignedRequest(**{**request.__dict__, "params": {"username": ["mallory"], "ipaddr": ["10.1.2.3"]}})
    with pytest.raises(SignatureError):
        verify(tampered, skey_for)


def test_unknown_ikey_is_refused():
    with pytest.raises(SignatureError) as caught:
        verify(make_request(2), lambda ikey: None)
    assert caught.value.code == 40102


@pytest.mark.parametrize("offset, accepted", [(-299, True), (299, True), (-301, False), (301, False)])
def test_date_more_than_five_minutes_off_is_refused(offset, accepted):
    date = email.utils.formatdate(time.time() + offset)
    request = make_request(2, date=date)
    if accepted:
        assert verify(request, skey_for).ikey == IKEY
    else:
        with pytest.raises(SignatureError) as caught:
            verify(request, skey_for)
        assert caught.value.code == 40105


@pytest.mark.parametrize("authorization", [None, "", "Bearer abc", "Basic !!!", "Basic " + "YWJj"])
def test_missing_or_garbled_credentials_are_refused(authorization):
    request = SignedRequest(**{**make_request(2).__dict__, "authorization": authorization})
    with pytest.raises(SignatureError) as caught:
        verify(request, skey_for)
    assert caught.value.code == 40101


def test_missing_date_is_refused():
    request = SignedRequest(**{**make_request(2).__dict__, "date": None})
    with pytest.raises(SignatureError) as caught:
        verify(request, skey_for)
    assert caught.value.code == 40104


def test_date_check_does_not_depend_on_the_hosts_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert verify(make_request(5), skey_for).ikey == IKEY
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_v2_signature_never_vouches_for_a_json_body():
    # a v2 signature over no parameters, sent with a JSON body it does not cover
    date = email.utils.formatdate()
    for digestmod in (hashlib.sha1, hashlib.sha512):
        auth = sign(IKEY, SKEY, "POST", "localhost", "/auth/v2/preauth", date, 2, {}, digestmod=digestmod)
        request = SignedRequest(method="POST", host="localhost", path="/auth/v2/preauth", params={},
                                body='{"username":"mallory"}', date=date, authorization=auth, duo_headers={})
        with pytest.raises(SignatureError) as caught:
            verify(request, skey_for)
        assert caught.value.code == 40103
        # the same signature over the same (empty) form parameters is good: only the body makes it fail
        assert verify(SignedRequest(**{**request.__dict__, "body": None}), skey_for).sig_version == 2


def basic(text: str | bytes) -> str:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize("authorization", [
    "Basic",
    "Basic \udcff\udcfe",  # undecodable bytes, as aiohttp hands them over
    "Basic é",
    "Basic " + "A" * 5000,
    basic(IKEY),  # no colon
    basic(IKEY + ":" + "é" * 40),  # a 40-character signature that is not ASCII
    basic(IKEY.encode() + b":" + b"\xff" * 40),  # not text at all
])
def test_malformed_credentials_are_missing_credentials_not_a_crash(authorization):
    request = SignedRequest(**{**make_request(2).__dict__, "authorization": authorization})
    with pytest.raises(SignatureError) as caught:
        verify(request, skey_for)
    assert caught.value.code == 40101


@pytest.mark.parametrize("credentials, code", [
    (IKEY + ":" + "z" * 40, 40103),  # the length of a signature, not hex
    (IKEY + ":", 40103),  # no signature
    (":" + "0" * 40, 40102),  # no ikey: none that is known
])
def test_well_formed_but_wrong_credentials_keep_their_codes(credentials, code):
    request = SignedRequest(**{**make_request(2).__dict__, "authorization": basic(credentials)})
    with pytest.raises(SignatureError) as caught:
        verify(request, skey_for)
    assert caught.value.code == code


@pytest.mark.parametrize("date", ["Mon, 1 Jan 10000000000 00:00:00 +0000", "\udcff", "yesterday"])
def test_unreadable_date_is_a_missing_timestamp(date):
    request = SignedRequest(**{**make_request(2).__dict__, "date": date})
    with pytest.raises(SignatureError) as caught:
        verify(request, skey_for)
    assert caught.value.code == 40104


def test_undecodable_bytes_in_the_host_or_path_are_an_invalid_signature():
    for change in ({"host": "local\udcffhost:8443"}, {"path": "/auth/v2/pre\udcffauth"}):
        request = SignedRequest(**{**make_request(2).__dict__, **change})
        with pytest.raises(SignatureError) as caught:
            verify(request, skey_for)
        assert caught.value.code == 40103
