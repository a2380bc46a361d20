"""Rotation of the RADIUS shared secret: the four steps in moto, the Status-Server probe against a real proxy on
127.0.0.1, and the handler end to end."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import socket
import string
import time

import pytest
from botocore.stub import Stubber
from control_aws import (
    CLUSTER,
    DOCUMENT,
    SERVICE,
    EcsWorld,
    FakeClock,
    begin_rotation,
    client,
    enable_rotation,
    make_secret,
    push_image,
    stages,
    value,
)

from duomfa.control import rotation
from duomfa.control.rotation import (
    EXCLUDE_CHARACTERS,
    ProxiesDidNotAnswer,
    RotationError,
    RotationSettings,
    check_version,
    create_secret,
    finish_secret,
    probe_status_server,
    rotate,
    set_secret,
    verify_secret,
)
from support import ProxyProcess, free_port

TOKEN = "11111111-2222-3333-4444-555555555555"
SETTINGS = RotationSettings(cluster=CLUSTER, service=SERVICE, radius_port=1812, updater_function="duomfa-updater",
                            deadline_seconds=60)




@pytest.fixture
def secret(aws):
    arn = make_secret()
    enable_rotation(arn)
    begin_rotation(arn, TOKEN)
    return arn


@pytest.fixture
def world(aws):
    return EcsWorld()


def sm():
    return client("secretsmanager")


# --- the stage checks ------------------------------------------------------------------------------------------

def test_every_step_refuses_a_secret_whose_rotation_is_off(aws):
    arn = make_secret()
    begin_rotation(arn, TOKEN)
    with pytest.raises(RotationError, match="not enabled"):
        check_version(sm(), arn, TOKEN, "createSecret")


def test_an_unknown_token_is_refused(secret):
    with pytest.raises(RotationError, match="has no stage"):
        check_version(sm(), secret, "99999999-2222-3333-4444-555555555555", "setSecret")


def test_a_token_that_is_not_pending_is_refused(secret):
    previous_current = next(v for v, s in stages(secret).items() if "AWSCURRENT" in s)
    sm().update_secret_version_stage(SecretId=secret, VersionStage="AWSPENDING", RemoveFromVersionId=TOKEN)
    sm().update_secret_version_stage(SecretId=secret, VersionStage="AWSPREVIOUS", MoveToVersionId=TOKEN)
    assert previous_current != TOKEN
    with pytest.raises(RotationError, match="not AWSPENDING"):
        check_version(sm(), secret, TOKEN, "testSecret")


def test_steps_for_a_token_already_current_do_nothing(secret, world, capsys):
    create_secret(sm(), secret, TOKEN)
    finish_secret(sm(), secret, TOKEN, lambda version: None)
    before = stages(secret)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        outcome = rotate({"Step": step, "SecretId": secret, "ClientRequestToken": TOKEN}, secretsmanager=sm(),
                         ecs=client("ecs"), ecr=client("ecr"), settings=SETTINGS,
                         start_updater=lambda version: pytest.fail("updater started again"))
        assert outcome == "nothing"
    assert stages(secret) == before
    assert '"found":"version is already AWSCURRENT","did":"nothing"' in capsys.readouterr().out


# --- createSecret ---------------------------------------------------------------------------------------------

def test_create_secret_stores_a_directory_compatible_secret_and_keeps_the_rest_of_the_json(secret):
    assert create_secret(sm(), secret, TOKEN) == "created"
    pending = value(secret, VersionId=TOKEN, VersionStage="AWSPENDING")
    shared = pending.pop("radius_secret")
    assert pending == {k: v for k, v in DOCUMENT.items() if k != "radius_secret"}  # Duo keys and clients carried
    assert len(shared) == 32 and shared != DOCUMENT["radius_secret"]
    assert re.fullmatch(r"[A-Za-z0-9" + re.escape(string.punctuation) + "]+", shared)  # DS SharedSecret regex
    assert not set(shared) & set(EXCLUDE_CHARACTERS)
    assert value(secret, VersionStage="AWSCURRENT") == DOCUMENT  # nothing promoted yet


def test_create_secret_again_keeps_the_same_pending_value(secret, capsys):
    create_secret(sm(), secret, TOKEN)
    first = value(secret, VersionId=TOKEN, VersionStage="AWSPENDING")
    assert create_secret(sm(), secret, TOKEN) == "kept"
    assert value(secret, VersionId=TOKEN, VersionStage="AWSPENDING") == first
    out = capsys.readouterr().out
    assert first["radius_secret"] not in out  # never logged
    assert '"did":"kept it"' in out


def test_generated_secrets_exclude_the_troublesome_characters_over_many_draws(aws):
    drawn = "".join(rotation.new_shared_secret(sm()) for _ in range(60))
    assert not set(drawn) & set(EXCLUDE_CHARACTERS)
    assert set(drawn) & set(string.punctuation)  # punctuation is still used


def test_create_secret_refuses_a_current_secret_that_is_not_json(aws):
    arn = client("secretsmanager").create_secret(Name="plain", SecretString="not json")["ARN"]
    enable_rotation(arn)
    begin_rotation(arn, TOKEN)
    with pytest.raises(RotationError, match="not a JSON object"):
        create_secret(sm(), arn, TOKEN)


def test_create_secret_refuses_while_the_directory_has_not_caught_up_with_the_current_secret(secret):
    client("ssm").put_parameter(Name="/duomfa/state", Type="String", Value=json.dumps(
        {"servers": ["10.0.1.10"], "port": 1812, "secret_version": "an-older-version", "applied_at": 1}))
    with pytest.raises(RotationError, match="still uses secret version an-older-version"):
        create_secret(sm(), secret, TOKEN, ssm=client("ssm"), state_parameter="/duomfa/state")
    with pytest.raises(sm().exceptions.ResourceNotFoundException):  # nothing stored
        sm().get_secret_value(SecretId=secret, VersionId=TOKEN, VersionStage="AWSPENDING")


@pytest.mark.parametrize("state", ["none", "CURRENT"])
def test_create_secret_goes_ahead_when_the_directory_uses_the_current_secret_or_nothing_yet(secret, state):
    current = next(v for v, s in stages(secret).items() if "AWSCURRENT" in s)
    value_text = "none" if state == "none" else json.dumps({"secret_version": current, "servers": [], "port": 1812})
    client("ssm").put_parameter(Name="/duomfa/state", Type="String", Value=value_text)
    assert create_secret(sm(), secret, TOKEN, ssm=client("ssm"), state_parameter="/duomfa/state") == "created"


# --- setSecret ------------------------------------------------------------------------------------------------

def test_set_secret_forces_no_deployment_when_the_tasks_run_the_newest_image(world, capsys):
    digest = push_image("v1")
    world.run(2, digest=digest)
    world.set_rollout("COMPLETED")
    before = world.deployment_id()
    assert set_secret(client("ecs"), client("ecr"), CLUSTER, SERVICE) == "no_new_image"
    assert world.deployment_id() == before
    assert "the proxies read the pending secret themselves" in capsys.readouterr().out


def test_set_secret_forces_exactly_one_deployment_when_a_newer_image_waits(world):
    old = push_image("v1")
    world.run(2, digest=old)
    world.set_rollout("COMPLETED")
    assert push_image("v2") != old
    before = world.deployment_id()
    assert set_secret(client("ecs"), client("ecr"), CLUSTER, SERVICE) == "forced"
    forced = world.deployment_id()
    assert forced != before
    # AWS now reports the new deployment IN_PROGRESS (moto does not move it); a retried setSecret must not force again
    world.set_rollout("IN_PROGRESS")
    assert set_secret(client("ecs"), client("ecr"), CLUSTER, SERVICE) == "deployment_in_progress"
    assert world.deployment_id() == forced


def test_set_secret_leaves_a_deployment_in_progress_alone(world):
    world.run(1, digest=push_image("v1"))
    push_image("v2")
    world.set_rollout("IN_PROGRESS")
    before = world.deployment_id()
    assert set_secret(client("ecs"), client("ecr"), CLUSTER, SERVICE) == "deployment_in_progress"
    assert world.deployment_id() == before


def test_set_secret_ignores_tasks_of_other_services_and_tasks_not_yet_running(world):
    digest = push_image("v1")
    world.run(1, digest=digest)
    world.service("other")
    world.run(1, service="other", digest="sha256:" + "1" * 64)
    world.run(1, last_status="PENDING", digest="sha256:" + "2" * 64)
    world.set_rollout("COMPLETED")
    assert set_secret(client("ecs"), client("ecr"), CLUSTER, SERVICE) == "no_new_image"


def test_set_secret_does_not_fail_the_rotation_when_ecr_cannot_be_read(world):
    world.run(1)  # no repository in ECR at all
    world.set_rollout("COMPLETED")
    assert set_secret(client("ecs"), client("ecr"), CLUSTER, SERVICE) == "unknown"


# --- testSecret: the logic with a fake probe -------------------------------------------------------------------

def test_verify_secret_probes_every_healthy_running_task_with_the_pending_secret(secret, world):
    create_secret(sm(), secret, TOKEN)
    pending = value(secret, VersionId=TOKEN, VersionStage="AWSPENDING")["radius_secret"].encode()
    healthy = sorted(address for _, address in world.run(3))
    world.run(1, health="UNHEALTHY")
    world.run(1, last_status="PENDING")
    probed = []

    def probe(address, port, shared_secret):
        probed.append((address, port, shared_secret))
        return shared_secret == pending

    clock = FakeClock()
    answered = verify_secret(sm(), client("ecs"), secret, TOKEN, cluster=CLUSTER, service=SERVICE, port=1812,
                             probe=probe, clock=clock, sleep=clock.sleep)
    assert answered == sorted(healthy, key=lambda a: tuple(map(int, a.split("."))))
    assert sorted(p[0] for p in probed) == sorted(healthy) and {p[1] for p in probed} == {1812}
    assert clock.sleeps == []


def test_verify_secret_waits_for_a_proxy_that_has_not_read_the_pending_secret_yet(secret, world):
    create_secret(sm(), secret, TOKEN)
    (_, late), (_, early) = world.run(2)
    rounds = {"late": 0}

    def probe(address, port, shared_secret):
        if address == late:
            rounds["late"] += 1
            return rounds["late"] >= 3  # re-reads its secret only on its next refresh
        return True

    clock = FakeClock()
    verify_secret(sm(), client("ecs"), secret, TOKEN, cluster=CLUSTER, service=SERVICE, port=1812, probe=probe,
                  clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [5.0, 5.0]


def test_verify_secret_fails_at_the_deadline_naming_the_silent_proxy(secret, world, capsys):
    create_secret(sm(), secret, TOKEN)
    (_, silent), (_, fine) = world.run(2)
    clock = FakeClock()
    with pytest.raises(ProxiesDidNotAnswer, match=re.escape(silent)):
        verify_secret(sm(), client("ecs"), secret, TOKEN, cluster=CLUSTER, service=SERVICE, port=1812,
                      probe=lambda address, port, shared: address != silent, deadline_seconds=30,
                      clock=clock, sleep=clock.sleep)
    assert 30 <= clock.now - 1000 <= 35
    assert '"did":"failed the rotation; nothing promoted"' in capsys.readouterr().out
    assert "AWSCURRENT" not in stages(secret)[TOKEN]


def test_verify_secret_fails_when_no_proxy_is_running(secret, world):
    create_secret(sm(), secret, TOKEN)
    world.run(1, health="UNKNOWN")
    clock = FakeClock()
    with pytest.raises(ProxiesDidNotAnswer, match="no running, healthy proxy"):
        verify_secret(sm(), client("ecs"), secret, TOKEN, cluster=CLUSTER, service=SERVICE, port=1812,
                      probe=lambda *args: True, deadline_seconds=20, clock=clock, sleep=clock.sleep)


# --- testSecret: real UDP against a proxy on 127.0.0.1 ---------------------------------------------------------

@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """`duomfa proxy` with a file secrets source holding AWSCURRENT and AWSPENDING, refreshed every second, and this
    machine as a Status-Server-only client."""
    directory = tmp_path_factory.mktemp("proxy")
    secrets_file = directory / "secrets.json"
    secrets_file.write_text(json.dumps({"AWSCURRENT": {**DOCUMENT, "api_host": "127.0.0.1:9"},
                                        "AWSPENDING": {"radius_secret": "pending-secret-0123456789"}}))
    config = directory / "proxy.cfg"
    config.write_text("\n".join([
        "[radius_server_duo_only]", f"secrets_source = file:{secrets_file}", "secrets_refresh_seconds = 1",
        "status_server_clients = 127.0.0.1",  # as deployed: the rotation Lambda may probe, never log anyone in
        "interface = 127.0.0.1", f"port = {free_port(socket.SOCK_DGRAM)}",
        "http_interface = 127.0.0.1", f"http_port = {free_port()}", "",
    ]))
    process = ProxyProcess(config).start()
    process.secrets_file = secrets_file
    yield process
    process.stop()


quick_probe = functools.partial(probe_status_server, timeout=0.3, attempts=2)


def test_the_probe_gets_an_accept_for_the_pending_and_the_current_secret(proxy):
    assert probe_status_server("127.0.0.1", proxy.port, b"pending-secret-0123456789")
    assert probe_status_server("127.0.0.1", proxy.port, DOCUMENT["radius_secret"].encode())


def test_the_probe_gets_nothing_for_a_secret_the_proxy_does_not_hold(proxy):
    started = time.monotonic()
    assert not quick_probe("127.0.0.1", proxy.port, b"some-other-secret")
    assert time.monotonic() - started < 2


def test_the_probe_gets_nothing_where_no_proxy_listens():
    assert not quick_probe("127.0.0.1", free_port(socket.SOCK_DGRAM), b"pending-secret-0123456789")


def redirect_to(port, probe=quick_probe):
    """moto's task addresses are not reachable: send each probe to the local proxy instead."""
    def redirected(address, _port, shared_secret):
        return probe("127.0.0.1", port, shared_secret)
    return redirected


