"""The address tracker: writes the running proxies' addresses to the SSM address parameter as tasks start and stop,
after deployments and every 5 minutes (docs/redeploy.md)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.image_function import ImageFunction, ImageFunctions, parameter_arn
from duomfa.infra.logical_ids import leave_out_of_logical_ids
from duomfa.infra.nag import ANY_RESOURCE, OVERLAP_SAFE_FUNCTION_REASONS, arn_pattern, logical_id, wildcards
from duomfa.infra.proxy_service import ProxyService, task_statements

TRACKER_HEALTH_WAIT_SECONDS = 120  # within the tracker's 3-minute timeout, with Lambda's margin to spare
TRACK_SCHEDULE = Duration.minutes(5)


class AddressTracker(Construct):
    """The tracker function and what runs it: a proxy task starting or stopping, the service reaching a steady
    state, and a 5-minute schedule (a completed deployment too: ControlPlane). Exposes `function` (an
    ImageFunction) and `rules`."""

    def __init__(self, scope: Construct, construct_id: str, *, shared: ImageFunctions,
                 secret: secretsmanager.ISecret, proxies: ProxyService, address_parameter_name: str,
                 radius_port: str) -> None:
        super().__init__(scope, construct_id)
        leave_out_of_logical_ids(self)  # its resources keep the logical IDs they had as ControlPlane's own
        cluster, service = proxies.cluster, proxies.service
        self.function = ImageFunction(
            self, "Tracker", shared=shared, handler="addresses",
            role_description="Duo MFA address tracker: the running proxies' addresses to SSM",
            description="Duo MFA: writes the running proxies' addresses to the SSM address parameter",
            permissions=[
                iam.PolicyStatement(actions=["ecs:DescribeServices"], resources=[service.service_arn]),
                *task_statements(cluster),
                iam.PolicyStatement(actions=["secretsmanager:DescribeSecret"], resources=[secret.secret_arn]),
                iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:PutParameter"],
                                    resources=[parameter_arn(address_parameter_name)]),
            ],
            environment={"CLUSTER": cluster.cluster_name, "SERVICE": service.service_arn,
                         "SECRET_ARN": secret.secret_arn, "ADDRESS_PARAMETER": address_parameter_name,
                         "RADIUS_PORT": radius_port, "HEALTH_WAIT_SECONDS": str(TRACKER_HEALTH_WAIT_SECONDS)},
            # a run waits up to HEALTH_WAIT_SECONDS for a new task's health verdict (ECS sends no event for it)
            timeout=Duration.minutes(3),
            # no reserved concurrency: overlapping runs are safe (docs/redeploy.md)
            asynchronous=True)
        NagSuppressions.add_resource_suppressions(self.function.function, OVERLAP_SAFE_FUNCTION_REASONS)
        NagSuppressions.add_resource_suppressions(self.function.role, [
            wildcards("ecs:ListTasks has no resource-level permissions and is limited to the cluster by its "
                      "ecs:cluster condition; ecs:DescribeTasks names the cluster's tasks (task/CLUSTER/*)",
                      [ANY_RESOURCE, arn_pattern("ecs", f"task/<{logical_id(cluster)}>/*")]),
        ], apply_to_children=True)

        target = self.function.event_target
        self.rules = {
            # new tasks become addresses as soon as they are healthy, stopping ones leave before they stop
            "task_changed": events.Rule(
                self, "TaskStateChanged", description="Duo MFA: a proxy task started or is stopping (address tracker)",
                event_pattern=events.EventPattern(
                    source=["aws.ecs"], detail_type=["ECS Task State Change"],
                    detail={"clusterArn": [cluster.cluster_arn], "group": [f"service:{service.service_name}"]}),
                targets=[target()]),
            # ECS events that fired before these rules existed (a new stack) are not lost: the schedule repairs
            "track": events.Rule(
                self, "TrackAddresses", description="Duo MFA: run the address tracker even when no event came",
                schedule=events.Schedule.rate(TRACK_SCHEDULE), targets=[target()]),
            "steady_state": events.Rule(
                self, "ServiceSteadyState", description="Duo MFA: the proxies' service is steady (address tracker)",
                event_pattern=events.EventPattern(source=["aws.ecs"], resources=[service.service_arn],
                                                  detail_type=["ECS Service Action"],
                                                  detail={"eventName": ["SERVICE_STEADY_STATE"]}),
                targets=[target()]),
        }
