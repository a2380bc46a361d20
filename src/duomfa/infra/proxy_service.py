"""The proxies: an ECS cluster, the Fargate task running `duomfa proxy`, the service across the directory's two
subnets with autoscaling, and the security groups between the directory and the proxies.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, Duration, Fn, RemovalPolicy, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct, IConstruct

from duomfa.infra.directory import DirectoryEndpoint
from duomfa.infra.escape_hatch import cfn_resource
from duomfa.infra.fips_mode import ENDPOINT_VARIABLE
from duomfa.infra.nag import ANY_RESOURCE, ROLE_POLICY_REASON, wildcards

CONTAINER_NAME = "proxy"
CONTAINER_USER = "10001:10001"  # the image's non-root user (uid:gid); the Dockerfile creates it
HTTP_PORT = 8080  # /healthz, /readyz, /metrics (DUOMFA_HTTP_PORT)
API_TIMEOUT_SECONDS = 10
# No curl in a slim Python image: the health check is the interpreter itself. urlopen raises on any non-2xx.
HEALTH_CHECK = ["CMD", "python", "-c",
                f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{HTTP_PORT}/healthz', timeout=4)"]
STOP_TIMEOUT_SECONDS = 120
CPU_TARGET_PERCENT = 70
MEMORY_TARGET_PERCENT = 80


class ProxyService(Construct):
    """Exposes `cluster`, `service`, `task_definition`, `security_group`, `log_group`, `task_role` for the
    load balancer, monitoring and the control plane; what those change here (who may reach the proxies, a target
    group, what the service starts after) goes through its methods."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, directory: DirectoryEndpoint,
                 secret: secretsmanager.ISecret, key: kms.IKey, repository: ecr.IRepository, image_tag: str,
                 radius_port: str, failmode: str, proxy_count: str, max_tasks: str, cpu: str, memory: str,
                 log_retention_days: str, exempt_usernames: str = "", http_proxy: str = "",
                 max_pushes_per_user_per_minute: str = "3", has_http_proxy: CfnCondition | None = None,
                 metrics_namespace: str = "", fips_mode: str = "false") -> None:
        """`metrics_namespace`: where the proxies' once-a-minute stats line publishes its metrics (empty: none).
        `fips_mode`: "true" runs the proxies with fips_mode = true and FIPS endpoints for their AWS calls."""
        super().__init__(scope, construct_id)
        port = Token.as_number(radius_port)

        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)

        self.log_group = logs.LogGroup(self, "Logs", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR,
                                       removal_policy=RemovalPolicy.RETAIN)
        # retention follows the LogRetentionDays parameter; RetentionDays above only satisfies the L2's typing
        cfn_resource(self.log_group).add_property_override("RetentionInDays", Token.as_number(log_retention_days))

        # two roles: ECS pulls the image and writes logs with the execution role; the proxy's own code reads the
        # secret with the task role, and nothing else
        self.execution_role = iam.Role(self, "ExecutionRole",
                                       assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                       description="Duo MFA proxy: ECS pulls the image and writes logs")
        self.task_role = iam.Role(self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                                  description="Duo MFA proxy: reads its secret (every version stage)")
        secret.grant_read(self.task_role)

        self.task_definition = ecs.FargateTaskDefinition(
            self, "Task", cpu=Token.as_number(cpu), memory_limit_mib=Token.as_number(memory),
            task_role=self.task_role, execution_role=self.execution_role,
            runtime_platform=ecs.RuntimePlatform(operating_system_family=ecs.OperatingSystemFamily.LINUX,
                                                 cpu_architecture=ecs.CpuArchitecture.X86_64))
        self.container = self.task_definition.add_container(
            CONTAINER_NAME, image=ecs.ContainerImage.from_ecr_repository(repository, image_tag),
            entry_point=["duomfa"], command=["proxy"], user=CONTAINER_USER, readonly_root_filesystem=True,
            essential=True,
            # the proxy writes nothing to disk (logs go to stdout), so no writable volume is mounted
            environment={
                "DUOMFA_SECRETS_SOURCE": f"aws-secretsmanager:{secret.secret_arn}",
                "DUOMFA_RADIUS_CLIENTS": directory.domain_controller_addresses,
                "DUOMFA_PORT": radius_port,
                "DUOMFA_FAILMODE": failmode,
                "DUOMFA_HTTP_PORT": str(HTTP_PORT),
                "DUOMFA_API_TIMEOUT": str(API_TIMEOUT_SECONDS),
                # what an authproxy.cfg carries besides keys (empty: none)
                "DUOMFA_EXEMPT_USERNAMES": exempt_usernames,
                "DUOMFA_HTTP_PROXY": http_proxy,
                "DUOMFA_MAX_PUSHES_PER_USER_PER_MINUTE": max_pushes_per_user_per_minute,
                # the start check refuses an image without the enforced FIPS provider; Secrets Manager's FIPS endpoint
                "DUOMFA_FIPS_MODE": fips_mode,
                ENDPOINT_VARIABLE: fips_mode,
            },
            port_mappings=[ecs.PortMapping(container_port=port, protocol=ecs.Protocol.UDP, name="radius"),
                           ecs.PortMapping(container_port=HTTP_PORT, protocol=ecs.Protocol.TCP, name="http")],
            health_check=ecs.HealthCheck(command=HEALTH_CHECK, interval=Duration.seconds(15),
                                         timeout=Duration.seconds(5), retries=3, start_period=Duration.seconds(30)),
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="proxy", log_group=self.log_group),
            # Fargate's longest: a stopping proxy finishes the pushes it is waiting on (push_wait_seconds 75 + 5)
            stop_timeout=Duration.seconds(STOP_TIMEOUT_SECONDS))
        if metrics_namespace:  # the stats line then carries its counts and latencies as CloudWatch metrics (EMF)
            self.container.add_environment("DUOMFA_METRICS_NAMESPACE", metrics_namespace)

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Duo MFA proxies: RADIUS from the directory, HTTPS out")
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                            "HTTPS to Duo, Secrets Manager, ECR and CloudWatch Logs")
        allow_dns_to(self, "Proxy", self.security_group.security_group_id, directory.security_group_id)
        if has_http_proxy is not None:
            # the web proxy's address is only known as a name or address in the parameter: any IPv4, its port only
            proxy_port = Token.as_number(Fn.select(1, Fn.split(":", http_proxy)))
            egress = ec2.CfnSecurityGroupEgress(
                self, "ToHttpProxy", group_id=self.security_group.security_group_id, ip_protocol="tcp",
                from_port=proxy_port, to_port=proxy_port, cidr_ip="0.0.0.0/0",
                description="Duo MFA: HTTPS to Duo through the web proxy (HttpProxy)")
            egress.cfn_options.condition = has_http_proxy
        self.allow_radius_from(directory.security_group_id, "RADIUS from the directory's domain controllers",
                               "FromDirectory", port)
        # the directory's security group lets its controllers talk only to its own members unless told otherwise
        ec2.CfnSecurityGroupEgress(self, "DirectoryToProxies", group_id=directory.security_group_id,
                                   ip_protocol="udp", from_port=port, to_port=port,
                                   destination_security_group_id=self.security_group.security_group_id,
                                   description="Duo MFA: RADIUS to the proxies")

        # the VPC's private subnets are the directory's two subnets (both variants import the VPC that way)
        subnets = vpc.private_subnets
        self.service = ecs.FargateService(
            self, "Service", cluster=self.cluster, task_definition=self.task_definition,
            desired_count=Token.as_number(proxy_count), vpc_subnets=ec2.SubnetSelection(subnets=subnets),
            security_groups=[self.security_group], assign_public_ip=False,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # one extra task at a time (of two): a directory listing the tasks' own addresses keeps a serving proxy
            # while it applies each update, which replacing both at once would not leave it (docs/redeploy.md)
            min_healthy_percent=100, max_healthy_percent=150, propagate_tags=ecs.PropagatedTagSource.SERVICE)
        scaling = self.service.auto_scale_task_count(min_capacity=Token.as_number(proxy_count),
                                                     max_capacity=Token.as_number(max_tasks))
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=CPU_TARGET_PERCENT)
        scaling.scale_on_memory_utilization("Memory", target_utilization_percent=MEMORY_TARGET_PERCENT)
        self.radius_port = port

        NagSuppressions.add_resource_suppressions(self.task_definition, [
            {"id": "AwsSolutions-ECS2", "reason": "the environment holds settings only (secret ARN, client "
                                                  "addresses, port, failmode); the proxy reads the secret itself "
                                                  "so it sees every version stage during rotation"},
        ])
        NagSuppressions.add_resource_suppressions(self.execution_role, [
            wildcards("ecr:GetAuthorizationToken has no resource-level permissions (CDK's grant for pulling from the "
                      "repository)",
                      [ANY_RESOURCE]),
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(self.task_role, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)

    def allow_status_server_from(self, source_security_group_id: str, source_cidrs: str, construct_id: str) -> None:
        """Let a prober in (UDP) and make its subnets Status-Server-only clients: it can check a proxy with a
        secret, never log anyone in."""
        self.allow_radius_from(source_security_group_id, "Status-Server only (status_server_clients: no logins)",
                               construct_id)
        self.container.add_environment("DUOMFA_STATUS_SERVER_CLIENTS", source_cidrs)

    def allow_radius_from(self, source_security_group_id: str, description: str, construct_id: str,
                          port: float | None = None, *,
                          condition: CfnCondition | None = None) -> ec2.CfnSecurityGroupIngress:
        """Let RADIUS (UDP) in from a security group: the directory's, or the load balancer's (while `condition`
        holds)."""
        port = self.radius_port if port is None else port
        return self._allow_from(source_security_group_id, "udp", port, description, construct_id, condition)

    def allow_health_checks_from(self, source_security_group_id: str, description: str, construct_id: str, *,
                                 condition: CfnCondition | None = None) -> ec2.CfnSecurityGroupIngress:
        """Let a load balancer's health checks (HTTP /healthz) in from its security group."""
        return self._allow_from(source_security_group_id, "tcp", HTTP_PORT, description, construct_id, condition)

    def _allow_from(self, source_security_group_id: str, protocol: str, port: float, description: str,
                    construct_id: str, condition: CfnCondition | None) -> ec2.CfnSecurityGroupIngress:
        rule = ec2.CfnSecurityGroupIngress(self, construct_id, group_id=self.security_group.security_group_id,
                                           ip_protocol=protocol, from_port=port, to_port=port,
                                           source_security_group_id=source_security_group_id,
                                           description=description)
        if condition is not None:
            rule.cfn_options.condition = condition
        return rule

    def attach_target_group(self, target_group_arn: str, *, condition: CfnCondition, listener_ready: IConstruct,
                            grace_period_seconds: int = 30) -> None:
        """While `condition` holds, the service registers its tasks' RADIUS port in the target group, and waits
        `grace_period_seconds` for the group's health checks. `listener_ready`: what the service is created after
        (ECS registers tasks only in a target group that already has a listener)."""
        service = cfn_resource(self.service)
        service.node.add_dependency(listener_ready)
        service.add_property_override("LoadBalancers", Fn.condition_if(condition.logical_id, [{
            "ContainerName": CONTAINER_NAME, "ContainerPort": self.radius_port, "TargetGroupArn": target_group_arn,
        }], Aws.NO_VALUE))
        service.add_property_override("HealthCheckGracePeriodSeconds",
                                      Fn.condition_if(condition.logical_id, grace_period_seconds, Aws.NO_VALUE))

    def start_after(self, *dependencies: IConstruct) -> None:
        """The service (and its scaling) is created only after these: its first image, the Duo keys in its
        secret."""
        for dependency in dependencies:
            self.service.node.add_dependency(dependency)


def task_statements(cluster: ecs.ICluster) -> list[iam.PolicyStatement]:
    """What listing and describing a cluster's tasks needs: ecs:ListTasks has no resource-level permissions, so its
    ecs:cluster condition limits it; ecs:DescribeTasks names the cluster's tasks."""
    return [
        iam.PolicyStatement(actions=["ecs:ListTasks"], resources=["*"],
                            conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}),
        iam.PolicyStatement(actions=["ecs:DescribeTasks"], resources=[
            f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:task/{cluster.cluster_name}/*"]),
    ]


def allow_dns_to(scope: Construct, prefix: str, group_id: str, directory_group_id: str) -> None:
    """DNS (UDP and TCP 53) from a group to the directory's: a VPC whose DHCP options name the domain controllers as
    its DNS servers resolves nothing for a group that may only reach TCP 443 (the Amazon-provided resolver is not
    subject to security groups, the controllers are)."""
    for protocol in ("udp", "tcp"):
        ec2.CfnSecurityGroupEgress(scope, f"{prefix}Dns{protocol.upper()}", group_id=group_id, ip_protocol=protocol,
                                   from_port=53, to_port=53, destination_security_group_id=directory_group_id,
                                   description=f"Duo MFA: DNS ({protocol.upper()}) to the directory's controllers")
