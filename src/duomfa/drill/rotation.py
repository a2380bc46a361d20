"""`duomfa drill rotation`: rotate the RADIUS shared secret on this machine while a Directory Service-like client logs
users in through two proxies, and count what they see — with our order (`ours`) or the original's (`seed`), time
compressed (docs/design.md, "The rotation drill")."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from duomfa.drill.directory_client import DirectoryRadiusClient, steady_logins
from duomfa.drill.local_aws import LocalDirectory, LocalService, begin_rotation, enable_rotation
from duomfa.drill.proxies import ProxyProcess, ProxyStartFailed, free_udp_port, write_proxy_config
from duomfa.drill.rig import CLIENT_ADDRESS, DUO_USER, EXEMPT_USER, DrillError, Timeline, drill_rig
from duomfa.secret_document import RADIUS_SECRET, RETIRED_TAG, parse_retired

PROXY_ADDRESSES = ["127.0.0.2", "127.0.0.3"]  # two "tasks": the whole 127/8 is loopback on Linux
LOGIN_RATE = 200.0  # logins started per second
DIRECTORY_ID = "d-0123456789"
DIRECTORY_TIMEOUT, DIRECTORY_RETRIES = 1.0, 2  # Directory Service's RadiusTimeout and RadiusRetries, compressed
APPLY_SECONDS = 2.0
# a slow directory: it keeps showing its old Completed while it takes longer than the settle time to use a new
# secret, so only the grace period stands between it and the retirement of the secret it still signs with
SLOW_APPLY_SECONDS = 7.0
SCHEDULE_SECONDS = 2.0  # the updater's 5-minute schedule
SECRET_SETTLE_SECONDS = 4  # the updater believes a secret-only update after this (180 s on AWS)
RETIRE_GRACE_SECONDS = 3
SEED_LAG_SECONDS = 5.0


async def run_rotation_drill(auths: int, order: str, workdir: Path, progress: TextIO,
                             control_log: TextIO | None = None, directory: str = "normal") -> dict[str, Any]:
    if order not in ("ours", "seed"):
        raise DrillError("--order is ours or seed")
    if directory not in ("normal", "slow"):
        raise DrillError("--directory is normal or slow")
    old_secret_refused: bool | None = None
    timeline = Timeline(progress)
    say = timeline.say
    proxies: list[ProxyProcess] = []
    async with drill_rig(workdir) as rig:
        try:
            initial = secrets.token_urlsafe(24)
            document = rig.secret_document(initial)
            try:
                port = free_udp_port(PROXY_ADDRESSES)
            except OSError as exc:
                raise DrillError(str(exc)) from None
            if order == "ours":
                arn = rig.aws("secretsmanager").create_secret(Name="duomfa/drill",
                                                              SecretString=json.dumps(document))["ARN"]
                enable_rotation(arn)
                source = f"aws-secretsmanager:{arn}"
            else:
                secret_file = workdir / "secret.json"
                secret_file.write_text(json.dumps(document))
                source = f"file:{secret_file}"
            env = rig.proxy_env(with_aws=order == "ours")
            for index, address in enumerate(PROXY_ADDRESSES):
                config = write_proxy_config(workdir / f"proxy{index}.cfg", address=address, port=port,
                                            secrets_source=source, ca_cert=rig.ca_cert,
                                            radius_client=CLIENT_ADDRESS, exempt_user=EXEMPT_USER)
                proxies.append(ProxyProcess(config, env))
            try:
                await asyncio.gather(*(proxy.start() for proxy in proxies))
            except ProxyStartFailed as exc:
                raise DrillError(str(exc)) from None
            say(f"2 proxies on {', '.join(PROXY_ADDRESSES)} UDP {port}; MFA service on {rig.api_host}; order {order}")

            client = DirectoryRadiusClient([(a, port) for a in PROXY_ADDRESSES], initial.encode(),
                                           timeout=DIRECTORY_TIMEOUT, retries=DIRECTORY_RETRIES)
            users = [(EXEMPT_USER, "push")] * 9 + [(DUO_USER, "push")]
            stop = asyncio.Event()
            load = asyncio.create_task(steady_logins(client, users, LOGIN_RATE, stop))
            loop = asyncio.get_running_loop()
            await asyncio.sleep(2.0)
            if order == "ours":
                await _rotate_ours(rig.aws, arn, client, loop, port, say, control_log, directory == "slow")
            else:
                await _rotate_seed(secret_file, document, client, say)
            # keep logging in: past the retirement of the old secret, and until enough logins were made
            minimum_end = time.monotonic() + 3.0
            while time.monotonic() < minimum_end or client.counts.sent < auths:
                await asyncio.sleep(0.1)
            stop.set()
            counts = await load
            say(f"done: {counts.sent} logins")
            if order == "ours":  # the previous secret is retired: a request signed with it gets no answer
                stale = DirectoryRadiusClient([(a, port) for a in PROXY_ADDRESSES], initial.encode(),
                                              timeout=DIRECTORY_TIMEOUT, retries=len(PROXY_ADDRESSES) - 1)
                old_secret_refused = await stale.login(EXEMPT_USER, "push") == "timed_out"
                say(f"the previous secret is {'refused' if old_secret_refused else 'STILL ACCEPTED'} by the proxies")
        finally:
            await asyncio.gather(*(proxy.stop(stop_timeout=10) for proxy in proxies))
    return {"order": order, "directory": directory, "old_secret_refused": old_secret_refused,
            "sent": counts.sent, "accepted": counts.accepted, "rejected": counts.rejected,
            "timed_out": counts.timed_out, "duration_s": round(time.monotonic() - timeline.started, 2),
            "resends": counts.resends, "reject_reasons": counts.reject_reasons, "timeline": timeline.as_json()}


async def _rotate_ours(aws: Any, arn: str, client: DirectoryRadiusClient, loop: asyncio.AbstractEventLoop,
                       port: int, say: Any, control_log: TextIO | None, slow_directory: bool) -> None:
    from duomfa.control import directory as updater
    from duomfa.control import rotation
    from duomfa.control.addresses import TrackerSettings, track_addresses
    from duomfa.control.runtime import set_log_stream

    # the control plane's JSON log lines go where --verbose says; stdout is for the drill's result
    set_log_stream(control_log or open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    ssm, sns, secretsmanager = aws("ssm"), aws("sns"), aws("secretsmanager")
    ssm.put_parameter(Name="/duomfa/drill/addresses", Value="none", Type="String")
    ssm.put_parameter(Name="/duomfa/drill/directory-state", Value="none", Type="String")
    topic = sns.create_topic(Name="duomfa-drill")["TopicArn"]
    service = LocalService("duomfa-drill", "proxy", PROXY_ADDRESSES)

    def applied(settings: dict[str, Any]) -> None:
        secret = settings["SharedSecret"].encode()
        loop.call_soon_threadsafe(client.set_secret, secret)
        loop.call_soon_threadsafe(say, f"directory applied {settings['RadiusServers']}: its client now signs with "
                                       "the secret the updater gave it")

    directory = LocalDirectory(DIRECTORY_ID, SLOW_APPLY_SECONDS if slow_directory else APPLY_SECONDS, applied,
                               shows_secret_updates=not slow_directory)
    settings = updater.UpdaterSettings(
        directory_id=DIRECTORY_ID, secret_arn=arn, address_parameter="/duomfa/drill/addresses",
        state_parameter="/duomfa/drill/directory-state", topic_arn=topic, port=port, timeout=int(DIRECTORY_TIMEOUT),
        retries=DIRECTORY_RETRIES, retire_grace_seconds=RETIRE_GRACE_SECONDS, deadline_seconds=60,
        secret_settle_seconds=SECRET_SETTLE_SECONDS)
    def quick_sleep(seconds: float) -> None:  # the control plane's waits, shortened for a drill
        time.sleep(min(seconds, 0.25))

    event = {"detail-type": "ECS Service Action", "detail": {"eventName": "SERVICE_STEADY_STATE"},
             "resources": [service.arn]}
    tracker = TrackerSettings(cluster=service.cluster, service=service.arn, secret_arn=arn,
                              parameter="/duomfa/drill/addresses", port=port)
    await asyncio.to_thread(track_addresses, event, ecs=service, ssm=ssm, secretsmanager=secretsmanager,
                            settings=tracker)
    await asyncio.to_thread(updater.run, ds=directory, ssm=ssm, secretsmanager=secretsmanager, sns=sns,
                            settings=settings, sleep=quick_sleep)
    say(f"directory state in sync ({', '.join(directory.calls)}); rotating now")

    token = str(uuid.uuid4())
    begin_rotation(arn, token)
    config = rotation.RotationSettings(cluster=service.cluster, service=service.arn, radius_port=port,
                                       updater_function="duomfa-drill-updater", deadline_seconds=60,
                                       state_parameter="/duomfa/drill/directory-state")
    updater_runs: list[concurrent.futures.Future[Any]] = []

    def start_updater(version: str) -> None:  # finishSecret's asynchronous Lambda invoke
        updater_runs.append(asyncio.run_coroutine_threadsafe(asyncio.to_thread(
            updater.run, ds=directory, ssm=ssm, secretsmanager=secretsmanager, sns=sns, settings=settings,
            sleep=quick_sleep), loop))

    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        outcome = await asyncio.to_thread(
            rotation.rotate, {"Step": step, "SecretId": arn, "ClientRequestToken": token},
            secretsmanager=secretsmanager, ecs=service, ecr=None, settings=config, start_updater=start_updater,
            ssm=ssm, sleep=quick_sleep)
        say(f"{step}: {outcome}")
    for run in updater_runs:
        say(f"directory updater: {await asyncio.wrap_future(run)}")
    # the schedule's runs confirm the new secret once the directory shows Completed after the settle time, and
    # only then set the retirement tag; the proxies drop the previous secret at the time it names
    deadline = time.monotonic() + 60
    retired: tuple[str, float] | None = None
    while retired is None:
        if time.monotonic() > deadline:
            raise DrillError("the directory updater did not retire the previous secret within 60 s")
        await asyncio.sleep(SCHEDULE_SECONDS)
        outcome = await asyncio.to_thread(updater.run, ds=directory, ssm=ssm, secretsmanager=secretsmanager,
                                          sns=sns, settings=settings, sleep=quick_sleep)
        say(f"directory updater (schedule): {outcome}")
        tags = {t["Key"]: t["Value"] for t in secretsmanager.describe_secret(SecretId=arn).get("Tags", [])}
        retired = parse_retired(tags.get(RETIRED_TAG))
    await asyncio.sleep(max(0.0, retired[1] - time.time()) + 2.0)  # the proxies re-read the secret every second
    say("previous secret retired at the proxies")


async def _rotate_seed(secret_file: Path, document: dict[str, Any], client: DirectoryRadiusClient, say: Any) -> None:
    new = secrets.token_urlsafe(24)
    secret_file.write_text(json.dumps({**document, RADIUS_SECRET: new}))
    say("the original's order: proxies replaced, holding only the new secret")
    await asyncio.sleep(SEED_LAG_SECONDS)
    client.set_secret(new.encode())
    say(f"{SEED_LAG_SECONDS:g} s later the directory is given the new secret")


def drill_rotation(auths: int, order: str, progress: TextIO, control_log: TextIO | None = None,
                   directory: str = "normal") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="duomfa-drill-") as workdir:
        return asyncio.run(run_rotation_drill(auths, order, Path(workdir), progress, control_log, directory))
