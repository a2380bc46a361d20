"""`duomfa drill rotation`: rotate the RADIUS shared secret on this machine while a Directory Service-like client logs
users in through two proxies, and count what they see — with our order (`ours`) or the original's (`seed`), time
compressed (docs/design.md, "The rotation drill")."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from duomfa.drill.directory_client import DirectoryRadiusClient, steady_logins
from duomfa.drill.local_aws import REGION, LocalDirectory, LocalService, begin_rotation, enable_rotation
from duomfa.secret_document import API_HOST, IKEY, RADIUS_SECRET, SKEY

PROXY_ADDRESSES = ["127.0.0.2", "127.0.0.3"]  # two "tasks": the whole 127/8 is loopback on Linux
CLIENT_ADDRESS = "127.0.0.1"  # the "domain controller"
LOGIN_RATE = 200.0  # logins started per second
EXEMPT_USER, DUO_USER = "drill-exempt", "drill-bypass"
DIRECTORY_ID = "d-0123456789"
DIRECTORY_TIMEOUT, DIRECTORY_RETRIES = 1.0, 2  # Directory Service's RadiusTimeout and RadiusRetries, compressed
APPLY_SECONDS = 2.0
RETIRE_GRACE_SECONDS = 3
SEED_LAG_SECONDS = 5.0



def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)

class DrillError(Exception):
    """The drill could not be set up or run (not: logins failed — that is its result)."""


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def mark(self, what: str) -> None:
        self.events.append((round(time.monotonic() - self.started, 2), what))


def _free_udp_port(addresses: list[str]) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                    other.bind((address, port))
            return port
        except OSError:
            continue
    raise DrillError("no UDP port free on both proxy addresses")


class _Proxy:
    def __init__(self, config: Path, env: dict[str, str]):
        self.config, self.env = config, env
        self.output: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "duomfa", "proxy", "-c", str(self.config)],
                                        env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        loop = asyncio.get_running_loop()
        listening = loop.create_future()

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                if '"event":"listening"' in line and not listening.done():
                    loop.call_soon_threadsafe(_settle, listening, True)
            loop.call_soon_threadsafe(_settle, listening, False)

        loop.run_in_executor(None, read)
        if not await asyncio.wait_for(listening, 30):
            raise DrillError("a proxy did not start:\n" + "".join(self.output[-20:]))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)


def _proxy_config(path: Path, *, address: str, port: int, source: str, ca_cert: Path) -> Path:
    path.write_text("\n".join([
        "[radius_server_duo_only]",
        f"secrets_source = {source}",
        "secrets_refresh_seconds = 1",
        f"radius_clients = {CLIENT_ADDRESS}",
        "status_server_clients = 127.0.0.0/8",
        f"interface = {address}",
        f"port = {port}",
        "http_port = 0",
        f"ca_certs = {ca_cert}",
        f"exempt_username_1 = {EXEMPT_USER}",
        "failmode = secure",
        "max_pushes_per_user_per_minute = 1000",
        "",
    ]))
    return path


async def run_rotation_drill(auths: int, order: str, workdir: Path, progress: TextIO,
                             control_log: TextIO | None = None) -> dict[str, Any]:
    if order not in ("ours", "seed"):
        raise DrillError("--order is ours or seed")
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise DrillError(f"the drill needs moto's server and boto3 ({exc.name} is missing): "
                         "pip install 'duomfa[drill]'") from None
    import logging

    from duomfa.mfaservice.admin import Admin
    from duomfa.mfaservice.server import start_service

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    timeline = Timeline()

    def say(what: str) -> None:
        timeline.mark(what)
        print(f"[{timeline.events[-1][0]:6.2f}s] {what}", file=progress, flush=True)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        moto_port = sock.getsockname()[1]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    aws_env = {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "drill",
               "AWS_SECRET_ACCESS_KEY": "drill"}

    def aws(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="drill",
                            aws_secret_access_key="drill")

    mfa = await start_service(workdir / "mfa", "127.0.0.1", 0)
    proxies: list[_Proxy] = []
    try:
        admin = Admin(workdir / "mfa")
        app = admin.add_app("drill")
        admin.add_user(DUO_USER, totp=True, push=False, phone=None)
        admin.set_status(DUO_USER, "bypass")  # through Duo's preauth, answered allow
        admin.close()
        api_host = mfa.api_host
        initial = secrets.token_urlsafe(24)
        document = {IKEY: app["ikey"], SKEY: app["skey"], API_HOST: api_host, RADIUS_SECRET: initial}
        port = _free_udp_port(PROXY_ADDRESSES)
        if order == "ours":
            secretsmanager = aws("secretsmanager")
            arn = secretsmanager.create_secret(Name="duomfa/drill", SecretString=json.dumps(document))["ARN"]
            enable_rotation(arn)
            source = f"aws-secretsmanager:{arn}"
        else:
            secret_file = workdir / "secret.json"
            secret_file.write_text(json.dumps(document))
            source = f"file:{secret_file}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DUOMFA_", "AWS_"))}
        env.update(aws_env, PYTHONUNBUFFERED="1")
        for index, address in enumerate(PROXY_ADDRESSES):
            config = _proxy_config(workdir / f"proxy{index}.cfg", address=address, port=port, source=source,
                                   ca_cert=mfa.data_dir.ca_cert)
            proxies.append(_Proxy(config, env))
        await asyncio.gather(*(proxy.start() for proxy in proxies))
        say(f"2 proxies on {', '.join(PROXY_ADDRESSES)} UDP {port}; MFA service on {api_host}; order {order}")

        client = DirectoryRadiusClient([(a, port) for a in PROXY_ADDRESSES], initial.encode(),
                                       timeout=DIRECTORY_TIMEOUT, retries=DIRECTORY_RETRIES)
        users = [(EXEMPT_USER, "push")] * 9 + [(DUO_USER, "push")]
        stop = asyncio.Event()
        load = asyncio.create_task(steady_logins(client, users, LOGIN_RATE, stop))
        loop = asyncio.get_running_loop()
        await asyncio.sleep(2.0)
        if order == "ours":
            await _rotate_ours(aws, arn, client, loop, port, say, control_log)
        else:
            await _rotate_seed(secret_file, document, client, say)
        # keep logging in: past the retirement of the old secret, and until enough logins were made
        minimum_end = time.monotonic() + 3.0
        while time.monotonic() < minimum_end or client.counts.sent < auths:
            await asyncio.sleep(0.1)
        stop.set()
        counts = await load
        say(f"done: {counts.sent} logins")
    finally:
        for proxy in proxies:
            proxy.stop()
        await mfa.close()
        moto.stop()
    return {"order": order, "sent": counts.sent, "accepted": counts.accepted, "rejected": counts.rejected,
            "timed_out": counts.timed_out, "duration_s": round(time.monotonic() - timeline.started, 2),
            "resends": counts.resends, "reject_reasons": counts.reject_reasons,
            "timeline": [{"t": t, "event": what} for t, what in timeline.events]}


async def _rotate_ours(aws: Any, arn: str, client: DirectoryRadiusClient, loop: asyncio.AbstractEventLoop,
                       port: int, say: Any, control_log: TextIO | None) -> None:
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

    directory = LocalDirectory(DIRECTORY_ID, APPLY_SECONDS, applied)
    settings = updater.UpdaterSettings(
        directory_id=DIRECTORY_ID, secret_arn=arn, address_parameter="/duomfa/drill/addresses",
        state_parameter="/duomfa/drill/directory-state", topic_arn=topic, port=port, timeout=int(DIRECTORY_TIMEOUT),
        retries=DIRECTORY_RETRIES, retire_grace_seconds=RETIRE_GRACE_SECONDS, deadline_seconds=60)
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
    await asyncio.sleep(RETIRE_GRACE_SECONDS + 2.5)  # the proxies drop the previous secret after the grace period
    say("previous secret retired at the proxies")


async def _rotate_seed(secret_file: Path, document: dict[str, Any], client: DirectoryRadiusClient, say: Any) -> None:
    new = secrets.token_urlsafe(24)
    secret_file.write_text(json.dumps({**document, RADIUS_SECRET: new}))
    say("the original's order: proxies replaced, holding only the new secret")
    await asyncio.sleep(SEED_LAG_SECONDS)
    client.set_secret(new.encode())
    say(f"{SEED_LAG_SECONDS:g} s later the directory is given the new secret")


def drill_rotation(auths: int, order: str, progress: TextIO, control_log: TextIO | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="duomfa-drill-") as workdir:
        return asyncio.run(run_rotation_drill(auths, order, Path(workdir), progress, control_log))
