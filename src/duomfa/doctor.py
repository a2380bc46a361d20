"""`duomfa doctor`: the "verify your deployment" step as a command, in the spirit of Duo's connectivity tool.

Every check is a small function returning a Check — ok, warn or fail, what was found, and what to do. Local checks
read the proxy's configuration and try the UDP port, the secrets source, Duo and (optionally) a running proxy. AWS
checks read one stack's outputs and ask ECS, Directory Service, Secrets Manager, SSM, CloudWatch and EC2, with
clients made once and passed in (tests pass moto or Stubber clients). No check prints a secret.
"""

from __future__ import annotations

import asyncio
import datetime
import errno
import hashlib
import ipaddress
import json
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from duomfa import radius
from duomfa.radius.exchange import status_server
from duomfa.radius_udp import exchange
from duomfa.config import ConfigError, ProxySettings, load_settings
from duomfa.duo import DuoApiError, DuoClient, DuoFault
from duomfa.proxy.secrets_source import (
    SecretsSourceError,
    SourceState,
    build_client_table,
    open_source,
)
from duomfa.proxy.server import (
    resolve_duo_keys as duo_keys,  # the proxy's own rule: the secret's keys win
)

OK, WARN, FAIL = "ok", "warn", "fail"
CLOCK_WARN_SECONDS = 60
CLOCK_FAIL_SECONDS = 300  # Duo rejects a signed request whose Date is more than 5 minutes off
DUO_TIMEOUT_SECONDS = 10.0
DIRECTORY_PORTS = range(1025, 65536)  # RadiusPort's range in Directory Service


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str  # what was found
    fix: str = ""  # what to do, when the status is not ok


# --- local: the configuration, the port, the secrets, Duo, a running proxy ---------------------------------------

def check_config(path: Path | None, environ: Mapping[str, str]) -> tuple[Check, ProxySettings | None]:
    where = str(path) if path is not None else "the DUOMFA_* environment variables"
    try:
        settings = load_settings(path, environ)
    except ConfigError as exc:
        return Check("config", FAIL, str(exc), "correct the setting named above; docs/proxy.md lists every key"), None
    kind = settings.secrets_source.kind
    detail = (f"{where} loads: UDP {settings.interface}:{settings.port}, {len(settings.clients)} RADIUS client "
              f"setting(s), failmode {settings.failmode}, secrets_source {kind}")
    if settings.notices:
        detail += f", {len(settings.notices)} option(s) without effect"
    return Check("config", OK, detail), settings


