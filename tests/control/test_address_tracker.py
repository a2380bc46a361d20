"""The address tracker in moto: our service's steady-state, deployment-completed and task state change events, the
schedule and a run by hand write the healthy running tasks' addresses (a task ECS is stopping is left out, one whose
health check has not passed yet is waited for); anything else, and an empty list, leaves the parameter alone."""

from __future__ import annotations

import ipaddress
import json

import pytest
from control_aws import CLUSTER, REGION, SERVICE, EcsWorld, FakeClock, client, make_secret, stages
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

from duomfa.control import addresses
from duomfa.control.addresses import TrackerSettings, healthy_addresses, track_addresses

PARAMETER = "/duomfa/proxy-addresses"


@pytest.fixture
def world(aws):
    world = EcsWorld()
    world.secret_arn = make_secret()
    client("ssm").put_parameter(Name=PARAMETER, Value="default", Type="String")  # the stack's seed
    return world


def settings(world, service=SERVICE, health_wait_seconds=0.0):
    return TrackerSettings(cluster=CLUSTER, service=service, secret_arn=world.secret_arn, parameter=PARAMETER,
                           port=1812, health_wait_seconds=health_wait_seconds)


def steady_state(service_arn):
    return {"source": "aws.ecs", "detail-type": "ECS Service Action", "resources": [service_arn],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE",
                       "clusterArn": f"arn:aws:ecs:{REGION}:123456789012:cluster/{CLUSTER}"}}


def deployment_completed(service_arn):
    return {"source": "aws.ecs", "detail-type": "ECS Deployment State Change", "resources": [service_arn],
            "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED",
                       "deploymentId": "ecs-svc/1234567890", "reason": "ECS deployment ecs-svc/1234567890 completed."}}


def task_state_change(task_arn, last_status="RUNNING", desired_status="RUNNING", service=SERVICE, cluster=CLUSTER):
    return {"source": "aws.ecs", "detail-type": "ECS Task State Change", "resources": [task_arn],
            "detail": {"clusterArn": f"arn:aws:ecs:{REGION}:123456789012:cluster/{cluster}", "taskArn": task_arn,
                       "group": f"service:{service}", "lastStatus": last_status, "desiredStatus": desired_status}}


