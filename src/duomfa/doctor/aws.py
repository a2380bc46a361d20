"""`duomfa doctor --stack NAME`: one stack's outputs, then the service, the directory, the secret, the alarms and the
security groups, with clients made once and passed in (tests pass moto or Stubber clients)."""

from __future__ import annotations

import datetime
import ipaddress
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from duomfa.control.inline_support import error_code
from duomfa.doctor.checks import FAIL, OK, WARN, Check
from duomfa.secret_document import RADIUS_SECRET, read_document, secret_digest

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
              "ssm:GetParameter, cloudwatch:DescribeAlarms, ec2:DescribeSecurityGroups; and the secret's value is "
              "denied to anyone not listed in the stack's AdminPrincipals parameter: add this role or user there")


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
    code = error_code(exc)
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
    except secretsmanager.exceptions.ResourceNotFoundException:
        return None
    document = read_document(answer.get("SecretString"))
    return secret_digest(document[RADIUS_SECRET]) if document is not None else None


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