def test_verify_secret_passes_against_a_real_proxy_holding_the_pending_secret(secret, world, proxy):
    pending = value(secret, VersionStage="AWSCURRENT") | {"radius_secret": "pending-secret-0123456789"}
    sm().put_secret_value(SecretId=secret, ClientRequestToken=TOKEN, SecretString=json.dumps(pending),
                          VersionStages=["AWSPENDING"])
    world.run(2)
    clock = FakeClock()
    verify_secret(sm(), client("ecs"), secret, TOKEN, cluster=CLUSTER, service=SERVICE, port=1812,
                  probe=redirect_to(proxy.port), clock=clock, sleep=clock.sleep)


def test_verify_secret_fails_against_a_real_proxy_without_the_pending_secret(secret, world, proxy):
    create_secret(sm(), secret, TOKEN)  # a fresh random secret the proxy's file does not hold
    world.run(1)
    clock = FakeClock()
    with pytest.raises(ProxiesDidNotAnswer):
        verify_secret(sm(), client("ecs"), secret, TOKEN, cluster=CLUSTER, service=SERVICE, port=1812,
                      probe=redirect_to(proxy.port), deadline_seconds=5, clock=clock, sleep=clock.sleep)


# --- finishSecret ---------------------------------------------------------------------------------------------

def test_finish_secret_promotes_removes_pending_and_starts_the_updater_once(secret):
    old_current = next(v for v, s in stages(secret).items() if "AWSCURRENT" in s)
    create_secret(sm(), secret, TOKEN)
    started = []
    assert finish_secret(sm(), secret, TOKEN, started.append) == "finished"
    assert stages(secret)[TOKEN] == ["AWSCURRENT"]
    assert stages(secret)[old_current] == ["AWSPREVIOUS"]
    assert started == [TOKEN]
    # the retry Secrets Manager may send: the stage check finds the token current and does nothing
    assert rotate({"Step": "finishSecret", "SecretId": secret, "ClientRequestToken": TOKEN}, secretsmanager=sm(),
                  ecs=None, ecr=None, settings=SETTINGS, start_updater=started.append) == "nothing"
    assert started == [TOKEN]
    # and the next rotation is accepted (moto refuses one while AWSPENDING sits on AWSCURRENT)
    sm().rotate_secret(SecretId=secret, RotationRules={"AutomaticallyAfterDays": 7})


