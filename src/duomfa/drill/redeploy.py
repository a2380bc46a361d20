"""`duomfa drill redeploy`: a rolling deployment of the proxies on this machine while a Directory Service-like client
logs users in — the proxies replaced one by one the way ECS replaces tasks, the address tracker and the directory
updater running for real against the drill's stand-ins, the directory listing either the proxies' own addresses
(`addresses`) or an internal Network Load Balancer's (`nlb`), and the tracker following task state changes
(`ours`) or rewriting the addresses only after the deployment completed (`seed`, the original's order). Time is
compressed about thirty-fold (docs/redeploy.md)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from duomfa.drill.directory_client import DirectoryRadiusClient, steady_logins
from duomfa.drill.load_balancer import LocalNetworkLoadBalancer, TargetGroupAttributes
from duomfa.drill.local_aws import LocalDirectory, LocalService, LocalTask
from duomfa.drill.proxies import ProxyProcess, ProxyStartFailed, free_udp_port, write_proxy_config
from duomfa.drill.rig import CLIENT_ADDRESS, DUO_USER, EXEMPT_USER, DrillError, Timeline, drill_rig

LAYOUTS, ORDERS = ("nlb", "addresses"), ("ours", "seed")
OLD_ADDRESSES = ["127.0.0.2", "127.0.0.3"]  # the tasks before the deployment
NEW_ADDRESSES = ["127.0.0.4", "127.0.0.5"]  # their replacements (in a VPC they would sort anywhere)
LOAD_BALANCER_ADDRESS = "127.0.0.10"  # the listener the directory lists in the nlb layout
LOGIN_RATE = 200.0  # logins started per second
DIRECTORY_ID = "d-0123456789"
ADDRESS_PARAMETER, STATE_PARAMETER = "/duomfa/drill/addresses", "/duomfa/drill/directory-state"

# AWS's times, compressed about thirty-fold: the directory's 30 s RadiusTimeout is 1 s here
RADIUS_TIMEOUT, RADIUS_RETRIES = 1.0, 2  # RadiusTimeout 30 s, RadiusRetries 2 (the stack's defaults)
APPLY_SECONDS = 2.0  # UpdateRadius until the directory uses the new servers: not published; about a minute
TASK_START_SECONDS = 1.0  # a Fargate task from PENDING to RUNNING (placement, image pull, start): ~30 s
HEALTH_CHECK_SECONDS = 1.0  # a new proxy's container health check passes: start period 30 s + interval 15 s
TARGET_HEALTHY_SECONDS = 0.7  # the target group's checks: 2 × 10 s
DEREGISTRATION_DELAY = 3.0  # deregistration_delay.timeout_seconds 90 (docs/redeploy.md)
FLOW_IDLE_SECONDS = 4.0  # the load balancer's UDP flow idle timeout, 120 s
STOP_TIMEOUT = 4.0  # the container's stopTimeout, 120 s
PUSH_WAIT_SECONDS = 5  # the proxy's shortest; it drains for push_wait + 5 s on SIGTERM
EVENT_DELIVERY_SECONDS = 0.1  # ECS → EventBridge → Lambda
TRACKER_POLL_SECONDS, TRACKER_HEALTH_WAIT = 0.2, 4.0  # the tracker's 5 s polls for a health verdict, for 120 s
CONTROL_SLEEP_CAP = 0.25  # the updater's 5–30 s polls of DescribeDirectories
SETTLE_SECONDS = 2.0  # logins go on this long after the directory settled
DEADLINE_SECONDS = 40.0  # the load stops by then whatever happened


class _ParameterStoreEvents:
    """The SSM client the tracker writes with: a write of the address parameter is a "Parameter Store Change"
    event, which starts the directory updater (moto's server emits no such events)."""

    def __init__(self, ssm: Any, on_change: Callable[[], None]):
        self.ssm, self.on_change = ssm, on_change

    def put_parameter(self, **kwargs: Any) -> Any:
        answer = self.ssm.put_parameter(**kwargs)
        if kwargs.get("Name") == ADDRESS_PARAMETER:
            self.on_change()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ssm, name)