def _bind_once(interface: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:  # no SO_REUSEADDR: a running proxy must show as "in use"
        sock.bind((interface, port))


def check_port(settings: ProxySettings, bind: Callable[[str, int], None] = _bind_once) -> Check:
    where = f"UDP {settings.interface}:{settings.port}"
    try:
        bind(settings.interface, settings.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return Check("port", WARN, f"{where} is in use — is the proxy already running?",
                         "if it is, `--probe` checks that it answers; if not, stop what holds the port "
                         f"(`ss -ulpn 'sport = :{settings.port}'`) or choose another port")
        if exc.errno == errno.EACCES and settings.port < 1024:
            return Check("port", FAIL, f"{where}: permission denied (ports below 1024 need privileges)",
                         "use a port from 1025 (Directory Service takes 1025–65535; 1812 is RADIUS's own), or grant "
                         "the interpreter CAP_NET_BIND_SERVICE")
        if exc.errno == errno.EADDRNOTAVAIL:
            return Check("port", FAIL, f"{where}: {settings.interface} is not an address of this host",
                         "set interface to one of this host's addresses, or leave it out to listen on all")
        return Check("port", FAIL, f"{where} cannot be bound: {exc.strerror or exc}",
                     "check the interface and port settings")
    if settings.port not in DIRECTORY_PORTS:
        return Check("port", WARN, f"{where} can be bound, but Directory Service sends RADIUS only to ports "
                     "1025–65535", "choose a port from 1025 (1812 is RADIUS's own)")
    return Check("port", OK, f"{where} can be bound")


async def check_secrets(settings: ProxySettings) -> tuple[Check, SourceState | None]:
    """The secrets source can be read, and leaves the proxy at least one RADIUS client."""
    source_text = str(settings.secrets_source)
    try:
        source = open_source(settings)
        state = await source.read() if source.refreshes else None
    except (ConfigError, SecretsSourceError) as exc:
        if settings.secrets_source.kind == "aws-secretsmanager":
            fix = ("check the credentials and region, and secretsmanager:GetSecretValue and DescribeSecret (and "
                   "kms:Decrypt) on the secret; `aws secretsmanager get-secret-value --secret-id ARN` shows what "
                   "the proxy would get")
        else:
            fix = "check that the file exists, is readable, and holds the JSON described in docs/proxy.md"
        return Check("secrets", FAIL, f"{source_text}: {exc}", fix), None
    clients = build_client_table(settings, state)
    if state is None:
        detail = f"inline: {len(settings.clients)} shared secret(s) in the configuration"
    else:
        labels = ", ".join(version.label for version in state.versions)
        detail = (f"{settings.secrets_source.kind}: {len(state.versions)} secret version(s) ({labels}), "
                  f"{len(state.clients)} client address block(s) from the secret")
    if len(clients) == 0:
        return Check("secrets", FAIL, f"{detail}; no RADIUS client has a shared secret, so the proxy answers nobody",
                     "add radius_ip_N with radius_secret_N, or radius_clients with a secrets source that holds a "
                     "radius_secret"), state
    return Check("secrets", OK, f"{detail}; {len(clients)} client address block(s) in all"), state


UNAVAILABLE_FIXES = {
    "dns": "check api_host / DNS: the name must resolve from this host (`getent hosts {host}`); copy api_host from "
           "the Duo Admin Panel",
    "tls_verify": "check ca_certs: the certificate is not trusted — leave ca_certs unset for Duo's own CA bundle; "
                  "behind a TLS-inspecting web proxy, put its CA in ca_certs",
    "tls": "check api_host and api_port: what answers there does not speak TLS as Duo does",
    "connect": "check outbound HTTPS 443 / http_proxy: this host (on AWS, the proxies' security group, route and NAT "
               "gateway) must reach {host}:443, or set http_proxy_host and http_proxy_port",
    "timeout": "check outbound HTTPS 443 / http_proxy: nothing answered in time — a firewall that drops packets, a "
               "missing NAT gateway, or a web proxy that is needed (http_proxy_host)",
    "http_5xx": "Duo answered with a server error: see status.duo.com and try again",
    "bad_response": "something that is not Duo answered: check api_host and any web proxy in between",
    "truncated": "Duo's answer broke off: check any web proxy or firewall in between, then try again",
}


def _unavailable(name: str, duo: DuoClient, exc: DuoFault) -> Check:
    return Check(name, FAIL, f"{duo.api_host}: {exc.reason}: {exc.message}",
                 UNAVAILABLE_FIXES[exc.reason].format(host=duo.api_host))


async def check_duo_ping(duo: DuoClient) -> tuple[Check, float | None]:
    """Duo answers /ping (unsigned: reachability, DNS, TLS trust); also returns Duo's clock minus ours."""
    before, started = time.time(), time.perf_counter()
    try:
        duo_time = await duo.ping()
    except DuoFault as exc:
        return _unavailable("duo-ping", duo, exc), None
    elapsed = time.perf_counter() - started
    skew = duo_time - (before + elapsed / 2)
    return Check("duo-ping", OK, f"{duo.api_host} answered /ping in {elapsed * 1000:.0f} ms"), skew


def check_clock(skew: float) -> Check:
    """`skew` is Duo's clock minus ours, in seconds (Duo's has a resolution of one second)."""
    how = f"{abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} Duo's"
    fix = ("synchronise the clock with NTP (chronyd or systemd-timesyncd; on AWS the Amazon Time Sync Service, "
           "169.254.169.123)")
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return Check("clock", FAIL, f"the local clock is {how}: Duo rejects signed requests more than 5 minutes "
                     "off", fix)
    if abs(skew) > CLOCK_WARN_SECONDS:
        return Check("clock", WARN, f"the local clock is {how} (Duo rejects signatures over 5 minutes off)", fix)
    return Check("clock", OK, f"the local clock is within {max(abs(skew), 1):.0f} s of Duo's")


async def check_duo_keys(duo: DuoClient, skew: float | None = None) -> Check:
    """Duo accepts the ikey and skey on a signed /check."""
    try:
        await duo.check()
    except DuoApiError as exc:
        if exc.http_status == 401:
            fix = ("ikey/skey do not match api_host: copy all three from the same application in the Duo Admin "
                   "Panel (Applications → the RADIUS application)")
            if skew is not None and abs(skew) > CLOCK_FAIL_SECONDS:
                fix = "fix the clock first (see clock); otherwise " + fix
            return Check("duo-keys", FAIL, f"ikey {duo.ikey}: {exc}", fix)
        return Check("duo-keys", FAIL, f"ikey {duo.ikey}: {exc}",
                     "see Duo's message; in the Duo Admin Panel the application must be an Auth API or RADIUS one")
    except DuoFault as exc:
        return _unavailable("duo-keys", duo, exc)
    return Check("duo-keys", OK, f"Duo accepted ikey {duo.ikey} on /check")


def _probe_address(interface: str) -> str:
    if ipaddress.ip_address(interface).is_unspecified:
        return "::1" if ":" in interface else "127.0.0.1"
    return interface


def send_status_server(address: str, port: int, secret: bytes, *, timeout: float = 1.0,
                       attempts: int = 3) -> tuple[str, float]:
    """One Status-Server (RFC 5997) to address:port: ("accept" | "reject" | "refused" | "silent" |
    "bad_signature", round-trip seconds)."""
    result = exchange(status_server(secret, "duomfa-doctor"), address, port, timeout=timeout, attempts=attempts)
    if result.reply is None:
        return result.outcome, 0.0
    return ("accept" if result.reply.code == radius.ACCESS_ACCEPT else "reject"), result.rtt


def check_probe(settings: ProxySettings, state: SourceState | None,
                send: Callable[..., tuple[str, float]] = send_status_server) -> Check:
    """A proxy on the configured port answers a Status-Server signed with the configured secret. The proxy
    answers only the addresses in its client lists, so this host's address must be one of them."""
    address = _probe_address(settings.interface)
    where = f"UDP {address}:{settings.port}"
    entry = build_client_table(settings, state).lookup(address)
    if entry is None:
        return Check("probe", WARN, f"{address} is not a configured client: a proxy drops its packets without a "
                     f"reply, so {where} cannot be probed from here",
                     f"to probe from this host, add radius_ip_N = {address} with a radius_secret_N (or, with a "
                     f"secrets source, status_server_clients = {address})")
    version = entry.secrets[0]
    outcome, rtt = send(address, settings.port, version.secret)
    if outcome == "accept":
        return Check("probe", OK, f"the proxy on {where} answered a Status-Server signed with {version.label} in "
                     f"{rtt * 1000:.1f} ms")
    if outcome == "refused":
        return Check("probe", FAIL, f"nothing listens on {where}", "start the proxy: `duomfa proxy -c FILE`")
    if outcome == "silent":
        return Check("probe", FAIL, f"no answer from {where} to a Status-Server signed with {version.label}",
                     "the program on that port does not take this secret from this address: is it a duomfa proxy "
                     "reading the same configuration and secrets source? With debug = true its log names the "
                     "reason for each dropped datagram")
    if outcome == "bad_signature":
        return Check("probe", FAIL, f"{where} answered, but not signed with {version.label}",
                     "the program on that port holds another shared secret: is it the proxy of this configuration?")
    return Check("probe", FAIL, f"{where} answered the Status-Server with {outcome}",
                 "a duomfa proxy answers Status-Server with Access-Accept; is another RADIUS server on that port?")


async def local_checks(path: Path | None, environ: Mapping[str, str], *, probe: bool = False) -> list[Check]:
    config, settings = check_config(path, environ)
    if settings is None:
        return [config]
    checks = [config, check_port(settings)]
    secrets_check, state = await check_secrets(settings)
    checks.append(secrets_check)
    keys = duo_keys(settings, state)
    if isinstance(keys, str):
        checks.append(Check("duo-keys", FAIL, f"{keys}; the proxy rejects every login that needs Duo",
                            "set ikey, skey and api_host in [radius_server_duo_only] (or DUOMFA_IKEY …), or in the "
                            "secret's JSON, copied from one application in the Duo Admin Panel"))
    else:
        try:
            duo = DuoClient(keys.ikey, keys.skey.reveal(), keys.api_host, ca_certs=settings.ca_certs,
                            http_proxy=settings.http_proxy,
                            api_timeout=min(settings.api_timeout or DUO_TIMEOUT_SECONDS, DUO_TIMEOUT_SECONDS),
                            rate_limit_retries=0)
        except ValueError as exc:
            checks.append(Check("duo-ping", FAIL, str(exc), "set api_host to the host name from the Duo Admin Panel"))
        else:
            async with duo:
                ping, skew = await check_duo_ping(duo)
                checks.append(ping)
                if skew is not None:
                    checks.append(check_clock(skew))
                    checks.append(await check_duo_keys(duo, skew))
    if probe and secrets_check.status == FAIL and not settings.secrets_source.inline:
        checks.append(Check("probe", FAIL, "not probed: the shared secret comes from the secrets source, which could "
                            "not be read", "see secrets"))
    elif probe:
        checks.append(await asyncio.to_thread(check_probe, settings, state))
    return checks


# --- AWS: one stack's outputs, then the service, the directory, the secret, the alarms, the security groups --------

# the stack's CloudFormation Outputs (duomfa.infra.stacks) that the checks read
CLUSTER, SERVICE, SECRET = "ClusterName", "ServiceName", "SecretArn"
DIRECTORY, PROXY_GROUP, TOPIC = "ProtectedDirectoryId", "ProxySecurityGroupId", "TopicArn"
REQUIRED_OUTPUTS = (CLUSTER, SERVICE, SECRET, DIRECTORY, PROXY_GROUP, TOPIC)
LB_ADDRESSES, LB_DNS_NAME = "LoadBalancerAddresses", "LoadBalancerDnsName"  # only with the load balancer
STATE_PARAMETER = "DirectoryStateParameterName"  # the directory updater's state (control plane)
DEFAULT_RADIUS_PORT = 1812
ACCESS_FIX = ("the credentials need read access: cloudformation:DescribeStacks, ecs:DescribeServices, ecs:ListTasks, "
              "ecs:DescribeTasks, ds:DescribeDirectories, secretsmanager:DescribeSecret and GetSecretValue, "
              "ssm:GetParameter, cloudwatch:DescribeAlarms, ec2:DescribeSecurityGroups")


@dataclass(frozen=True)
class AwsClients:
    cloudformation: Any
    ecs: Any
    ds: Any
    secretsmanager: Any
    ssm: Any
    cloudwatch: Any
    ec2: Any

    @classmethod
    def create(cls, region: str | None) -> AwsClients:
        import boto3

        session = boto3.session.Session(region_name=region)
        return cls(**{name: session.client(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class StackFacts:
    name: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]

    @property
    def radius_port(self) -> int:
        try:
            return int(self.parameters.get("RadiusPort", DEFAULT_RADIUS_PORT))
        except ValueError:
            return DEFAULT_RADIUS_PORT

    def radius_servers(self, task_addresses: Sequence[str] | None) -> tuple[list[str] | None, str]:
        """What the directory's RadiusServers should be, and what they are in words."""
        if self.outputs.get(LB_ADDRESSES):
            return self.outputs[LB_ADDRESSES].split(","), "the load balancer's fixed addresses"
        if self.outputs.get(LB_DNS_NAME):
            return [self.outputs[LB_DNS_NAME]], "the load balancer's DNS name"
        return (list(task_addresses) if task_addresses else None), "the running, healthy tasks"


def _error_text(exc: BaseException) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    if error:
        operation = getattr(exc, "operation_name", "")
        return f"{operation + ': ' if operation else ''}{error.get('Code')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _could_not(name: str, exc: BaseException) -> Check:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    fix = ACCESS_FIX if "AccessDenied" in code or "Unauthorized" in code else (
        "configure AWS credentials (`aws configure`, AWS_PROFILE or an instance role)"
        if type(exc).__name__ == "NoCredentialsError" else "see the error; then run doctor again")
    return Check(name, FAIL, f"could not check: {_error_text(exc)}", fix)


def _guarded(name: str, check: Callable[..., Any], *args: Any, pair: bool = False) -> Any:
    """Run one check; one that raises is reported as a failed check, so the rest of the report still comes."""
    try:
        return check(*args)
    except Exception as exc:  # botocore's errors are generated per service; any error is this check's failure
        failure = _could_not(name, exc)
        return (failure, None) if pair else failure


def check_stack(cloudformation: Any, stack_name: str) -> tuple[Check, StackFacts | None]:
    region = cloudformation.meta.region_name
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except Exception as exc:
        if "does not exist" in _error_text(exc):
            return Check("stack", FAIL, f"stack {stack_name} was not found in {region}",
                         "check --stack and --region: `aws cloudformation list-stacks --stack-status-filter "
                         "CREATE_COMPLETE UPDATE_COMPLETE`"), None
        raise
    status = stack["StackStatus"]
    facts = StackFacts(stack_name, {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []},
                       {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []})
    events = (f"CloudFormation console → Stacks → {stack_name} → Events shows the first failed resource "
              f"(`aws cloudformation describe-stack-events --stack-name {stack_name}`)")
    missing = [name for name in REQUIRED_OUTPUTS if name not in facts.outputs]
    if missing:
        return Check("stack", FAIL, f"stack {stack_name} ({status}) has no output {', '.join(missing)}: not a duomfa "
                     "stack, or one that did not finish", events), None
    if status.endswith("_IN_PROGRESS"):
        return Check("stack", WARN, f"stack {stack_name} is {status}", "wait for it to finish, then run doctor "
                     "again"), facts
    if status.endswith("_FAILED") or status == "ROLLBACK_COMPLETE":
        return Check("stack", FAIL, f"stack {stack_name} is {status}", events), facts
    if "ROLLBACK" in status:
        return Check("stack", WARN, f"stack {stack_name} is {status}: the last update was rolled back", events), facts
    return Check("stack", OK, f"stack {stack_name} is {status} in {region}"), facts


def _service_events(cluster: str, service: str) -> str:
    return (f"ECS console → Clusters → {cluster} → Services → {service} → Events says why (`aws ecs describe-services "
            f"--cluster {cluster} --services {service} --query 'services[0].events[:5]'`)")


def check_service(ecs: Any, cluster: str, service: str) -> tuple[Check, int | None]:
    """The ECS service is ACTIVE and steady: running == desired, one deployment. Returns the desired count."""
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    if not found:
        return Check("service", FAIL, f"ECS service {service} was not found in cluster {cluster}",
                     "the stack's ServiceName and ClusterName outputs name it; was it deleted by hand?"), None
    described = found[0]
    status = described.get("status")
    desired, running = described.get("desiredCount", 0), described.get("runningCount", 0)
    deployments = described.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), deployments[0] if deployments else {})
    rollout = primary.get("rolloutState")
    latest = (described.get("events") or [{}])[0].get("message")
    said = f"; latest event: {latest}" if latest else ""
    counts = f"{running} of {desired} desired task(s) running"
    if status != "ACTIVE":
        return Check("service", FAIL, f"service {service} is {status}", _service_events(cluster, service)), desired
    if rollout == "FAILED":
        return Check("service", FAIL, f"the last deployment failed ({primary.get('rolloutStateReason', '')}); "
                     f"{counts}", _service_events(cluster, service)), desired
    if running == 0:
        return Check("service", FAIL, f"{counts}: no proxy is running{said}",
                     _service_events(cluster, service)), desired
    if len(deployments) > 1 or rollout == "IN_PROGRESS":
        return Check("service", WARN, f"a deployment is under way ({len(deployments)} deployment(s)); {counts}",
                     f"wait for it (`aws ecs wait services-stable --cluster {cluster} --services {service}`), then "
                     "run doctor again"), desired
    if running != desired:
        return Check("service", FAIL, f"{counts}{said}", _service_events(cluster, service)), desired
    return Check("service", OK, f"service {service} is ACTIVE and steady: {counts}, one deployment"), desired


def check_tasks(ecs: Any, cluster: str, service: str, desired: int | None) -> tuple[Check, list[str] | None]:
    """The running, healthy tasks and their private addresses (what the directory should be given)."""
    from duomfa.control.addresses import healthy_addresses

    addresses, left_out = healthy_addresses(ecs, cluster, service)
    fix = (f"ECS console → Clusters → {cluster} → Services → {service} → Tasks: a stopped task shows its stopped "
           "reason, an unhealthy one fails its /healthz check; the proxy log is in CloudWatch Logs")
    if not addresses:
        return Check("tasks", FAIL, f"no running, healthy task with an address ({left_out['not_healthy']} running "
                     f"but not healthy, {left_out['no_address']} without an address)", fix), None
    listed = ", ".join(addresses)
    if left_out["not_healthy"] or left_out["no_address"] or (desired is not None and len(addresses) < desired):
        return Check("tasks", WARN, f"{len(addresses)} healthy task(s) ({listed}) of {desired} desired; "
                     f"{left_out['not_healthy']} running but not healthy", fix), addresses
    return Check("tasks", OK, f"{len(addresses)} running, healthy task(s): {listed}"), addresses


def check_directory(ds: Any, directory_id: str, expected: Sequence[str] | None, expected_what: str,
                    port: int) -> Check:
    """The directory's RadiusStatus is Completed, and its RadiusServers and port are where the proxies are."""
    from duomfa.control.directory import describe_radius

    status, reported = describe_radius(ds, directory_id)
    console = (f"Directory Service console → Directories → {directory_id} → Networking & security → "
               "Multi-factor authentication")
    updater = ("the directory updater converges the settings every 5 minutes; its SNS notices and CloudWatch log "
               "say why it could not")
    servers = list(reported.get("RadiusServers") or [])
    if status is None:
        return Check("directory", FAIL, f"RADIUS (MFA) is not enabled on directory {directory_id}",
                     f"{updater}; it enables RADIUS once the proxies are healthy ({console})")
    if status == "Failed":
        return Check("directory", FAIL, f"directory {directory_id} reports RadiusStatus Failed (servers "
                     f"{', '.join(servers) or 'none'}): it could not reach the proxies with these settings",
                     f"check directory-egress and proxy-ingress below and that the proxies reach Duo; {updater}")
    if status == "Creating":
        return Check("directory", WARN, f"directory {directory_id} reports RadiusStatus Creating: settings are being "
                     "applied, and MFA logins wait until it is Completed", "run doctor again in a few minutes")
    problems = []
    if expected is not None and sorted(servers) != sorted(expected):
        problems.append(f"RadiusServers are {', '.join(servers) or 'none'}, but {expected_what} are "
                        f"{', '.join(expected)}")
    if reported.get("RadiusPort") not in (None, port):
        problems.append(f"RadiusPort is {reported['RadiusPort']}, but the proxies listen on {port}")
    if reported.get("AuthenticationProtocol") not in (None, "PAP"):
        problems.append(f"the protocol is {reported['AuthenticationProtocol']}; the proxies take PAP only")
    if problems:
        return Check("directory", FAIL, f"directory {directory_id}: " + "; ".join(problems), f"{updater} ({console})")
    compared = f"= {expected_what}" if expected is not None else "(not compared: no healthy task)"
    timeout, retries = reported.get("RadiusTimeout"), reported.get("RadiusRetries")
    timing = f", {timeout} s × {retries + 1} attempts" if timeout is not None and retries is not None else ""
    return Check("directory", OK if expected is not None else WARN,
                 f"RadiusStatus Completed; servers {', '.join(servers)} {compared}; UDP {port}{timing}",
                 "" if expected is not None else "see tasks")


def _when(value: Any) -> str:
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def check_rotation(secretsmanager: Any, secret_arn: str, now: float) -> Check:
    """Rotation is enabled and the last one finished: no AWSPENDING left on another version than AWSCURRENT."""
    from duomfa.control.runtime import version_with

    described = secretsmanager.describe_secret(SecretId=secret_arn)
    stages = described.get("VersionIdsToStages") or {}
    current, pending = version_with(stages, "AWSCURRENT"), version_with(stages, "AWSPENDING")
    if pending is not None and pending != current:
        return Check("rotation", FAIL, f"a rotation did not finish: version {pending} is still AWSPENDING (AWSCURRENT "
                     f"is {current})", "the rotation function's CloudWatch log names the step that failed; fix it, "
                     f"then retry with `aws secretsmanager rotate-secret --secret-id {secret_arn}`, or cancel with "
                     f"`aws secretsmanager update-secret-version-stage --secret-id {secret_arn} --version-stage "
                     f"AWSPENDING --remove-from-version-id {pending}`")
    if not described.get("RotationEnabled"):
        return Check("rotation", WARN, "rotation is disabled: the RADIUS shared secret never changes",
                     f"Secrets Manager console → Secrets → {described.get('Name', secret_arn)} → Rotation → Edit "
                     "rotation, with the stack's rotation function")
    last, upcoming = described.get("LastRotatedDate"), described.get("NextRotationDate")
    if not last:
        return Check("rotation", WARN, "rotation is enabled, but the secret has never been rotated",
                     f"rotate it now: `aws secretsmanager rotate-secret --secret-id {secret_arn}`")
    if upcoming and _timestamp(upcoming) < now - 86400:
        return Check("rotation", WARN, f"rotation is overdue: due {_when(upcoming)}, last {_when(last)}",
                     "the rotation function's CloudWatch log says whether it ran; "
                     f"`aws secretsmanager rotate-secret --secret-id {secret_arn}` rotates now")
    return Check("rotation", OK, f"rotation enabled; last rotated {_when(last)}, next {_when(upcoming)}; AWSCURRENT "
                 f"is {current}")


def _timestamp(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else value.timestamp()


def _shared_secret_digest(secretsmanager: Any, secret_arn: str, version: str | None) -> str | None:
    """SHA-256 of one version's radius_secret (as the updater's state records it), or None when unreadable. The
    secret itself never leaves this function."""
    if version is None:
        return None
    try:
        answer = secretsmanager.get_secret_value(SecretId=secret_arn, VersionId=version)
        shared_secret = json.loads(answer.get("SecretString") or "")["radius_secret"]
    except (secretsmanager.exceptions.ResourceNotFoundException, ValueError, KeyError, TypeError):
        return None
    return hashlib.sha256(str(shared_secret).encode("utf-8")).hexdigest()


def check_updater_state(ssm: Any, secretsmanager: Any, parameter: str, secret_arn: str) -> Check:
    """The directory updater's state says the directory has AWSCURRENT's shared secret. A version is compared by
    its shared secret, not only its ID: new Duo keys or domain controllers make a new AWSCURRENT version that holds
    the same shared secret, and the directory needs no update for it."""
    from duomfa.control.runtime import read_json_parameter, version_stages, version_with

    applied = read_json_parameter(ssm, parameter)
    applied_version = applied.get("secret_version") if isinstance(applied, dict) else None
    if applied_version is None:
        return Check("updater-state", WARN, f"{parameter} records no update yet: the directory updater has not "
                     "applied any settings", "it runs every 5 minutes once the proxies are healthy; its CloudWatch "
                     "log and SNS notices say what it found")
    stages = version_stages(secretsmanager, secret_arn)
    current, previous = version_with(stages, "AWSCURRENT"), version_with(stages, "AWSPREVIOUS")
    when = _when(applied.get("applied_at"))
    if applied_version == current:
        return Check("updater-state", OK, f"the directory was given AWSCURRENT ({current}) at {when}")
    applied_digest = applied.get("secret_sha256") or _shared_secret_digest(secretsmanager, secret_arn, applied_version)
    if applied_digest is not None and applied_digest == _shared_secret_digest(secretsmanager, secret_arn, current):
        return Check("updater-state", OK, f"the directory has AWSCURRENT's shared secret (given at {when} with "
                     f"version {applied_version}, which holds the same one; AWSCURRENT is {current})")
    previous_digest = _shared_secret_digest(secretsmanager, secret_arn, previous) if applied_digest else None
    if applied_version == previous or (applied_digest is not None and applied_digest == previous_digest):
        return Check("updater-state", WARN, f"the directory still has the previous shared secret (AWSPREVIOUS "
                     f"{previous}, applied {when}); AWSCURRENT is {current}. The proxies accept both meanwhile",
                     "the updater applies AWSCURRENT on its next run (every 5 minutes); if this stays, its SNS "
                     "notices say why")
    return Check("updater-state", FAIL, f"the directory was last given secret version {applied_version} ({when}), "
                 f"whose shared secret is neither AWSCURRENT's ({current}) nor AWSPREVIOUS's: the proxies no longer "
                 "accept it", "the directory updater must apply AWSCURRENT: see its SNS notices and CloudWatch log")


def check_alarms(cloudwatch: Any, stack_name: str, topic_arn: str) -> Check:
    """No alarm of the stack (named after it, or notifying its topic) is in ALARM."""
    alarms: dict[str, dict[str, Any]] = {}
    for selector in ({"AlarmNamePrefix": f"{stack_name}-"}, {"ActionPrefix": topic_arn}):
        for page in cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmTypes=["MetricAlarm", "CompositeAlarm"], **selector):
            for alarm in (page.get("MetricAlarms") or []) + (page.get("CompositeAlarms") or []):
                alarms[alarm["AlarmName"]] = alarm
    if not alarms:
        return Check("alarms", WARN, f"no CloudWatch alarm named after {stack_name} or notifying {topic_arn}",
                     "the stack's Monitoring resources create them: check the stack's resources")
    firing = sorted((a for a in alarms.values() if a.get("StateValue") == "ALARM"), key=lambda a: a["AlarmName"])
    if firing:
        listed = "; ".join(f"{a['AlarmName']} (since {_when(a.get('StateUpdatedTimestamp'))})" for a in firing)
        what = " ".join(f"{a['AlarmName']}: {a.get('AlarmDescription') or 'see the alarm'}" for a in firing)
        return Check("alarms", FAIL, f"{len(firing)} of {len(alarms)} alarm(s) in ALARM: {listed}",
                     f"{what} (CloudWatch console → Alarms → All alarms)")
    waiting = sum(a.get("StateValue") == "INSUFFICIENT_DATA" for a in alarms.values())
    return Check("alarms", OK, f"{len(alarms)} alarm(s), none in ALARM"
                 + (f" ({waiting} with insufficient data)" if waiting else ""))


@dataclass(frozen=True)
class Reach:
    """Where a security group's rules for one UDP port lead (or come from)."""

    groups: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def covers(self, addresses: Sequence[str]) -> bool:
        return bool(addresses) and all(any(ipaddress.ip_address(a) in n for n in self.networks) for a in addresses)

    def describe(self) -> str:
        parts = sorted(self.groups) + [str(n) for n in self.networks]
        return ", ".join(parts) or "nowhere"


def udp_reach(permissions: Sequence[Mapping[str, Any]], port: int) -> Reach:
    groups: set[str] = set()
    networks: list[Any] = []
    for permission in permissions:
        protocol = str(permission.get("IpProtocol"))
        if protocol not in ("-1", "udp", "17"):
            continue
        if protocol != "-1" and not permission.get("FromPort", 0) <= port <= permission.get("ToPort", 65535):
            continue
        groups.update(pair["GroupId"] for pair in permission.get("UserIdGroupPairs") or [] if pair.get("GroupId"))
        networks.extend(ipaddress.ip_network(r["CidrIp"]) for r in permission.get("IpRanges") or [])
        networks.extend(ipaddress.ip_network(r["CidrIpv6"]) for r in permission.get("Ipv6Ranges") or [])
    return Reach(frozenset(groups), tuple(networks))


def check_security_groups(ec2: Any, ds: Any, directory_id: str, proxy_group: str, port: int,
                          targets: Sequence[str]) -> list[Check]:
    """directory-egress: the directory's group may send UDP `port` to the proxies' group, to a group in between
    (the load balancer's) or to a block covering `targets`; proxy-ingress: the proxies' group takes it in from the
    directory's group, from that group in between, or from a block covering the domain controllers."""
    from duomfa.control.directory_lookup import describe_directory

    directory = describe_directory(ds, directory_id)
    directory_group = directory["SecurityGroupId"]
    controllers = directory["DomainControllerAddresses"].split(",")
    described = ec2.describe_security_groups(GroupIds=[directory_group, proxy_group])["SecurityGroups"]
    groups = {group["GroupId"]: group for group in described}
    egress = udp_reach(groups[directory_group].get("IpPermissionsEgress") or [], port)
    ingress = udp_reach(groups[proxy_group].get("IpPermissions") or [], port)
    # a group the directory sends to and the proxies take from: the load balancer's
    between = sorted((egress.groups & ingress.groups) - {directory_group, proxy_group})
    relay = None
    for candidate in between:
        relay_group = ec2.describe_security_groups(GroupIds=[candidate])["SecurityGroups"][0]
        if (directory_group in udp_reach(relay_group.get("IpPermissions") or [], port).groups
                and proxy_group in udp_reach(relay_group.get("IpPermissionsEgress") or [], port).groups):
            relay = candidate
            break

    if proxy_group in egress.groups:
        out = Check("directory-egress", OK, f"the directory's group {directory_group} may send UDP {port} to the "
                    f"proxies' group {proxy_group}")
    elif relay is not None:
        out = Check("directory-egress", OK, f"the directory's group {directory_group} may send UDP {port} to the load "
                    f"balancer's group {relay}, which passes it to {proxy_group}")
    elif egress.covers(targets):
        out = Check("directory-egress", OK, f"the directory's group {directory_group} may send UDP {port} to "
                    f"{egress.describe()}, which covers {', '.join(targets)}")
    elif egress.networks and not targets:
        out = Check("directory-egress", WARN, f"the directory's group {directory_group} may send UDP {port} to "
                    f"{egress.describe()}; not compared with the proxies' addresses: none is known", "see tasks")
    else:
        out = Check("directory-egress", FAIL, f"the directory's group {directory_group} may send UDP {port} only to "
                    f"{egress.describe()}, not to the proxies' group {proxy_group}"
                    + (f" or {', '.join(targets)}" if targets else ""),
                    f"`aws ec2 authorize-security-group-egress --group-id {directory_group} --ip-permissions "
                    f"'IpProtocol=udp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={proxy_group}}}]'` "
                    "(with the load balancer, its group instead); Managed AD's own group reaches only its members")
    if directory_group in ingress.groups:
        into = Check("proxy-ingress", OK, f"the proxies' group {proxy_group} takes UDP {port} from the directory's "
                     f"group {directory_group}")
    elif relay is not None:
        into = Check("proxy-ingress", OK, f"the proxies' group {proxy_group} takes UDP {port} from the load "
                     f"balancer's group {relay}, which takes it from {directory_group}")
    elif ingress.covers(controllers):
        into = Check("proxy-ingress", OK, f"the proxies' group {proxy_group} takes UDP {port} from "
                     f"{ingress.describe()}, which covers the domain controllers {', '.join(controllers)}")
    else:
        into = Check("proxy-ingress", FAIL, f"the proxies' group {proxy_group} takes UDP {port} only from "
                     f"{ingress.describe()}, not from the directory's group {directory_group}",
                     f"`aws ec2 authorize-security-group-ingress --group-id {proxy_group} --protocol udp --port "
                     f"{port} --source-group {directory_group}`")
    return [out, into]


def aws_checks(stack_name: str, clients: AwsClients, *, now: Callable[[], float] = time.time) -> list[Check]:
    stack, facts = _guarded("stack", check_stack, clients.cloudformation, stack_name, pair=True)
    if facts is None:
        return [stack]
    outputs = facts.outputs
    cluster, service = outputs[CLUSTER], outputs[SERVICE]
    checks = [stack]
    service_check, desired = _guarded("service", check_service, clients.ecs, cluster, service, pair=True)
    tasks, addresses = _guarded("tasks", check_tasks, clients.ecs, cluster, service, desired, pair=True)
    expected, expected_what = facts.radius_servers(addresses)
    checks += [service_check, tasks,
               _guarded("directory", check_directory, clients.ds, outputs[DIRECTORY], expected, expected_what,
                        facts.radius_port),
               _guarded("rotation", check_rotation, clients.secretsmanager, outputs[SECRET], now())]
    if outputs.get(STATE_PARAMETER):
        checks.append(_guarded("updater-state", check_updater_state, clients.ssm, clients.secretsmanager,
                               outputs[STATE_PARAMETER], outputs[SECRET]))
    else:
        checks.append(Check("updater-state", WARN, f"not checked: the stack has no {STATE_PARAMETER} output (the "
                            "directory updater's state parameter)", "deploy the stack with its control plane"))
    checks.append(_guarded("alarms", check_alarms, clients.cloudwatch, stack_name, outputs[TOPIC]))
    targets = outputs[LB_ADDRESSES].split(",") if outputs.get(LB_ADDRESSES) else (addresses or [])
    groups = _guarded("security-groups", check_security_groups, clients.ec2, clients.ds, outputs[DIRECTORY],
                      outputs[PROXY_GROUP], facts.radius_port, targets)
    checks += groups if isinstance(groups, list) else [groups]
    return checks


# --- the report -----------------------------------------------------------------------------------------------

def report(checks: Sequence[Check], *, as_json: bool, out: TextIO) -> int:
    """Print one line per check (or one JSON object); 1 when any check failed, else 0 (warnings do not fail)."""
    failed = sum(check.status == FAIL for check in checks)
    warnings = sum(check.status == WARN for check in checks)
    if as_json:
        print(json.dumps({"checks": [asdict(check) for check in checks], "failed": failed, "warnings": warnings},
                         indent=2), file=out)
    else:
        width = max(len(check.name) for check in checks)
        for check in checks:
            line = f"{check.status:<5}{check.name:<{width}}  {check.detail}"
            if check.status != OK and check.fix:
                line += f" → {check.fix}"
            print(line, file=out)
        print(f"{len(checks)} check(s): {failed} failed, {warnings} warning(s)", file=out)
    return 1 if failed else 0


def run_doctor(*, config: str | None, stack: str | None, region: str | None, probe: bool, as_json: bool,
               environ: Mapping[str, str], out: TextIO | None = None, aws_clients: AwsClients | None = None) -> int:
    """Local checks (with -c, or when no stack is named) and AWS checks (with --stack); the report's exit code."""
    checks: list[Check] = []
    if config is not None or stack is None:
        checks += asyncio.run(local_checks(Path(config) if config else None, environ, probe=probe))
    if stack is not None:
        try:
            clients = aws_clients or AwsClients.create(region)
        except ImportError:
            checks.append(Check("stack", FAIL, "the AWS checks need boto3", "pip install 'duomfa[aws]'"))
        except Exception as exc:  # NoRegionError and friends
            fix = "give --region or set AWS_REGION" if "region" in str(exc).lower() else "see the error"
            checks.append(Check("stack", FAIL, f"no AWS client: {exc}", fix))
        else:
            checks += aws_checks(stack, clients)
    return report(checks, as_json=as_json, out=out or sys.stdout)