def test_a_finish_interrupted_after_the_promotion_is_completed_by_the_retry(secret):
    create_secret(sm(), secret, TOKEN)
    old_current = next(v for v, s in stages(secret).items() if "AWSCURRENT" in s)
    sm().update_secret_version_stage(SecretId=secret, VersionStage="AWSCURRENT", MoveToVersionId=TOKEN,
                                     RemoveFromVersionId=old_current)  # then the Lambda died
    assert sorted(stages(secret)[TOKEN]) == ["AWSCURRENT", "AWSPENDING"]
    started = []
    assert rotate({"Step": "finishSecret", "SecretId": secret, "ClientRequestToken": TOKEN}, secretsmanager=sm(),
                  ecs=None, ecr=None, settings=SETTINGS, start_updater=started.append) == "finished"
    assert stages(secret)[TOKEN] == ["AWSCURRENT"] and started == [TOKEN]


def test_a_failing_updater_start_leaves_pending_so_the_retry_starts_it_again(secret):
    create_secret(sm(), secret, TOKEN)

    def broken(version):
        raise RuntimeError("lambda:Invoke throttled")

    with pytest.raises(RuntimeError):
        finish_secret(sm(), secret, TOKEN, broken)
    started = []
    finish_secret(sm(), secret, TOKEN, started.append)
    assert started == [TOKEN] and stages(secret)[TOKEN] == ["AWSCURRENT"]