class _ControlPlane:
    """EventBridge and Lambda, for the two functions: every routed event runs the tracker, and every write of the
    address parameter runs the updater, each in its own thread — no reserved concurrency, so runs overlap."""

    def __init__(self, *, order: str, service: LocalService, directory: LocalDirectory, aws: Callable[[str], Any],
                 tracker: Any, updater: Any, say: Callable[[str], None], loop: asyncio.AbstractEventLoop):
        from duomfa.control import addresses
        from duomfa.control import directory as directory_updater

        self._addresses, self._updater_module = addresses, directory_updater
        self.order, self.service, self.directory = order, service, directory
        self.ssm, self.sns, self.secretsmanager = aws("ssm"), aws("sns"), aws("secretsmanager")
        self.tracker_settings, self.updater_settings = tracker, updater
        self.say, self.loop = say, loop
        self.tracker_outcomes: Counter[str] = Counter()
        self.updater_outcomes: list[str] = []
        self._lambdas = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda")
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False

    # --- EventBridge -------------------------------------------------------------------------------------------

    def routes(self, event: dict[str, Any]) -> bool:
        """Which events reach the tracker: ours, every ECS event of the service; the original's, only the end of a
        deployment."""
        if self.order == "ours":
            return True
        return (event.get("detail-type"), event["detail"].get("eventName")) == (
            "ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED")

    def event(self, event: dict[str, Any]) -> None:
        if self.routes(event):
            with self._lock:
                self._busy += 1
            self.loop.call_later(EVENT_DELIVERY_SECONDS, self._invoke, self.run_tracker, event)

    def _invoke(self, function: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._closed:  # the drill is over: the event is dropped
                self._busy -= 1
                return
        self._lambdas.submit(function, *args)

    # --- the functions -----------------------------------------------------------------------------------------

    def run_tracker(self, event: dict[str, Any]) -> str:
        try:
            outcome = self._addresses.track_addresses(
                event, ecs=self.service, ssm=_ParameterStoreEvents(self.ssm, self.parameter_changed),
                secretsmanager=self.secretsmanager, settings=self.tracker_settings)
        except Exception as exc:  # a failed invocation: Lambda would record it; the drill reports it
            outcome = f"failed: {type(exc).__name__}: {exc}"
        with self._lock:
            self.tracker_outcomes[outcome] += 1
            self._busy -= 1
        return outcome

    def parameter_changed(self) -> None:
        """A "Parameter Store Change" event: one more updater run, whether or not one is going on (no reserved
        concurrency on either function)."""
        with self._lock:
            self._busy += 1
        self._invoke(self._updater_run)

    def run_updater(self) -> str:
        def quick_sleep(seconds: float) -> None:
            time.sleep(min(seconds, CONTROL_SLEEP_CAP))

        try:
            return str(self._updater_module.run(ds=self.directory, ssm=self.ssm, secretsmanager=self.secretsmanager,
                                                sns=self.sns, settings=self.updater_settings, sleep=quick_sleep))
        except Exception as exc:
            return f"failed: {type(exc).__name__}: {exc}"

    def _updater_run(self) -> None:
        outcome = self.run_updater()
        self.loop.call_soon_threadsafe(self.say, f"directory updater: {outcome}")
        with self._lock:
            self.updater_outcomes.append(outcome)
            self._busy -= 1

    def idle(self) -> bool:
        with self._lock:
            return self._busy == 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._lambdas.shutdown(wait=True, cancel_futures=True)


async def _wait_until(condition: Callable[[], bool], deadline: float, step: float = 0.05) -> bool:
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


async def _roll(service: LocalService, start_proxy: Callable[[str], Any], proxies: dict[str, ProxyProcess],
                balancer: LocalNetworkLoadBalancer | None, control: _ControlPlane, say: Callable[[str], None],
                batch: int = 1) -> None:
    """ECS's rolling update (minimum healthy 100 %), `batch` tasks at a time — one by one as the drill runs it;
    maximum 200 % replaces two tasks at once: new tasks are started and must be healthy (and, behind the load
    balancer, healthy targets) before old ones are stopped; an old one behind the load balancer is deregistered
    and stopped only after the deregistration delay; stopping is SIGTERM, then SIGKILL after the stop timeout."""
    loop = asyncio.get_running_loop()

    async def stop(old: LocalTask) -> None:
        service.update(old, desired_status="STOPPED")
        service.update(old, last_status="DEACTIVATING")
        if balancer is not None:
            await balancer.deregister_and_wait(old.address)
            say(f"{old.address}: deregistration delay over, target unused"
                f"{' and its flows cut' if balancer.attributes.connection_termination else ''}")
        service.update(old, last_status="STOPPING")
        how = await proxies[old.address].stop(STOP_TIMEOUT)
        service.update(old, last_status="STOPPED")
        say(f"{old.address} got SIGTERM and {how}")

    pairs = list(zip(list(service.tasks), NEW_ADDRESSES, strict=True))
    for first in range(0, len(pairs), batch):
        group = pairs[first:first + batch]
        new_tasks = [service.start_task(address) for _, address in group]
        await asyncio.sleep(TASK_START_SECONDS)
        started = await asyncio.gather(*(start_proxy(task.address) for task in new_tasks))
        for task, proxy in zip(new_tasks, started, strict=True):
            proxies[task.address] = proxy
            service.update(task, last_status="RUNNING")
            if balancer is not None:
                balancer.register(task.address)
                loop.call_later(TARGET_HEALTHY_SECONDS, balancer.mark_healthy, task.address)
        await asyncio.sleep(HEALTH_CHECK_SECONDS)
        for task in new_tasks:
            service.update(task, health_status="HEALTHY")  # ECS sends no event for this
            if balancer is not None:
                await _wait_until(functools.partial(balancer.is_healthy, task.address), time.monotonic() + 30)
        say(f"new task(s) {', '.join(t.address for t in new_tasks)} running and healthy; ECS stops "
            f"{', '.join(old.address for old, _ in group)}")
        await asyncio.gather(*(stop(old) for old, _ in group))
    await asyncio.sleep(EVENT_DELIVERY_SECONDS)
    say("deployment completed")
    control.event(service.service_event("ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED"))
    control.event(service.service_event("ECS Service Action", "SERVICE_STEADY_STATE"))


async def run_redeploy_drill(auths: int, layout: str, order: str, workdir: Path, progress: TextIO,
                             control_log: TextIO | None = None, *, apply_seconds: float = APPLY_SECONDS,
                             batch: int = 1) -> dict[str, Any]:
    """The drill; `apply_seconds` (how long the directory takes to apply an update) and `batch` (tasks replaced at
    once) are there to measure the addresses layout's failure window (docs/redeploy.md)."""
    if layout not in LAYOUTS:
        raise DrillError("--layout is nlb or addresses")
    if order not in ORDERS:
        raise DrillError("--order is ours or seed")
    from duomfa.control import directory as updater
    from duomfa.control.addresses import TrackerSettings, track_addresses
    from duomfa.control.runtime import set_log_stream

    # the control plane's JSON log lines go where --verbose says; stdout is for the drill's result
    set_log_stream(control_log or open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    timeline = Timeline(progress)
    say = timeline.say
    loop = asyncio.get_running_loop()
    async with drill_rig(workdir) as rig:
        proxies: dict[str, ProxyProcess] = {}
        balancer: LocalNetworkLoadBalancer | None = None
        control: _ControlPlane | None = None
        try:
            shared_secret = secrets.token_urlsafe(24)
            document = rig.secret_document(shared_secret)
            secret_arn = rig.aws("secretsmanager").create_secret(Name="duomfa/drill",
                                                                 SecretString=json.dumps(document))["ARN"]
            secret_file = workdir / "secret.json"  # the proxies read the same document from a file: less polling
            secret_file.write_text(json.dumps(document))
            try:
                port = free_udp_port(OLD_ADDRESSES + NEW_ADDRESSES + [LOAD_BALANCER_ADDRESS])
            except OSError as exc:
                raise DrillError(str(exc)) from None
            env = rig.proxy_env(with_aws=False)

            async def start_proxy(address: str) -> ProxyProcess:
                config = write_proxy_config(workdir / f"proxy-{address}.cfg", address=address, port=port,
                                            secrets_source=f"file:{secret_file}", ca_cert=rig.ca_cert,
                                            radius_client=CLIENT_ADDRESS, exempt_user=EXEMPT_USER,
                                            push_wait_seconds=PUSH_WAIT_SECONDS)
                proxy = ProxyProcess(config, env)
                try:
                    await proxy.start()
                except ProxyStartFailed as exc:
                    raise DrillError(str(exc)) from None
                return proxy

            for address, proxy in zip(OLD_ADDRESSES, await asyncio.gather(*(start_proxy(a) for a in OLD_ADDRESSES)),
                                      strict=True):
                proxies[address] = proxy
            if layout == "nlb":
                balancer = LocalNetworkLoadBalancer(
                    (LOAD_BALANCER_ADDRESS, port), port,
                    TargetGroupAttributes(deregistration_delay=DEREGISTRATION_DELAY, connection_termination=True,
                                          flow_idle_timeout=FLOW_IDLE_SECONDS),
                    one_flow_per_client_address=True)
                await balancer.start()
                for address in OLD_ADDRESSES:
                    balancer.register(address)
                    balancer.mark_healthy(address)
            say(f"2 proxies on {', '.join(OLD_ADDRESSES)} UDP {port}"
                f"{f' behind a load balancer on {LOAD_BALANCER_ADDRESS}' if balancer else ''}; layout {layout}, "
                f"order {order}")

            # --- the control plane, and the directory set up as a new stack's first runs leave it --------------------
            service = LocalService("duomfa-drill", "proxy", OLD_ADDRESSES)
            ssm, sns = rig.aws("ssm"), rig.aws("sns")
            ssm.put_parameter(Name=ADDRESS_PARAMETER, Value="none", Type="String")
            ssm.put_parameter(Name=STATE_PARAMETER, Value="none", Type="String")
            topic = sns.create_topic(Name="duomfa-drill")["TopicArn"]
            client: DirectoryRadiusClient | None = None

            def applied(settings: dict[str, Any]) -> None:  # the directory starts using new settings
                servers = [(server, int(settings["RadiusPort"])) for server in settings["RadiusServers"]]

                def use() -> None:
                    if client is not None:
                        client.set_servers(servers)
                    say(f"directory now sends to {', '.join(settings['RadiusServers'])}")

                loop.call_soon_threadsafe(use)

            directory = LocalDirectory(DIRECTORY_ID, apply_seconds, applied)
            tracker_settings = TrackerSettings(cluster=service.cluster, service=service.arn, secret_arn=secret_arn,
                                               parameter=ADDRESS_PARAMETER, port=port,
                                               health_wait_seconds=TRACKER_HEALTH_WAIT,
                                               health_poll_seconds=TRACKER_POLL_SECONDS)
            updater_settings = updater.UpdaterSettings(
                directory_id=DIRECTORY_ID, secret_arn=secret_arn, address_parameter=ADDRESS_PARAMETER,
                state_parameter=STATE_PARAMETER, topic_arn=topic, port=port, timeout=int(RADIUS_TIMEOUT),
                retries=RADIUS_RETRIES, deadline_seconds=60,
                nlb_addresses=(LOAD_BALANCER_ADDRESS,) if balancer is not None else ())
            control = _ControlPlane(order=order, service=service, directory=directory, aws=rig.aws,
                                    tracker=tracker_settings, updater=updater_settings, say=say, loop=loop)
            schedule = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
            await asyncio.to_thread(track_addresses, schedule, ecs=service, ssm=ssm,
                                    secretsmanager=rig.aws("secretsmanager"), settings=tracker_settings)
            first = await asyncio.to_thread(control.run_updater)
            if not first.startswith("EnableRadius"):
                raise DrillError(f"the directory could not be set up: {first}")
            client = DirectoryRadiusClient([(s, port) for s in directory.settings["RadiusServers"]],
                                           shared_secret.encode(), timeout=RADIUS_TIMEOUT, retries=RADIUS_RETRIES,
                                           refused_is_silence=True)
            say(f"directory set up ({first}): it sends to {', '.join(directory.settings['RadiusServers'])}")
            service.on_event = control.event

            # --- the deployment, under load -------------------------------------------------------------------------
            users = [(EXEMPT_USER, "push")] * 9 + [(DUO_USER, "push")]
            stop = asyncio.Event()
            load = asyncio.create_task(steady_logins(client, users, LOGIN_RATE, stop))
            deadline = time.monotonic() + DEADLINE_SECONDS
            await asyncio.sleep(1.0)
            say("rolling deployment starts")
            await _roll(service, start_proxy, proxies, balancer, control, say, batch)
            wanted = sorted(NEW_ADDRESSES) if balancer is None else [LOAD_BALANCER_ADDRESS]
            settled = await _wait_until(lambda: control.idle() and directory.status == "Completed"
                                        and sorted(directory.settings.get("RadiusServers") or []) == wanted, deadline)
            say("directory settled on " + ", ".join(wanted) if settled
                else "directory did not settle before the deadline")
            end = time.monotonic() + SETTLE_SECONDS
            await _wait_until(lambda: time.monotonic() >= end and client.counts.sent >= auths, deadline, step=0.1)
            stop.set()
            counts = await load
            say(f"done: {counts.sent} logins")
        finally:
            for proxy in proxies.values():
                proxy.kill()
            if balancer is not None:
                balancer.close()
            if control is not None:
                await asyncio.to_thread(control.close)
    result: dict[str, Any] = {
        "layout": layout, "order": order, "sent": counts.sent, "accepted": counts.accepted,
        "rejected": counts.rejected, "timed_out": counts.timed_out,
        "duration_s": round(time.monotonic() - timeline.started, 2),
        "resends": counts.resends, "reject_reasons": counts.reject_reasons, "directory_calls": directory.calls,
        "tracker_runs": dict(control.tracker_outcomes), "updater_runs": control.updater_outcomes,
        "timeline": timeline.as_json(),
    }
    if balancer is not None:
        result["load_balancer"] = vars(balancer.counts)
    return result


def drill_redeploy(auths: int, layout: str, order: str, progress: TextIO,
                   control_log: TextIO | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="duomfa-drill-") as workdir:
        return asyncio.run(run_redeploy_drill(auths, layout, order, Path(workdir), progress, control_log))

