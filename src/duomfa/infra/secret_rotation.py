"""The rotation of the RADIUS shared secret: the rotation function in the proxies' subnets (it checks every proxy
with Status-Server before the new secret goes to the directory), and the Secrets Manager schedule that runs it
(docs/design.md, "The control plane's wiring")."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.image_function import ImageFunction, ImageFunctions, parameter_arn
from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.nag import ANY_RESOURCE, arn_pattern, logical_id, wildcards
from duomfa.infra.parameters import ROTATION_WINDOW_HOURS
from duomfa.infra.proxy_service import ProxyService, allow_dns_to, task_statements

ROTATION_WINDOW = f"{ROTATION_WINDOW_HOURS}h"  # Secrets Manager starts the rotation within it after the schedule's time
ROTATION_DEADLINE = Duration.minutes(10)  # testSecret's wait for every proxy; the proxies re-read every 30 s
LAMBDA_VPC_ACCESS = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                     "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]


class SecretRotation(Construct):
    """Exposes `function` (an ImageFunction), `security_group` and `schedule`."""

    def __init__(self, scope: Construct, construct_id: str, *, shared: ImageFunctions,
                 secret: secretsmanager.ISecret, proxies: ProxyService, updater: lambda_.IFunction,
                 state_parameter_name: str, radius_port: str, probe_source_cidrs: str, schedule: str,
                 metrics_namespace: str, directory_security_group_id: str = "") -> None:
        """`updater`: the directory updater, which finishSecret invokes; `probe_source_cidrs`: the proxies' subnets'
        CIDR blocks (the function runs there), comma-separated; `schedule`: the RotationSchedule parameter;
        `metrics_namespace`: where each rotation's outcome goes (RotationSucceeded, RotationFailed)."""
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        cluster, service = proxies.cluster, proxies.service
        vpc = cluster.vpc
        port = Token.as_number(radius_port)

        self.security_group = ec2.SecurityGroup(
            self, "RotationSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Duo MFA rotation: Status-Server to the proxies, HTTPS to the AWS APIs")
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                            "HTTPS to Secrets Manager, ECS, ECR, SSM and Lambda")
        ec2.CfnSecurityGroupEgress(self, "RotationToProxies", group_id=self.security_group.security_group_id,
                                   ip_protocol="udp", from_port=port, to_port=port,
                                   destination_security_group_id=proxies.security_group.security_group_id,
                                   description="Status-Server signed with the pending secret, to every proxy")
        # the proxies answer Status-Server only (never an Access-Request) from where the rotation Lambda runs
        proxies.allow_status_server_from(self.security_group.security_group_id, probe_source_cidrs, "FromRotation")
        allow_dns_to(self, "Rotation", self.security_group.security_group_id, directory_security_group_id)

        self.function = ImageFunction(
            self, "Rotation", shared=shared, handler="rotation",
            role_description="Duo MFA rotation: the RADIUS shared secret, one step at a time",
            description="Duo MFA: rotates the RADIUS shared secret without a failed login",
            permissions=[
                iam.PolicyStatement(
                    actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                             "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
                    resources=[secret.secret_arn]),
                iam.PolicyStatement(actions=["secretsmanager:GetRandomPassword"], resources=["*"]),
                shared.key_through("secretsmanager", ["kms:Decrypt", "kms:GenerateDataKey"]),
                iam.PolicyStatement(actions=["ecs:DescribeServices", "ecs:UpdateService"],
                                    resources=[service.service_arn]),
                iam.PolicyStatement(actions=["ecs:DescribeTaskDefinition"], resources=["*"]),
                *task_statements(cluster),
                iam.PolicyStatement(actions=["ecr:DescribeImages"], resources=[shared.repository.repository_arn]),
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[updater.function_arn]),
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameter_arn(state_parameter_name)]),
                # what AWSLambdaVPCAccessExecutionRole grants, as this role's own statement (no AWS managed policy)
                iam.PolicyStatement(actions=LAMBDA_VPC_ACCESS, resources=["*"]),
            ],
            environment={"CLUSTER": cluster.cluster_name, "SERVICE": service.service_arn,
                         "RADIUS_PORT": radius_port, "UPDATER_FUNCTION": updater.function_name,
                         "DEADLINE_SECONDS": str(int(ROTATION_DEADLINE.to_seconds())),
                         "STATE_PARAMETER": state_parameter_name, "METRICS_NAMESPACE": metrics_namespace},
            timeout=Duration.minutes(15), vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets),
            security_groups=[self.security_group])
        rotation = self.function.function
        permission = lambda_.CfnPermission(
            self, "SecretsManagerInvokesRotation", action="lambda:InvokeFunction",
            function_name=rotation.function_arn, principal="secretsmanager.amazonaws.com",
            source_account=Aws.ACCOUNT_ID, source_arn=secret.secret_arn)
        self.schedule = secretsmanager.CfnRotationSchedule(
            self, "RotationSchedule", secret_id=secret.secret_arn, rotation_lambda_arn=rotation.function_arn,
            # the first rotation waits for the schedule: the stack has just generated the secret
            rotate_immediately_on_update=False,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                schedule_expression=schedule, duration=ROTATION_WINDOW))
        self.schedule.node.add_dependency(permission)

        NagSuppressions.add_resource_suppressions(rotation, [
            {"id": "NIST.800.53.R5-LambdaDLQ", "reason": "Secrets Manager invokes it synchronously, step by step; "
                                                         "a failed step fails the rotation (the RotationErrors "
                                                         "alarm and the RotationFailed notice)"},
            {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "Secrets Manager runs one rotation of the secret "
                                                                 "at a time; a reserved limit would only turn a "
                                                                 "retried step into a throttled, failed rotation"},
        ])
        NagSuppressions.add_resource_suppressions(self.function.role, [
            wildcards("no resource-level permissions: secretsmanager:GetRandomPassword, ecs:DescribeTaskDefinition, "
                      "the Lambda VPC network-interface actions; ecs:ListTasks is limited to the cluster by its "
                      "ecs:cluster condition; ecs:DescribeTasks names the cluster's tasks (task/CLUSTER/*)",
                      [ANY_RESOURCE, arn_pattern("ecs", f"task/<{logical_id(cluster)}>/*")]),
        ], apply_to_children=True)
