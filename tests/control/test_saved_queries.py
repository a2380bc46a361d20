"""The stack's saved Logs Insights queries against real log lines: the proxy's (its pipeline in-process, with a scripted
Duo) and the control plane's for one rotation (the address tracker, the rotation and the directory updater in moto).
Every field a query names, and every value it compares a field with, is in the lines it is meant to find, and each
query finds them."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from botocore.stub import Stubber
from control_aws import CLUSTER, SERVICE, EcsWorld, FakeClock, begin_rotation, client, enable_rotation, make_secret
from control_aws import push_image as push_proxy_image

from duomfa import logline
from duomfa.control import addresses, directory, rotation
from duomfa.control.inline_support import set_log_stream
from duomfa.infra.saved_queries import CONTROL_PLANE, PROXY, QUERIES, VERSION_PLACEHOLDER
from log_lines import EXEMPT_USER, UNREACHABLE, proxy_lines

TOKEN = "8d3a1f52-0c8e-4c1e-9a57-3f1f1c0f2b6e"
ADDRESSES, STATE = "/duomfa/stack/radius-servers", "/duomfa/stack/directory-state"
DIRECTORY_ID = "d-1234567890"
KEYWORDS = {"fields", "filter", "stats", "sort", "limit", "by", "as", "and", "or", "not", "asc", "desc", "like",
            "display", "parse", "in"}


def names_and_comparisons(query: str) -> tuple[set[str], dict[str, set[str]]]:
    """The log fields a query names (not @-fields, functions, keywords or the aliases it makes) and, per field, the
    values it compares that field with (`field = "value"`; comparisons of one field are or-ed, fields and-ed)."""
    compared: dict[str, set[str]] = {}
    for field, value in re.findall(r'(\w+) = "([^"]*)"', query):
        compared.setdefault(field, set()).add(value)
    text = re.sub(r'"[^"]*"', " ", query)
    names = set(re.findall(r"`([^`]+)`", text))
    text = re.sub(r"`[^`]+`", " ", text)
    aliases = set(re.findall(r"\bas\s+(\w+)", text))
    for name, call in re.findall(r"(?<![\w@])([A-Za-z_]\w*)\s*(\(?)", text):
        if not call and name not in KEYWORDS and name not in aliases:
            names.add(name)
    return names, compared


def found_by(query: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines the query's filters keep: its comparisons, and `@message like "text"` as a substring of the line."""
    _, compared = names_and_comparisons(query)
    wanted = re.findall(r'@message like "([^"]*)"', query)
    return [line for line in lines
            if all(str(line.get(field)) in values for field, values in compared.items())
            and all(text in json.dumps(line, separators=(",", ":")) for text in wanted)]


def check(question: str, lines: list[dict[str, Any]], text: str | None = None) -> list[dict[str, Any]]:
    """The lines the query finds, after checking that it finds some and that they carry every field it names."""
    (query,) = [query for query in QUERIES if query.question == question]
    text = text or query.text
    found = found_by(text, lines)
    assert found, question
    names, _ = names_and_comparisons(text)
    present = set().union(*(line.keys() for line in found))
    assert names <= present, (question, names - present)
    return found


# --- the proxy's lines --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxy() -> list[dict[str, Any]]:
    return proxy_lines()


def test_the_tokenizer_sees_fields_values_and_aliases():
    names, compared = names_and_comparisons(
        'fields @timestamp, user | filter event = "auth" and (kind = "a" or kind = "b") '
        "| stats count(*) as n, sum(`count`) as total by user | sort n desc")
    assert names == {"user", "event", "kind", "count"}
    assert compared == {"event": {"auth"}, "kind": {"a", "b"}}


def test_every_proxy_query_names_only_fields_of_the_lines_it_reads(proxy):
    for query in QUERIES:
        if query.reads == PROXY:
            check(query.question, proxy)


def test_failed_logins_are_the_rejected_auth_lines(proxy):
    found = check("Failed logins by user and reason", proxy)
    assert {(line[logline.USERNAME], line[logline.REASON]) for line in found} == {
        ("bob", "passcode deny"), ("carol", "push deny"), ("dave", "push timeout"), ("erin", "push fraud"),
        ("frank", "phone timeout"), ("alice", "invalid factor")}
    assert all(line[logline.CLIENT] for line in found)


def test_push_denies_and_timeouts_are_the_pushes_and_calls_people_refused_or_missed(proxy):
    found = check("Push denies and timeouts by user", proxy)
    assert {line[logline.USERNAME] for line in found} == {"carol", "dave", "erin", "frank"}


def test_fail_opens_are_the_fail_open_lines(proxy):
    found = check("All fail-opens", proxy)
    assert [line[logline.USERNAME] for line in found] == [UNREACHABLE]


def test_drops_are_counted_from_the_first_notice_and_the_minute_s_summary(proxy):
    found = check("Drops by client and reason", proxy)
    assert sum(1 for line in found if line.get(logline.DROP_FIRST)) == 1
    assert sum(line.get(logline.DROP_COUNT, 0) for line in found) == 2  # three drops: the first, then two