def test_the_updater_is_invoked_asynchronously_by_name():
    lambda_client = client("lambda")
    stubber = Stubber(lambda_client)
    payload = {"source": "duomfa.rotation", "reason": "finishSecret", "secret_version": TOKEN}
    stubber.add_response("invoke", {"StatusCode": 202}, {
        "FunctionName": "duomfa-updater", "InvocationType": "Event", "Payload": json.dumps(payload).encode()})
    with stubber:
        rotation.updater_starter(lambda_client, "duomfa-updater")(TOKEN)
    stubber.assert_no_pending_responses()


# --- the handler, all four steps ------------------------------------------------------------------------------

class Context:
    def get_remaining_time_in_millis(self):
        return 300_000


def test_the_handler_runs_a_whole_rotation_that_the_proxies_follow(secret, world, proxy, monkeypatch):
    for name, setting in {"CLUSTER": CLUSTER, "SERVICE": SERVICE, "RADIUS_PORT": "1812",
                          "UPDATER_FUNCTION": "duomfa-updater", "DEADLINE_SECONDS": "60",
                          "STATE_PARAMETER": "/duomfa/state"}.items():
        monkeypatch.setenv(name, setting)
    current = next(v for v, s in stages(secret).items() if "AWSCURRENT" in s)
    client("ssm").put_parameter(Name="/duomfa/state", Type="String", Value=json.dumps(
        {"servers": ["10.0.1.10"], "port": 1812, "secret_version": current, "applied_at": 1}))
    world.run(2, digest=push_image("v1"))
    world.set_rollout("COMPLETED")
    deployment = world.deployment_id()
    lambda_client = client("lambda")
    stubber = Stubber(lambda_client)
    stubber.add_response("invoke", {"StatusCode": 202})

    def clients(service):
        return lambda_client if service == "lambda" else client(service)

    def event(step):
        return {"Step": step, "SecretId": secret, "ClientRequestToken": TOKEN}

    original = proxy.secrets_file.read_text()
    with stubber:
        rotation.handler(event("createSecret"), Context(), client=clients)
        rotation.handler(event("setSecret"), Context(), client=clients)
        assert world.deployment_id() == deployment  # no new image: no deployment
        # the proxy reads every stage of its source again: give it what Secrets Manager now holds
        pending = value(secret, VersionId=TOKEN, VersionStage="AWSPENDING")
        proxy.secrets_file.write_text(json.dumps({"AWSCURRENT": {**DOCUMENT, "api_host": "127.0.0.1:9"},
                                                  "AWSPENDING": pending}))
        deadline = time.monotonic() + 5
        while not quick_probe("127.0.0.1", proxy.port, pending["radius_secret"].encode()):
            assert time.monotonic() < deadline, "the proxy did not pick the pending secret up"
        monkeypatch.setattr(rotation, "probe_status_server", redirect_to(proxy.port))
        rotation.handler(event("testSecret"), Context(), client=clients)
        rotation.handler(event("finishSecret"), Context(), client=clients)
    proxy.secrets_file.write_text(original)
    stubber.assert_no_pending_responses()
    assert stages(secret)[TOKEN] == ["AWSCURRENT"]
    assert value(secret, VersionStage="AWSCURRENT") == pending
    assert pending["radius_secret"] not in "".join(proxy.output)