def scheduled():
    return {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {},
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/duomfa-tracker-schedule"]}


def track(world, event, clock=None, **overrides):
    clock = clock or FakeClock()
    return track_addresses(event, ecs=client("ecs"), ssm=client("ssm"), secretsmanager=client("secretsmanager"),
                           settings=settings(world, **overrides), clock=clock, sleep=clock.sleep)


def task_model(task_arn):
    return ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[CLUSTER][task_arn]


def stopping(task_arn):
    """What ECS does first when it stops a task: desiredStatus STOPPED; lastStatus stays RUNNING while it drains."""
    task_model(task_arn).desired_status = "STOPPED"


def parameter():
    answer = client("ssm").get_parameter(Name=PARAMETER)["Parameter"]
    return answer["Value"], answer["Version"]


def current_version(secret_arn):
    return next(version for version, labels in stages(secret_arn).items() if "AWSCURRENT" in labels)


def test_steady_state_writes_the_sorted_addresses_of_healthy_running_tasks_only(world, capsys):
    healthy = [address for _, address in world.run(3)]
    world.run(1, health="UNHEALTHY")
    world.run(1, health="UNKNOWN")  # no container health check yet
    world.run(1, last_status="PENDING")  # list_tasks' desiredStatus=RUNNING includes it
    world.service("other")
    world.run(1, service="other")  # moto's list_tasks ignores serviceName: the group keeps it out
    assert track(world, steady_state(world.service_arn)) == "written"
    written = json.loads(parameter()[0])
    assert written == {"addresses": sorted(healthy, key=ipaddress.ip_address), "port": 1812,
                       "secret_version": current_version(world.secret_arn)}
    line = json.loads([x for x in capsys.readouterr().out.splitlines() if '"wrote the parameter"' in x][0])
    assert line["event"] == "address_tracker" and line["left_out"] == {"not_healthy": 2, "no_address": 0}


def test_deployment_completed_writes_too(world):
    world.run(2)
    assert track(world, deployment_completed(world.service_arn)) == "written"
    assert len(json.loads(parameter()[0])["addresses"]) == 2


def test_a_repeated_event_changes_nothing(world):
    world.run(2)
    track(world, steady_state(world.service_arn))
    written, version = parameter()
    assert track(world, steady_state(world.service_arn)) == "unchanged"
    assert track(world, deployment_completed(world.service_arn)) == "unchanged"
    assert parameter() == (written, version)  # no write, so no Parameter Store event, so no directory update


def test_the_comparison_is_on_the_json_not_the_text(world):
    (_, address), = world.run(1)
    same = {"secret_version": current_version(world.secret_arn), "port": 1812, "addresses": [address]}
    client("ssm").put_parameter(Name=PARAMETER, Value=json.dumps(same, indent=2), Type="String", Overwrite=True)
    version = parameter()[1]
    assert track(world, steady_state(world.service_arn)) == "unchanged"
    assert parameter()[1] == version


def test_new_tasks_or_a_new_secret_version_rewrite_the_parameter(world):
    world.run(1)
    track(world, steady_state(world.service_arn))
    world.run(1)
    assert track(world, steady_state(world.service_arn)) == "written"
    assert len(json.loads(parameter()[0])["addresses"]) == 2
    client("secretsmanager").put_secret_value(SecretId=world.secret_arn, SecretString='{"radius_secret": "x" }')
    assert track(world, steady_state(world.service_arn)) == "written"
    assert json.loads(parameter()[0])["secret_version"] == current_version(world.secret_arn)


def test_events_of_other_services_are_ignored(world, capsys):
    world.run(2)
    other = world.service("other")
    assert track(world, steady_state(other)) == "ignored"
    assert track(world, deployment_completed(other)) == "ignored"
    assert parameter()[0] == "default"
    assert '"did":"ignored: not an event of our service, nor the schedule"' in capsys.readouterr().out


@pytest.mark.parametrize("detail_type, event_name", [
    ("ECS Service Action", "SERVICE_TASK_START_IMPAIRED"),
    ("ECS Service Action", "SERVICE_DEPLOYMENT_IN_PROGRESS"),
    ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_IN_PROGRESS"),
    ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_FAILED"),
    ("ECS Task State Change", None),  # without group and cluster: not one of our tasks
])
def test_other_events_of_our_service_are_ignored(world, detail_type, event_name):
    world.run(1)
    event = {"detail-type": detail_type, "resources": [world.service_arn], "detail": {"eventName": event_name}}
    assert track(world, event) == "ignored"
    assert parameter()[0] == "default"


def test_no_healthy_task_never_writes_an_empty_list(world, capsys):
    world.run(1, health="UNHEALTHY")
    world.run(1, last_status="PENDING")
    assert track(world, steady_state(world.service_arn)) == "empty"
    assert parameter()[0] == "default"
    assert '"level":"WARNING"' in capsys.readouterr().out


def test_no_task_at_all_does_not_call_describe_tasks_with_an_empty_list(world):
    assert track(world, steady_state(world.service_arn)) == "empty"  # describe_tasks([]) would raise
    assert parameter()[0] == "default"


def test_a_missing_parameter_is_created(world):
    client("ssm").delete_parameter(Name=PARAMETER)
    world.run(1)
    assert track(world, steady_state(world.service_arn)) == "written"


def test_the_service_may_be_given_by_arn_or_by_name(world):
    world.run(1)
    assert track(world, steady_state(world.service_arn), service=world.service_arn) == "written"
    assert addresses.service_arn(client("ecs"), CLUSTER, SERVICE) == world.service_arn
    assert addresses.service_name(world.service_arn) == SERVICE
    assert addresses.service_name(f"arn:aws:ecs:{REGION}:123456789012:service/{SERVICE}") == SERVICE  # old format


class DescribeSpy:
    """The ECS client, recording how many tasks each describe_tasks call asks for (AWS allows 100)."""

    def __init__(self, ecs):
        self.ecs, self.sizes = ecs, []

    def describe_tasks(self, **kwargs):
        self.sizes.append(len(kwargs["tasks"]))
        return self.ecs.describe_tasks(**kwargs)

    def __getattr__(self, name):
        return getattr(self.ecs, name)


def test_more_than_a_hundred_tasks_are_described_in_chunks(world):
    for _ in range(11):
        world.run(10)
    spy = DescribeSpy(client("ecs"))
    found, left_out = healthy_addresses(spy, CLUSTER, SERVICE)
    assert len(found) == 110 and left_out == {"not_healthy": 0, "no_address": 0}
    assert spy.sizes == [100, 10]


def test_the_handler_reads_its_settings_from_the_environment(world, monkeypatch):
    for name, setting in {"CLUSTER": CLUSTER, "SERVICE": SERVICE, "SECRET_ARN": world.secret_arn,
                          "ADDRESS_PARAMETER": PARAMETER, "RADIUS_PORT": "1645"}.items():
        monkeypatch.setenv(name, setting)
    world.run(1)
    assert addresses.handler(steady_state(world.service_arn), None) == "written"
    assert json.loads(parameter()[0])["port"] == 1645
    monkeypatch.setenv("RADIUS_PORT", "80")  # Directory Service takes 1025–65535
    with pytest.raises(ValueError, match="RADIUS_PORT"):
        addresses.handler(steady_state(world.service_arn), None)


def test_a_task_state_change_of_our_service_reads_ecs_and_writes(world):
    (task, address), = world.run(1)
    assert track(world, task_state_change(task)) == "written"
    assert json.loads(parameter()[0])["addresses"] == [address]


def test_the_event_is_only_a_hint_the_run_reads_ecs(world):
    (old, old_address), = world.run(1)
    track(world, steady_state(world.service_arn))
    (new, new_address), = world.run(1)
    stopping(old)
    # an event about the old task (even one claiming it runs) leads to what ECS says now: only the new task
    assert track(world, task_state_change(old, desired_status="RUNNING")) == "written"
    assert json.loads(parameter()[0])["addresses"] == [new_address]


@pytest.mark.parametrize("change", [
    {"service": "other"},  # another service's task
    {"cluster": "elsewhere"},  # a same-named service in another cluster
])
def test_task_state_changes_of_other_services_are_ignored(world, change):
    (task, _), = world.run(1)
    assert track(world, task_state_change(task, **change)) == "ignored"
    assert parameter()[0] == "default"


def test_during_a_deployment_old_and_new_healthy_tasks_are_listed_together(world):
    old = world.run(2)
    track(world, steady_state(world.service_arn))
    new = world.run(2)
    assert track(world, task_state_change(new[0][0])) == "written"
    listed = json.loads(parameter()[0])["addresses"]
    assert sorted(listed) == sorted(address for _, address in old + new)


def test_a_task_ecs_is_stopping_leaves_the_list_while_it_still_runs(world):
    (old, old_address), (kept, kept_address) = world.run(2)
    track(world, steady_state(world.service_arn))
    stopping(old)
    assert task_model(old).last_status == "RUNNING"
    assert track(world, task_state_change(old, desired_status="STOPPED")) == "written"
    assert json.loads(parameter()[0])["addresses"] == [kept_address]


def test_when_every_healthy_task_is_stopping_the_parameter_is_kept(world, capsys):
    tasks = world.run(2)
    track(world, steady_state(world.service_arn))
    written = parameter()
    for task, _ in tasks:
        stopping(task)
    assert track(world, task_state_change(tasks[0][0], desired_status="STOPPED")) == "empty"
    assert parameter() == written
    assert '"kept the parameter: an empty list would point the directory at nothing"' in capsys.readouterr().out


def test_a_new_task_is_waited_for_until_its_health_check_passes(world):
    (old, old_address), = world.run(1)
    track(world, steady_state(world.service_arn))
    (new, new_address), = world.run(1, health="UNKNOWN")

    class HealthCheckPassesLater(FakeClock):  # ECS sends no event when it passes: the run must look again
        def sleep(self, seconds):
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                task_model(new).health_status = "HEALTHY"

    clock = HealthCheckPassesLater()
    assert track(world, task_state_change(new), clock=clock, health_wait_seconds=60) == "written"
    assert json.loads(parameter()[0])["addresses"] == sorted([old_address, new_address], key=ipaddress.ip_address)
    assert clock.sleeps == [addresses.HEALTH_POLL_SECONDS] * 3


def test_the_wait_for_a_health_check_is_bounded(world):
    (_, address), = world.run(1)
    world.run(1, health="UNKNOWN")  # never turns healthy
    clock = FakeClock()
    assert track(world, steady_state(world.service_arn), clock=clock, health_wait_seconds=30) == "written"
    assert json.loads(parameter()[0])["addresses"] == [address]
    assert sum(clock.sleeps) <= 30 and len(clock.sleeps) == 6


def test_an_unhealthy_task_is_not_waited_for(world):
    world.run(1)
    world.run(1, health="UNHEALTHY")
    clock = FakeClock()
    assert track(world, steady_state(world.service_arn), clock=clock, health_wait_seconds=60) == "written"
    assert clock.sleeps == []


def test_the_schedule_does_the_same_work_and_writes_only_changes(world):
    world.run(2)
    assert track(world, scheduled()) == "written"
    written = parameter()
    assert track(world, scheduled()) == "unchanged"
    assert parameter() == written


def test_a_run_by_hand_does_the_same_work(world):
    world.run(1)
    assert track(world, {}) == "written"


def test_the_handler_waits_no_longer_than_lambda_allows(world, monkeypatch):
    for name, setting in {"CLUSTER": CLUSTER, "SERVICE": SERVICE, "SECRET_ARN": world.secret_arn,
                          "ADDRESS_PARAMETER": PARAMETER, "HEALTH_WAIT_SECONDS": "300"}.items():
        monkeypatch.setenv(name, setting)
    seen = {}

    def track_spy(event, **kwargs):
        seen.update(kwargs["settings"].__dict__)
        return "unchanged"

    class Context:
        def get_remaining_time_in_millis(self):
            return 90_000

    monkeypatch.setattr(addresses, "track_addresses", track_spy)
    addresses.handler(scheduled(), Context())
    assert seen["health_wait_seconds"] == 60  # 90 s left, less the margin for the last log line
    monkeypatch.setenv("HEALTH_WAIT_SECONDS", "900")
    with pytest.raises(ValueError, match="HEALTH_WAIT_SECONDS"):
        addresses.handler(scheduled(), Context())
