"""The control plane's wiring: the rotation, address-tracker and directory-updater Lambdas (run from the proxy's image),
the triggers that run them, RADIUS off when the stack is deleted, and the alarms on all of it (docs/design.md,
"The control plane's wiring")."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnCondition, CustomResource, Duration, Fn, RemovalPolicy, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import custom_resources as cr
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource
from duomfa.infra.image_pipeline import ImagePipeline
from duomfa.infra.inline_function import LAMBDA_RUNTIME, inline_source
from duomfa.infra.inline_provider import inline_framework_code
from duomfa.infra.load_balancer import RadiusLoadBalancer
from duomfa.infra.monitoring import TopicNotice
from duomfa.infra.nag import (
    ANY_RESOURCE,
    ROLE_POLICY_REASON,
    arn_pattern,
    arn_wildcard,
    custom_resource_function_reasons,
    logical_id,
    wildcards,
)
from duomfa.infra.parameters import ROTATION_WINDOW_HOURS
from duomfa.infra.proxy_service import ProxyService, allow_dns_to

# What each image function runs: `python -m awslambdaric MODULE.FUNCTION` (infra names control code by path only;
# tests/integration/test_lambda_handlers.py checks that each resolves in the installed package).
LAMBDA_ENTRYPOINT = ["python", "-m", "awslambdaric"]
HANDLERS = {
    "rotation": "duomfa.control.rotation.handler",
    "addresses": "duomfa.control.addresses.handler",
    "directory": "duomfa.control.directory.handler",
    "disable_radius": "duomfa.control.directory.custom_resource_handler",
}
FUNCTION_IMAGES_SOURCE = Path(__file__).resolve().parent.parent / "control" / "function_images.py"
PARAMETER_SEED = "none"  # neither the tracker's nor the updater's format: the updater never applies it
ROTATION_WINDOW = f"{ROTATION_WINDOW_HOURS}h"  # Secrets Manager starts the rotation within it after the schedule's time
ROTATION_DEADLINE = Duration.minutes(10)  # testSecret's wait for every proxy; the proxies re-read every 30 s
UPDATER_DEADLINE = Duration.minutes(14)  # polling DescribeDirectories; the handler allows at most 840 s
RETIRE_GRACE = Duration.minutes(15)  # the previous secret stays valid this long after the directory has the new one
UPDATER_SCHEDULE = Duration.minutes(5)
SECRET_SETTLE = Duration.minutes(3)  # a Completed counts for a secret change only this long after UpdateRadius
TRACKER_HEALTH_WAIT_SECONDS = 120  # within the tracker's 3-minute timeout, with Lambda's margin to spare
NOT_IN_SYNC_PERIODS = 6  # × UPDATER_SCHEDULE: 30 minutes not Completed as desired before the alarm
ERROR_PERIOD = Duration.minutes(5)
LAMBDA_VPC_ACCESS = ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
                     "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]


class ControlPlane(Construct):
    """Exposes `functions` (by HANDLERS key), `address_parameter`, `state_parameter`, `rotation_schedule`,
    `disable_radius` (the custom resource), `dead_letters`, `alarms` by name, and `secret_value_roles` (the roles that
    read or write the secret's value)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, secret: secretsmanager.ISecret,
                 repository: ecr.Repository, image_tag: str, first_image: CustomResource, pipeline: ImagePipeline,
                 proxies: ProxyService, topic: sns.ITopic, directory_id: str, address_parameter_name: str,
                 state_parameter_name: str, load_balancer: RadiusLoadBalancer, load_balancer_on: CfnCondition,
                 load_balancer_addresses_in_use: CfnCondition, probe_source_cidrs: str, radius_port: str,
                 radius_timeout: str, radius_retries: str, rotation_schedule: str, log_retention_days: float,
                 directory_mfa: str = "Enabled", directory_security_group_id: str = "") -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self._log_retention_days = log_retention_days
        self._first_image = first_image
        self._roles: list[iam.Role] = []
        cluster, service = proxies.cluster, proxies.service
        vpc = cluster.vpc
        self.functions: dict[str, lambda_.Function] = {}
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.metrics_namespace = Fn.join("/", ["DuoMfa", Aws.STACK_NAME])

        # --- where the tracker writes the proxies' addresses, and where the updater records what it applied ----
        self.address_parameter = ssm.CfnParameter(
            self, "AddressParameter", name=address_parameter_name, type="String", value=PARAMETER_SEED,
            description="Duo MFA: the proxies' addresses, port and secret version (written by the address tracker)")
        self.state_parameter = ssm.CfnParameter(
            self, "StateParameter", name=state_parameter_name, type="String", value=PARAMETER_SEED,
            description="Duo MFA: what the directory updater last applied to the directory (never the secret)")
        address_parameter_arn = parameter_arn(address_parameter_name)
        state_parameter_arn = parameter_arn(state_parameter_name)

        # --- the image the functions run ---------------------------------------------------------------------
        # Lambda pulls with its service principal; only functions of this account may (CDK's own grant for
        # DockerImageCode names the principal without a condition, so the code is built from an imported reference)
        repository.add_to_resource_policy(iam.PolicyStatement(
            sid="LambdaPullsControlPlaneImage", principals=[iam.ServicePrincipal("lambda.amazonaws.com")],
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            conditions={"StringLike": {"aws:sourceArn":
                                       f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{Aws.ACCOUNT_ID}:function:*"}}))
        self._image_repository = ecr.Repository.from_repository_attributes(
            self, "ImageRepository", repository_arn=repository.repository_arn,
            repository_name=repository.repository_name)
        self._image_tag = image_tag

        self.dead_letters = sqs.Queue(
            self, "DeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key, enforce_ssl=True,
            retention_period=Duration.days(14))
        NagSuppressions.add_resource_suppressions(self.dead_letters, [
            {"id": "AwsSolutions-SQS3", "reason": "this queue is the dead-letter queue (of the control-plane "
                                                  "Lambdas' asynchronous invocations and their EventBridge targets)"},
        ])

        port = Token.as_number(radius_port)
        directory_arn = f"arn:{Aws.PARTITION}:ds:{Aws.REGION}:{Aws.ACCOUNT_ID}:directory/{directory_id}"
        task_arns = f"arn:{Aws.PARTITION}:ecs:{Aws.REGION}:{Aws.ACCOUNT_ID}:task/{cluster.cluster_name}/*"
        in_cluster = {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}

        # --- directory updater -------------------------------------------------------------------------------
        updater_role = self._role("UpdaterRole", "Duo MFA directory updater: sets the directory's RADIUS settings")
        updater_role.add_to_policy(iam.PolicyStatement(actions=["ds:DescribeDirectories"], resources=["*"]))
        # DisableRadius: the DirectoryMfa switch (Disabled takes MFA off and keeps it off)
        updater_role.add_to_policy(iam.PolicyStatement(
            actions=["ds:EnableRadius", "ds:UpdateRadius", "ds:DisableRadius"], resources=[directory_arn]))
        updater_role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"],
                                                       resources=[address_parameter_arn, state_parameter_arn]))
        updater_role.add_to_policy(iam.PolicyStatement(actions=["ssm:PutParameter"], resources=[state_parameter_arn]))
        # reads the current secret; tags the previous one for retirement; writes the directory's domain controllers
        # into the secret's radius_clients (a new AWSCURRENT version with the same shared secret, outside rotations)
        updater_role.add_to_policy(iam.PolicyStatement(
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:TagResource",
                     "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
            resources=[secret.secret_arn]))
        updater_role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
        self._allow_key(updater_role, ["kms:Decrypt", "kms:GenerateDataKey"], "secretsmanager")
        self._allow_key(updater_role, ["kms:Decrypt", "kms:GenerateDataKey"], "sns")  # the encrypted topic
        updater_environment = {
            "DIRECTORY_ID": directory_id, "SECRET_ARN": secret.secret_arn,
            "ADDRESS_PARAMETER": address_parameter_name, "STATE_PARAMETER": state_parameter_name,
            "TOPIC_ARN": topic.topic_arn, "RADIUS_PORT": radius_port, "RADIUS_TIMEOUT": radius_timeout,
            "RADIUS_RETRIES": radius_retries, "RETIRE_GRACE_SECONDS": str(int(RETIRE_GRACE.to_seconds())),
            "DEADLINE_SECONDS": str(int(UPDATER_DEADLINE.to_seconds())),
            "DIRECTORY_MFA": directory_mfa, "SECRET_SETTLE_SECONDS": str(int(SECRET_SETTLE.to_seconds())),
            "METRICS_NAMESPACE": self.metrics_namespace,
            # with the load balancer on, the directory gets its fixed addresses, or else its DNS name
            "NLB_ADDRESSES": Fn.condition_if(
                load_balancer_on.logical_id,
                Fn.condition_if(load_balancer_addresses_in_use.logical_id,
                                Fn.join(",", list(load_balancer.addresses)), load_balancer.dns_name),
                Aws.NO_VALUE).to_string(),
        }
        updater = self._image_function(
            "directory", "Updater", role=updater_role, environment=updater_environment, timeout=Duration.minutes(15),
            # no reserved concurrency (it fails a first create in accounts with the minimum quota): overlapping runs
            # each converge on the latest desired settings (docs/design.md, "The directory updater")
            # the schedule runs it again within 5 minutes, and each failure has already sent its SNS notice
            retry_attempts=0, asynchronous=True,
            description="Duo MFA: converges the directory's RADIUS settings on the proxies and the current secret")

        # --- RADIUS off before the proxies go (stack deletion) -----------------------------------------------
        disable_role = self._role("DisableRadiusRole", "Duo MFA: turns RADIUS off on the directory on stack deletion")
        disable_role.add_to_policy(iam.PolicyStatement(actions=["ds:DescribeDirectories"], resources=["*"]))
        disable_role.add_to_policy(iam.PolicyStatement(actions=["ds:DisableRadius"], resources=[directory_arn]))
        disable_function = self._image_function(
            "disable_radius", "DisableRadiusHandler", role=disable_role, environment={"DIRECTORY_ID": directory_id},
            timeout=Duration.minutes(2),
            description="Duo MFA: DisableRadius on the directory when the stack is deleted")
        self.disable_radius = self._disable_radius_resource(disable_function, directory_id)
        # deleted before the service, so the directory never points at proxies that are gone
        self.disable_radius.node.add_dependency(service)
        # the updater (and so every trigger naming it) is deleted before RADIUS is turned off, and never re-enables it
        updater.node.add_dependency(self.disable_radius)

        # --- rotation ----------------------------------------------------------------------------------------
        self.rotation_security_group = ec2.SecurityGroup(
            self, "RotationSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Duo MFA rotation: Status-Server to the proxies, HTTPS to the AWS APIs")
        self.rotation_security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                                     "HTTPS to Secrets Manager, ECS, ECR, SSM and Lambda")
        ec2.CfnSecurityGroupEgress(self, "RotationToProxies",
                                   group_id=self.rotation_security_group.security_group_id, ip_protocol="udp",
                                   from_port=port, to_port=port,
                                   destination_security_group_id=proxies.security_group.security_group_id,
                                   description="Status-Server signed with the pending secret, to every proxy")
        # the proxies answer Status-Server only (never an Access-Request) from where the rotation Lambda runs
        proxies.allow_status_server_from(self.rotation_security_group.security_group_id, probe_source_cidrs,
                                         "FromRotation")
        allow_dns_to(self, "Rotation", self.rotation_security_group.security_group_id, directory_security_group_id)

        rotation_role = self._role("RotationRole", "Duo MFA rotation: the RADIUS shared secret, one step at a time")
        rotation_role.add_to_policy(iam.PolicyStatement(
            actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                     "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
            resources=[secret.secret_arn]))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:GetRandomPassword"],
                                                        resources=["*"]))
        self._allow_key(rotation_role, ["kms:Decrypt", "kms:GenerateDataKey"], "secretsmanager")
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeServices", "ecs:UpdateService"],
                                                        resources=[service.service_arn]))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeTaskDefinition"], resources=["*"]))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["ecs:ListTasks"], resources=["*"],
                                                        conditions=in_cluster))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeTasks"], resources=[task_arns]))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["ecr:DescribeImages"],
                                                        resources=[repository.repository_arn]))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                        resources=[updater.function_arn]))
        rotation_role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"],
                                                        resources=[state_parameter_arn]))
        # what AWSLambdaVPCAccessExecutionRole grants, as this role's own statement (no AWS managed policy)
        rotation_role.add_to_policy(iam.PolicyStatement(actions=LAMBDA_VPC_ACCESS, resources=["*"]))
        rotation = self._image_function(
            "rotation", "Rotation", role=rotation_role, timeout=Duration.minutes(15),
            environment={"CLUSTER": cluster.cluster_name, "SERVICE": service.service_arn,
                         "RADIUS_PORT": radius_port, "UPDATER_FUNCTION": updater.function_name,
                         "DEADLINE_SECONDS": str(int(ROTATION_DEADLINE.to_seconds())),
                         "STATE_PARAMETER": state_parameter_name},
            vpc=vpc, vpc_subnets=ec2.SubnetSelection(subnets=vpc.private_subnets),
            security_groups=[self.rotation_security_group],
            description="Duo MFA: rotates the RADIUS shared secret without a failed login")
        permission = lambda_.CfnPermission(
            self, "SecretsManagerInvokesRotation", action="lambda:InvokeFunction",
            function_name=rotation.function_arn, principal="secretsmanager.amazonaws.com",
            source_account=Aws.ACCOUNT_ID, source_arn=secret.secret_arn)
        self.rotation_schedule = secretsmanager.CfnRotationSchedule(
            self, "RotationSchedule", secret_id=secret.secret_arn, rotation_lambda_arn=rotation.function_arn,
            # the first rotation waits for the schedule: the stack has just generated the secret
            rotate_immediately_on_update=False,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                schedule_expression=rotation_schedule, duration=ROTATION_WINDOW))
        self.rotation_schedule.node.add_dependency(permission)

        # --- address tracker ---------------------------------------------------------------------------------
        tracker_role = self._role("TrackerRole", "Duo MFA address tracker: the running proxies' addresses to SSM")
        tracker_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeServices"],
                                                       resources=[service.service_arn]))
        tracker_role.add_to_policy(iam.PolicyStatement(actions=["ecs:ListTasks"], resources=["*"],
                                                       conditions=in_cluster))
        tracker_role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeTasks"], resources=[task_arns]))
        tracker_role.add_to_policy(iam.PolicyStatement(actions=["secretsmanager:DescribeSecret"],
                                                       resources=[secret.secret_arn]))
        tracker_role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"],
                                                       resources=[address_parameter_arn]))
        tracker = self._image_function(
            # a run waits up to HEALTH_WAIT_SECONDS for a new task's health verdict (ECS sends no event for it)
            "addresses", "Tracker", role=tracker_role, timeout=Duration.minutes(3),
            environment={"CLUSTER": cluster.cluster_name, "SERVICE": service.service_arn,
                         "SECRET_ARN": secret.secret_arn, "ADDRESS_PARAMETER": address_parameter_name,
                         "RADIUS_PORT": radius_port, "HEALTH_WAIT_SECONDS": str(TRACKER_HEALTH_WAIT_SECONDS)},
            # no reserved concurrency: overlapping runs are safe (docs/redeploy.md)
            asynchronous=True,
            description="Duo MFA: writes the running proxies' addresses to the SSM address parameter")

        # the tracker only describes the secret: its value is read and written by these (ProxySecret's resource policy)
        self.secret_value_roles: list[iam.IRole] = [rotation_role, updater_role]

        # --- what runs them ----------------------------------------------------------------------------------
        def invoke(function: lambda_.IFunction) -> targets.LambdaFunction:
            return targets.LambdaFunction(function, dead_letter_queue=self.dead_letters, retry_attempts=2,
                                          max_event_age=Duration.hours(1))

        ecs_event = {"source": ["aws.ecs"], "resources": [service.service_arn]}
        self.rules = {
            # new tasks become addresses as soon as they are healthy, stopping ones leave before they stop
            "task_changed": events.Rule(
                self, "TaskStateChanged", description="Duo MFA: a proxy task started or is stopping (address tracker)",
                event_pattern=events.EventPattern(
                    source=["aws.ecs"], detail_type=["ECS Task State Change"],
                    detail={"clusterArn": [cluster.cluster_arn], "group": [f"service:{service.service_name}"]}),
                targets=[invoke(tracker)]),
            # ECS events that fired before these rules existed (a new stack) are not lost: the schedule repairs
            "track": events.Rule(
                self, "TrackAddresses", description="Duo MFA: run the address tracker even when no event came",
                schedule=events.Schedule.rate(UPDATER_SCHEDULE), targets=[invoke(tracker)]),
            "steady_state": events.Rule(
                self, "ServiceSteadyState", description="Duo MFA: the proxies' service is steady (address tracker)",
                event_pattern=events.EventPattern(**ecs_event, detail_type=["ECS Service Action"],
                                                  detail={"eventName": ["SERVICE_STEADY_STATE"]}),
                targets=[invoke(tracker)]),
            "deployment_completed": events.Rule(
                self, "DeploymentCompleted", description="Duo MFA: a deployment of the proxies completed",
                event_pattern=events.EventPattern(**ecs_event, detail_type=["ECS Deployment State Change"],
                                                  detail={"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]}),
                targets=[invoke(tracker), invoke(updater)]),
            "addresses_changed": events.Rule(
                self, "AddressesChanged", description="Duo MFA: the address tracker wrote new proxy addresses",
                event_pattern=events.EventPattern(source=["aws.ssm"], detail_type=["Parameter Store Change"],
                                                  detail={"name": [address_parameter_name],
                                                          "operation": ["Create", "Update"]}),
                targets=[invoke(updater)]),
            "reconcile": events.Rule(
                self, "Reconcile", description="Duo MFA: run the directory updater even when no event came",
                schedule=events.Schedule.rate(UPDATER_SCHEDULE), targets=[invoke(updater)]),
        }

        # --- keeping the image functions on an image that exists ---------------------------------------------
        refresher = self._function_images(repository)
        pipeline.rules["succeeded"].add_target(invoke(refresher))

        # --- alarms to the admins --------------------------------------------------------------------------------
        failed = events.Rule(
            self, "RotationFailed", description="Duo MFA: tell the admins when a rotation of the secret fails",
            event_pattern=events.EventPattern(
                source=["aws.secretsmanager"], detail_type=["AWS Service Event via CloudTrail"],
                detail={"eventName": ["RotationFailed"], "additionalEventData": {"SecretId": [secret.secret_arn]}}))
        failed.add_target(TopicNotice(topic, message=events.RuleTargetInput.from_text(
            f"Duo MFA: the rotation of the RADIUS shared secret failed in {Aws.REGION}: "
            f"{events.EventField.from_path('$.detail.errorMessage')}. Logins go on with the current secret (the "
            "proxies accept it until a rotation finishes). The rotation Lambda's log says which step failed and why; "
            "`duomfa doctor --stack STACK` checks the proxies and the directory.")))
        self.rules["rotation_failed"] = failed
        errors = {
            "RotationErrors": (rotation, "The secret rotation Lambda failed a step: the rotation stops and nothing "
                                         "is promoted; logins go on with the current secret. See its log."),
            "AddressTrackerErrors": (tracker, "The address tracker failed: the directory may keep old proxy "
                                              "addresses. See its log."),
            "DirectoryUpdaterErrors": (updater, "The directory updater failed (RadiusStatus Failed, a deadline, or "
                                                "an error); its SNS notice says what it found. It retries every 5 "
                                                "minutes."),
            "FunctionImagesErrors": (refresher, "The control-plane Lambdas could not be moved to the newest image; "
                                                "they fail once their image expires (ImageRetentionDays)."),
        }
        for name, (function, description) in errors.items():
            self.alarms[name] = cloudwatch.Alarm(
                self, name, metric=function.metric_errors(period=ERROR_PERIOD, statistic="Sum"), threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)
        # the updater publishes RadiusInSync each run (1: Completed as desired, or paused by DirectoryMfa)
        in_sync = cloudwatch.Metric(namespace=self.metrics_namespace, metric_name="RadiusInSync",
                                    dimensions_map={"DirectoryId": directory_id}, statistic="Maximum",
                                    period=UPDATER_SCHEDULE)
        self.alarms["DirectoryRadiusNotInSync"] = cloudwatch.Alarm(
            self, "DirectoryRadiusNotInSync", metric=in_sync, threshold=1,
            evaluation_periods=NOT_IN_SYNC_PERIODS, datapoints_to_alarm=NOT_IN_SYNC_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # no data: the updater did not run at all, which is as bad
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description="The directory's RADIUS settings have not been Completed as desired for 30 minutes "
                              "(not configured, Creating, Failed, or different from the proxies), or the directory "
                              "updater has not run. MFA logins may fail. The updater's log and SNS notices say what "
                              "it found; run `duomfa doctor --stack STACK`. Not raised while DirectoryMfa is "
                              "Disabled.")
        self.alarms["DeadLetters"] = cloudwatch.Alarm(
            self, "DeadLettersWaiting",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(period=ERROR_PERIOD,
                                                                                   statistic="Maximum"),
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="A control-plane event could not be handled after its retries; the queue keeps it 14 "
                              "days. Look at it (and the functions' logs), then purge the queue.")
        action = cloudwatch_actions.SnsAction(topic)
        for alarm in self.alarms.values():
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

        NagSuppressions.add_resource_suppressions(rotation, [
            {"id": "NIST.800.53.R5-LambdaDLQ", "reason": "Secrets Manager invokes it synchronously, step by step; "
                                                         "a failed step fails the rotation (the RotationErrors "
                                                         "alarm and the RotationFailed notice)"},
            {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "Secrets Manager runs one rotation of the secret "
                                                                 "at a time; a reserved limit would only turn a "
                                                                 "retried step into a throttled, failed rotation"},
        ])
        NagSuppressions.add_resource_suppressions(disable_function, custom_resource_function_reasons(
            "it only calls the Directory Service API", invoked_by="the provider framework"))
        for function in (tracker, updater):
            NagSuppressions.add_resource_suppressions(function, [
                {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": "it calls only AWS APIs (ECS, SSM, Secrets "
                                                                   "Manager, Directory Service, SNS) and needs "
                                                                   "nothing inside the VPC"},
                {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "reserving concurrency fails a first create in "
                                                                     "accounts with the minimum quota; overlapping "
                                                                     "runs are safe by design (each re-reads the "
                                                                     "live state and converges on the latest)"},
            ])
        cluster_tasks = arn_pattern("ecs", f"task/<{logical_id(cluster)}>/*")
        NagSuppressions.add_resource_suppressions(rotation_role, [
            wildcards("no resource-level permissions: secretsmanager:GetRandomPassword, ecs:DescribeTaskDefinition, "
                      "the Lambda VPC network-interface actions; ecs:ListTasks is limited to the cluster by its "
                      "ecs:cluster condition; ecs:DescribeTasks names the cluster's tasks (task/CLUSTER/*)",
                      [ANY_RESOURCE, cluster_tasks]),
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(tracker_role, [
            wildcards("ecs:ListTasks has no resource-level permissions and is limited to the cluster by its "
                      "ecs:cluster condition; ecs:DescribeTasks names the cluster's tasks (task/CLUSTER/*)",
                      [ANY_RESOURCE, cluster_tasks]),
        ], apply_to_children=True)
        for role in (updater_role, disable_role):
            NagSuppressions.add_resource_suppressions(role, [
                wildcards("ds:DescribeDirectories has no resource-level permissions; the RADIUS changes name the one "
                          "directory",
                          [ANY_RESOURCE]),
            ], apply_to_children=True)
        for role in self._roles:
            NagSuppressions.add_resource_suppressions(role, [
                {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
            ], apply_to_children=True)

    # --- building blocks --------------------------------------------------------------------------------------

    def _log_group(self, name: str) -> logs.LogGroup:
        log_group = logs.LogGroup(self, f"{name}Logs", encryption_key=self._key, retention=logs.RetentionDays.ONE_YEAR,
                                  removal_policy=RemovalPolicy.DESTROY)
        # retention follows the LogRetentionDays parameter; RetentionDays above only satisfies the L2's typing
        cfn_resource(log_group).add_property_override("RetentionInDays", self._log_retention_days)
        return log_group

    def _role(self, name: str, description: str) -> iam.Role:
        role = iam.Role(self, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
        self._roles.append(role)  # their grant policies get the IAMNoInlinePolicy suppression once they exist
        return role

    def _allow_key(self, role: iam.Role, actions: list[str], via_service: str) -> None:
        """The deployment's key, only through one service (Secrets Manager for the secret, SNS for the topic)."""
        role.add_to_policy(iam.PolicyStatement(
            actions=actions, resources=[self._key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"{via_service}.{Aws.REGION}.amazonaws.com"}}))

    def _image_function(self, handler: str, name: str, *, role: iam.Role, environment: dict[str, str],
                        timeout: Duration, description: str, asynchronous: bool = False,
                        **options) -> lambda_.DockerImageFunction:
        """A function running HANDLERS[handler] from the proxy image, with its own encrypted log group and
        environment, created only once the image exists; `asynchronous`: failed invocations go to the
        dead-letter queue."""
        log_group = self._log_group(name)
        log_group.grant_write(role)
        self._allow_environment(role, asynchronous)
        code = lambda_.DockerImageCode.from_ecr(self._image_repository, tag_or_digest=self._image_tag,
                                                entrypoint=LAMBDA_ENTRYPOINT, cmd=[HANDLERS[handler]])
        function = lambda_.DockerImageFunction(
            self, name, code=code, role=role, environment=environment, environment_encryption=self._key,
            timeout=timeout, memory_size=256, architecture=lambda_.Architecture.X86_64, log_group=log_group,
            dead_letter_queue=self.dead_letters if asynchronous else None, description=description, **options)
        function.node.add_dependency(self._first_image)
        self.functions[handler] = function
        return function

    def _allow_environment(self, role: iam.Role, asynchronous: bool) -> None:
        """The key for the function's encrypted environment, and for the encrypted dead-letter queue."""
        self._allow_key(role, ["kms:Decrypt"], "lambda")
        if asynchronous:
            self._allow_key(role, ["kms:Decrypt", "kms:GenerateDataKey"], "sqs")

    def _disable_radius_resource(self, handler: lambda_.IFunction, directory_id: str) -> CustomResource:
        """The custom resource whose deletion turns RADIUS off, on the provider framework (inline, no asset)."""
        log_group = self._log_group("DisableRadiusProvider")
        framework_role = self._role("DisableRadiusFrameworkRole",
                                    "Duo MFA: custom-resource provider framework (DisableRadius on delete)")
        log_group.grant_write(framework_role)
        self._allow_environment(framework_role, asynchronous=False)
        provider = cr.Provider(self, "DisableRadiusProvider", on_event_handler=handler, log_group=log_group,
                               framework_on_event_role=framework_role, provider_function_env_encryption=self._key)
        inline_framework_code(provider)
        NagSuppressions.add_resource_suppressions(framework_role, [
            wildcards("CDK's invoke grant names the one handler function with ':*' (its versions and aliases) and "
                      "nothing else",
                      [arn_wildcard(handler, ":*")]),
        ], apply_to_children=True)
        framework = provider.node.find_child("framework-onEvent")
        NagSuppressions.add_resource_suppressions(
            framework, custom_resource_function_reasons("it only invokes the handler function"))
        return CustomResource(self, "DisableRadiusOnDelete", service_token=provider.service_token,
                              resource_type="Custom::DisableRadiusOnDelete",
                              properties={"DirectoryId": directory_id})

    def _function_images(self, repository: ecr.IRepository) -> lambda_.Function:
        """The inline function that moves the image functions to `latest` after each successful build."""
        role = self._role("FunctionImagesRole", "Duo MFA: moves the control-plane Lambdas to the newest image")
        names = [function.function_name for function in self.functions.values()]
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:UpdateFunctionCode"],
                                               resources=[f.function_arn for f in self.functions.values()]))
        # Lambda reads the image with the caller's access, and keeps the functions' environment encrypted with the key
        role.add_to_policy(iam.PolicyStatement(actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                                               resources=[repository.repository_arn]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:CreateGrant"], resources=[self._key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"lambda.{Aws.REGION}.amazonaws.com"}}))
        log_group = self._log_group("FunctionImages")
        log_group.grant_write(role)
        self._allow_environment(role, asynchronous=True)
        function = lambda_.Function(
            self, "FunctionImages", runtime=LAMBDA_RUNTIME, handler="index.handler",
            code=lambda_.Code.from_inline(inline_source(FUNCTION_IMAGES_SOURCE)),
            timeout=Duration.minutes(5), memory_size=128, role=role, log_group=log_group,
            environment={"FUNCTIONS": Fn.join(",", names),
                         "IMAGE_URI": repository.repository_uri_for_tag(self._image_tag)},
            environment_encryption=self._key, dead_letter_queue=self.dead_letters,
            description="Duo MFA: moves the control-plane Lambdas to the image the pipeline just built")
        NagSuppressions.add_resource_suppressions(function, [
            {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": "it only calls the Lambda API"},
            {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "runs once a week; reserving concurrency fails in "
                                                                 "accounts with the minimum quota"},
        ])
        return function


def parameter_arn(name: str) -> str:
    """The ARN of an SSM parameter whose name starts with "/" (a hierarchy), as ssm:GetParameter authorises it."""
    return f"arn:{Aws.PARTITION}:ssm:{Aws.REGION}:{Aws.ACCOUNT_ID}:parameter{name}"