def test_the_exempt_and_accepted_logins_are_in_none_of_the_failure_queries(proxy):
    accepted = [line for line in proxy if line.get(logline.RESULT) == logline.ACCEPT]
    assert {line[logline.USERNAME] for line in accepted} == {"alice", UNREACHABLE, EXEMPT_USER}
    for query in QUERIES:
        if query.reads == PROXY and "fail-open" not in query.question:
            assert not found_by(query.text, accepted), query.question


# --- the control plane's lines for one rotation ------------------------------------------------------------------

def one_rotation(monkeypatch) -> list[dict[str, Any]]:
    """The address tracker records the proxies, the secret rotates (createSecret through the handler, the other
    steps through the dispatcher the handler calls), then the tracker and the directory updater follow it."""
    world = EcsWorld()
    world.run(2)
    push_proxy_image("the image the tasks run")
    secret_arn = make_secret()
    enable_rotation(secret_arn)
    for name in (ADDRESSES, STATE):
        client("ssm").put_parameter(Name=name, Value="none", Type="String")
    topic_arn = client("sns").create_topic(Name="duomfa-admins")["TopicArn"]
    for name, value in {"CLUSTER": CLUSTER, "SERVICE": SERVICE, "SECRET_ARN": secret_arn,
                        "ADDRESS_PARAMETER": ADDRESSES, "HEALTH_WAIT_SECONDS": "0",
                        "UPDATER_FUNCTION": "duomfa-updater", "METRICS_NAMESPACE": "DuoMfa/stack"}.items():
        monkeypatch.setenv(name, value)
    schedule = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    buffer = io.StringIO()
    set_log_stream(buffer)
    try:
        addresses.handler(schedule, None, client=client)
        begin_rotation(secret_arn, TOKEN)
        event = {"SecretId": secret_arn, "ClientRequestToken": TOKEN}
        rotation.handler({**event, "Step": "createSecret"}, None, client=client)
        settings = rotation.RotationSettings.from_environ({"CLUSTER": CLUSTER, "SERVICE": SERVICE,
                                                           "UPDATER_FUNCTION": "duomfa-updater"})
        for step in ("setSecret", "testSecret", "finishSecret"):
            rotation.rotate({**event, "Step": step}, secretsmanager=client("secretsmanager"), ecs=client("ecs"),
                            ecr=client("ecr"), settings=settings, start_updater=lambda version: None,
                            probe=lambda address, port, secret: True)
        addresses.handler(schedule, None, client=client)
        servers = json.loads(client("ssm").get_parameter(Name=ADDRESSES)["Parameter"]["Value"])["addresses"]
        run_updater(secret_arn, topic_arn, servers)
    finally:
        set_log_stream(None)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def run_updater(secret_arn: str, topic_arn: str, servers: list[str]) -> None:
    """One updater run that finds RADIUS off and enables it (Directory Service through botocore's Stubber: moto
    has no RADIUS calls)."""
    ds = client("ds")
    stubber = Stubber(ds)
    description = {"DirectoryId": DIRECTORY_ID, "Name": "corp.example.com", "Type": "MicrosoftAD", "Stage": "Active"}
    radius = {"RadiusServers": servers, "RadiusPort": 1812, "RadiusTimeout": 30, "RadiusRetries": 2,
              "AuthenticationProtocol": "PAP", "DisplayLabel": "duomfa", "UseSameUsername": True}
    stubber.add_response("describe_directories", {"DirectoryDescriptions": [description]})
    stubber.add_response("enable_radius", {})
    for status in ("Creating", "Completed"):
        stubber.add_response("describe_directories", {"DirectoryDescriptions": [
            {**description, "RadiusStatus": status, "RadiusSettings": radius}]})
    settings = directory.UpdaterSettings(directory_id=DIRECTORY_ID, secret_arn=secret_arn,
                                         address_parameter=ADDRESSES, state_parameter=STATE, topic_arn=topic_arn,
                                         deadline_seconds=600, secret_settle_seconds=0)
    clock = FakeClock()
    with stubber:
        directory.run(ds=ds, ssm=client("ssm"), secretsmanager=client("secretsmanager"), sns=client("sns"),
                      settings=settings, clock=clock, sleep=clock.sleep)
    stubber.assert_no_pending_responses()


def test_the_rotation_query_finds_what_each_function_did_for_that_version(aws, monkeypatch):
    lines = one_rotation(monkeypatch)
    (query,) = [query for query in QUERIES if query.reads == CONTROL_PLANE]
    found = check(query.question, lines, query.text.replace(VERSION_PLACEHOLDER, TOKEN))
    events = {line[logline.EVENT] for line in found}
    assert {logline.ROTATION, logline.DIRECTORY_UPDATER, logline.ADDRESS_TRACKER} <= events
    steps = {line.get(logline.STEP) for line in found if line[logline.EVENT] == logline.ROTATION}
    assert {"createSecret", "setSecret", "testSecret", "finishSecret"} <= steps
    assert any("EnableRadius" in line.get(logline.DID, "") for line in found)
    # before the placeholder is replaced the query finds nothing: it cannot be run by mistake over every rotation
    assert found_by(query.text, lines) == []