def test_settings_come_from_the_environment_and_are_checked():
    settings = RotationSettings.from_environ({"CLUSTER": "c", "SERVICE": "s", "UPDATER_FUNCTION": "u"})
    assert settings == RotationSettings("c", "s", 1812, "u", 600)
    with pytest.raises(ValueError, match="RADIUS_PORT"):
        RotationSettings.from_environ({"CLUSTER": "c", "SERVICE": "s", "UPDATER_FUNCTION": "u", "RADIUS_PORT": "80"})
    with pytest.raises(ValueError, match="UPDATER_FUNCTION"):
        RotationSettings.from_environ({"CLUSTER": "c", "SERVICE": "s"})


def test_the_rotations_outcome_is_a_metric_once_per_rotation(monkeypatch):
    import io

    from duomfa.control.runtime import set_log_stream

    stream = io.StringIO()
    set_log_stream(stream)
    try:
        settings = RotationSettings("c", "s", 1812, "u", 600, metrics_namespace="DuoMfa/test")
        for step, outcome in (("createSecret", "created"), ("testSecret", "tested"), ("finishSecret", "nothing")):
            rotation.publish_outcome(settings, step, outcome)  # nothing to say yet, or nothing done
        rotation.publish_outcome(settings, "finishSecret", "finished")
        rotation.publish_outcome(settings, "testSecret", None)
        rotation.publish_outcome(dataclasses.replace(settings, metrics_namespace=""), "testSecret", None)
    finally:
        set_log_stream(None)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["step"], line["RotationSucceeded"], line["RotationFailed"]) for line in lines] == [
        ("finishSecret", 1.0, 0.0), ("testSecret", 0.0, 1.0)]
    for line in lines:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "DuoMfa/test" and directive["Dimensions"] == [[]]
        assert {m["Name"] for m in directive["Metrics"]} == {"RotationSucceeded", "RotationFailed"}


def test_a_failing_step_publishes_the_failure_and_still_fails(monkeypatch):
    for name, setting in {"CLUSTER": "c", "SERVICE": "s", "UPDATER_FUNCTION": "u",
                          "METRICS_NAMESPACE": "DuoMfa/test"}.items():
        monkeypatch.setenv(name, setting)
    published = []
    monkeypatch.setattr(rotation, "publish_outcome", lambda settings, step, outcome: published.append((step, outcome)))

    def broken(event, **kwargs):
        raise RuntimeError("Secrets Manager said no")

    monkeypatch.setattr(rotation, "rotate", broken)
    with pytest.raises(RuntimeError, match="said no"):
        rotation.handler({"Step": "testSecret", "SecretId": "arn", "ClientRequestToken": "t"}, Context(),
                         client=lambda service: None)
    assert published == [("testSecret", None)]
