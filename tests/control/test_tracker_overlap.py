"""Address tracker runs that overlap (no reserved concurrency): whatever order their reads and writes land in, the
parameter ends with what ECS says now — an older reading written late is put right by the run that wrote it."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from control_aws import CLUSTER, REGION, SERVICE, EcsWorld, FakeClock, client, make_secret
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

from duomfa.control.addresses import TrackerSettings, sight, track_addresses

PARAMETER = "/duomfa/proxy-addresses"


@pytest.fixture
def world(aws):
    world = EcsWorld()
    world.secret_arn = make_secret()
    client("ssm").put_parameter(Name=PARAMETER, Value="default", Type="String")
    return world


def settings(world):
    return TrackerSettings(cluster=CLUSTER, service=SERVICE, secret_arn=world.secret_arn, parameter=PARAMETER,
                           port=1812, health_wait_seconds=0)


def task_event(task_arn):
    return {"source": "aws.ecs", "detail-type": "ECS Task State Change", "resources": [task_arn],
            "detail": {"clusterArn": f"arn:aws:ecs:{REGION}:123456789012:cluster/{CLUSTER}", "taskArn": task_arn,
                       "group": f"service:{SERVICE}", "lastStatus": "RUNNING", "desiredStatus": "RUNNING"}}


def stop(task_arn):
    ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[CLUSTER][task_arn].desired_status = "STOPPED"


def listed():
    return json.loads(client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"])["addresses"]


def history():
    versions = client("ssm").get_parameter_history(Name=PARAMETER)["Parameters"]
    return [json.loads(v["Value"])["addresses"] for v in versions if v["Value"] != "default"]


def live():
    return list(sight(client("ecs"), CLUSTER, SERVICE).addresses)


class HeldBeforeWriting:
    """The SSM client of one run, stopped just before its write until the test lets it go."""

    def __init__(self, ssm):
        self.ssm, self.waiting, self.go = ssm, threading.Event(), threading.Event()

    def put_parameter(self, **kwargs):
        if not self.go.is_set():
            self.waiting.set()
            assert self.go.wait(30)
        return self.ssm.put_parameter(**kwargs)

    def __getattr__(self, name):
        return getattr(self.ssm, name)


def test_an_older_reading_written_after_a_newer_one_is_put_right_by_its_own_run(world):
    (old, _), (kept, _) = world.run(2)
    (new, _), = world.run(1)  # a deployment's new task is healthy: old, kept and new are all listed
    held = HeldBeforeWriting(client("ssm"))
    results = {}

    def first_run():
        clock = FakeClock()
        results["first"] = track_addresses(task_event(new), ecs=client("ecs"), ssm=held,
                                           secretsmanager=client("secretsmanager"), settings=settings(world),
                                           clock=clock, sleep=clock.sleep)

    first = threading.Thread(target=first_run)
    first.start()
    assert held.waiting.wait(30)  # the first run has read ECS (three tasks) and is about to write
    stale = live()
    stop(old)  # ECS decides to stop the old task; its event starts a second run, which finishes first
    assert track_addresses(task_event(old), ecs=client("ecs"), ssm=client("ssm"),
                           secretsmanager=client("secretsmanager"), settings=settings(world)) == "written"
    current = live()
    assert listed() == current and len(current) == 2
    held.go.set()  # now the first run's older reading lands on top of the newer one
    first.join(30)
    assert results["first"] == "written"
    assert history() == [current, stale, current]  # the stale write happened, and its own run put it right
    assert listed() == live()


class Jittery:
    """An AWS client whose calls take a random few milliseconds, so that overlapping runs interleave differently."""

    def __init__(self, inner, rng, lock):
        self.inner, self.rng, self.lock = inner, rng, lock

    def __getattr__(self, name):
        attribute = getattr(self.inner, name)
        if not callable(attribute) or name.startswith("get_paginator") or name == "exceptions":
            return attribute

        def call(*args, **kwargs):
            with self.lock:
                delay = self.rng.random() * (0.2 if name == "put_parameter" else 0.01)
            time.sleep(delay)
            return attribute(*args, **kwargs)

        return call


@pytest.mark.parametrize("seed", range(6))
def test_many_overlapping_runs_during_a_rolling_deployment_end_with_the_current_addresses(world, seed):
    rng, lock = random.Random(seed), threading.Lock()
    old = [arn for arn, _ in world.run(3)]
    runs: list[threading.Thread] = []
    outcomes: list[str] = []

    def run(event):
        clock = FakeClock()
        outcomes.append(track_addresses(
            event, ecs=Jittery(client("ecs"), rng, lock), ssm=Jittery(client("ssm"), rng, lock),
            secretsmanager=client("secretsmanager"), settings=settings(world), clock=clock, sleep=clock.sleep))

    def event_for(arn):  # EventBridge invokes the tracker once per event, whether or not a run is going on
        thread = threading.Thread(target=run, args=(task_event(arn),))
        runs.append(thread)
        thread.start()

    for arn in old:  # replace the tasks one by one: a new one healthy, then an old one stopping
        (new, _), = world.run(1)
        event_for(new)
        time.sleep(0.02 + rng.random() * 0.06)
        stop(arn)
        event_for(arn)
        time.sleep(0.02 + rng.random() * 0.06)
    for thread in runs:
        thread.join(60)
    assert all(not thread.is_alive() for thread in runs)
    assert "unsettled" not in outcomes
    assert listed() == live() and len(live()) == 3
