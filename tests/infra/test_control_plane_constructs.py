"""The control plane's constructs one at a time, each on a bare stack with stand-ins for what it is given (a key, a
secret, the image repository, a VPC and the proxies): what that construct alone creates. The wiring of all of them
in both variants is in test_control_plane.py."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from aws_cdk import (
    App,
    CfnCondition,
    CfnElement,
    CfnParameter,
    CfnWaitConditionHandle,
    CustomResource,
    Duration,
    Fn,
    Stack,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from constructs import IConstruct

from cdk_synth import principals, ref, statements
from duomfa.infra.address_tracker import AddressTracker
from duomfa.infra.control_plane_alarms import ControlPlaneAlarms
from duomfa.infra.directory import DirectoryEndpoint
from duomfa.infra.directory_updater import DirectoryUpdater
from duomfa.infra.disable_radius import DisableRadius
from duomfa.infra.function_images import FunctionImages
from duomfa.infra.image_function import HANDLERS, LAMBDA_ENTRYPOINT, ImageFunction, ImageFunctions
from duomfa.infra.image_repository import ImageRepository
from duomfa.infra.nag import logical_id
from duomfa.infra.proxy_service import HTTP_PORT, ProxyService
from duomfa.infra.secret_rotation import SecretRotation

DIRECTORY_ID = "d-1234567890"
ADDRESSES, STATE = "/duomfa/bare/radius-servers", "/duomfa/bare/directory-state"


@dataclass
class Bare:
    """A stack with what the control plane's constructs are given, and nothing of the control plane."""

    stack: Stack
    key: kms.Key
    secret: secretsmanager.Secret
    image: ImageRepository
    first_image: CustomResource
    proxies: ProxyService
    shared: ImageFunctions
    topic: sns.Topic
    radius_port: str

    def template(self) -> dict:
        return Template.from_stack(self.stack).to_json()

    def id_of(self, construct: IConstruct) -> str:
        if isinstance(construct, CfnElement):
            return self.stack.resolve(construct.logical_id)
        return logical_id(construct)


def bare_stack() -> Bare:
    stack = Stack(App(analytics_reporting=False, builtin_cloud_formation_validation=False), "Bare")

    def number(name: str, default: int) -> str:
        return CfnParameter(stack, name, type="Number", default=default).value_as_string

    key = kms.Key(stack, "Key")
    secret = secretsmanager.Secret(stack, "Secret", encryption_key=key)
    image = ImageRepository(stack, "Image", key=key, retention_days=30)
    first_image = CustomResource(stack, "FirstImage", service_token="arn:aws:lambda:us-east-1:123456789012:function:x",
                                 resource_type="Custom::FirstImage")
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-1", availability_zones=["us-east-1a", "us-east-1b"],
                                      private_subnet_ids=["subnet-1", "subnet-2"])
    directory = DirectoryEndpoint(directory_id=DIRECTORY_ID, vpc_id="vpc-1", subnet_ids=("subnet-1", "subnet-2"),
                                  security_group_id="sg-directory",
                                  domain_controller_addresses="10.0.0.10,10.0.1.10")
    radius_port = number("RadiusPort", 1812)
    proxies = ProxyService(stack, "Proxies", vpc=vpc, directory=directory, secret=secret, key=key,
                           repository=image.repository, image_tag=image.image_tag, radius_port=radius_port,
                           failmode="safe", proxy_count=number("ProxyCount", 2), max_tasks=number("MaxTasks", 4),
                           cpu=number("TaskCpu", 256), memory=number("TaskMemory", 512),
                           log_retention_days=number("LogRetentionDays", 30))
    shared = ImageFunctions(stack, "ImageFunctions", key=key, image=image, first_image=first_image,
                            log_retention_days=CfnParameter(stack, "Retention", type="Number",
                                                            default=30).value_as_number)
    return Bare(stack, key, secret, image, first_image, proxies, shared, sns.Topic(stack, "Topic"), radius_port)


def role_statements(template: dict, role_id: str) -> list[dict]:
    return [statement for policy in template["Resources"].values() if policy["Type"] == "AWS::IAM::Policy"
            and ref(role_id) in policy["Properties"]["Roles"]
            for statement in statements(policy["Properties"]["PolicyDocument"])]


def granted(template: dict, role_id: str) -> dict[str, list]:
    """{action: [resource, …]} of a role."""
    found: dict[str, list] = {}
    for statement in role_statements(template, role_id):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            found.setdefault(action, []).extend(resources)
    return found


def of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def rules_targeting(template: dict, function_id: str) -> list[dict]:
    return [r["Properties"] for r in of_type(template, "AWS::Events::Rule").values()
            if {"Fn::GetAtt": [function_id, "Arn"]} in [t["Arn"] for t in r["Properties"]["Targets"]]]


# --- ImageFunctions and ImageFunction -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def probe():
    bare = bare_stack()
    function = ImageFunction(
        bare.stack, "Probe", shared=bare.shared, handler="addresses", description="a probe", role_description="probe",
        permissions=[bare.shared.key_through("secretsmanager", ["kms:Decrypt"])], environment={"A": "1"},
        timeout=Duration.minutes(1), asynchronous=True)
    return bare, function, bare.template()


def test_an_image_function_runs_its_handler_from_the_image_once_the_first_image_exists(probe):
    bare, function, template = probe
    resource = template["Resources"][bare.id_of(function.function)]
    properties = resource["Properties"]
    assert properties["PackageType"] == "Image"
    assert properties["ImageConfig"] == {"EntryPoint": LAMBDA_ENTRYPOINT, "Command": [HANDLERS["addresses"]]}
    assert json.dumps(properties["Code"]["ImageUri"]).endswith(':latest"]]}')
    assert bare.id_of(bare.first_image) in resource["DependsOn"]
    key = {"Fn::GetAtt": [bare.id_of(bare.key), "Arn"]}
    assert properties["KmsKeyArn"] == key and properties["Environment"]["Variables"] == {"A": "1"}
    log_group = template["Resources"][properties["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert log_group["KmsKeyId"] == key and log_group["RetentionInDays"] == ref("Retention")
    assert properties["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [bare.id_of(bare.shared.dead_letters),
                                                                           "Arn"]}}
    assert bare.shared.functions == {"addresses": function.function}  # the refresher's list


def test_an_image_function_s_role_gets_its_permissions_first_then_logs_and_the_key_through_lambda_and_sqs(probe):
    bare, function, template = probe
    found = role_statements(template, bare.id_of(function.role))
    vias = [s["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0] for s in found if "Condition" in s]
    assert vias == ["secretsmanager.", "lambda.", "sqs."]
    assert found[0]["Action"] == "kms:Decrypt"
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= set(found[1]["Action"])
    assert found[-1]["Action"] == "sqs:SendMessage"  # the function's own dead-letter queue


def test_only_this_account_s_functions_may_pull_the_image_and_dead_letters_are_encrypted(probe):
    bare, _, template = probe
    policy = statements(template["Resources"][bare.id_of(bare.image.repository)]["Properties"]["RepositoryPolicyText"])
    (pull,) = [s for s in policy if "lambda.amazonaws.com" in principals(s, "Service")]
    assert sorted(pull["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert json.dumps(pull["Condition"]["StringLike"]["aws:sourceArn"]).endswith(':function:*"]]}')
    queue = template["Resources"][bare.id_of(bare.shared.dead_letters)]["Properties"]
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [bare.id_of(bare.key), "Arn"]}
    assert queue["MessageRetentionPeriod"] == 14 * 86400


# --- DirectoryUpdater -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def updater():
    bare = bare_stack()
    updater = DirectoryUpdater(
        bare.stack, "Updater", shared=bare.shared, secret=bare.secret, topic=bare.topic, directory_id=DIRECTORY_ID,
        address_parameter_name=ADDRESSES, state_parameter_name=STATE, radius_port=bare.radius_port,
        radius_timeout="10", radius_retries="3", directory_mfa="Enabled", load_balancer_addresses="10.0.0.5",
        metrics_namespace="DuoMfa/bare")
    guard = CfnWaitConditionHandle(bare.stack, "Guard")
    updater.deleted_before(guard)
    return bare, updater, guard, bare.template()


def test_the_updater_runs_on_a_change_of_the_address_parameter_and_every_five_minutes(updater):
    bare, construct, _, template = updater
    rules = rules_targeting(template, bare.id_of(construct.function.function))
    assert sorted(r.get("ScheduleExpression", "") for r in rules) == ["", "rate(5 minutes)"]
    (changed,) = [r["EventPattern"] for r in rules if "EventPattern" in r]
    assert changed == {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"],
                       "detail": {"name": [ADDRESSES], "operation": ["Create", "Update"]}}
    for rule in rules:
        (target,) = rule["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [bare.id_of(bare.shared.dead_letters), "Arn"]}}


def test_the_updater_may_change_only_its_directory_and_write_only_its_state(updater):
    bare, construct, _, template = updater
    allowed = granted(template, bare.id_of(construct.function.role))
    for action in ("ds:EnableRadius", "ds:UpdateRadius", "ds:DisableRadius"):
        (directory,) = allowed[action]
        assert directory["Fn::Join"][1][-1] == f":directory/{DIRECTORY_ID}"
    (state,) = allowed["ssm:PutParameter"]
    assert state["Fn::Join"][1][-1] == f":parameter{STATE}"
    assert allowed["sns:Publish"] == [ref(bare.id_of(bare.topic))]
    assert allowed["secretsmanager:PutSecretValue"] == [ref(bare.id_of(bare.secret))]


def test_the_updater_is_deleted_before_what_it_is_told_and_is_not_retried_by_lambda(updater):
    bare, construct, guard, template = updater
    function_id = bare.id_of(construct.function.function)
    assert bare.id_of(guard) in template["Resources"][function_id]["DependsOn"]
    (config,) = of_type(template, "AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["MaximumRetryAttempts"] == 0
    variables = template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    assert variables["NLB_ADDRESSES"] == "10.0.0.5" and variables["METRICS_NAMESPACE"] == "DuoMfa/bare"
    metric = construct.metric_radius_in_sync()
    assert (metric.namespace, metric.metric_name, metric.dimensions) == (
        "DuoMfa/bare", "RadiusInSync", {"DirectoryId": DIRECTORY_ID})


# --- DisableRadius --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def disable_radius():
    bare = bare_stack()
    construct = DisableRadius(bare.stack, "DisableRadius", shared=bare.shared, directory_id=DIRECTORY_ID,
                              service=bare.proxies.service)
    return bare, construct, bare.template()


def test_radius_goes_off_through_a_custom_resource_deleted_before_the_service(disable_radius):
    bare, construct, template = disable_radius
    (resource_id, resource), = of_type(template, "Custom::DisableRadiusOnDelete").items()
    assert resource_id == bare.id_of(construct.resource)
    assert resource["Properties"]["DirectoryId"] == DIRECTORY_ID
    assert logical_id(bare.proxies.service) in resource["DependsOn"]
    provider = template["Resources"][resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]["Properties"]
    assert "ZipFile" in provider["Code"]  # no asset bucket
    assert provider["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"] == {
        "Fn::GetAtt": [bare.id_of(construct.function.function), "Arn"]}
    assert set(granted(template, bare.id_of(construct.function.role))) - {
        "logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt"} == {"ds:DescribeDirectories", "ds:DisableRadius"}


# --- SecretRotation -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rotation():
    bare = bare_stack()
    updater = lambda_.Function.from_function_arn(bare.stack, "Updater",
                                                 "arn:aws:lambda:us-east-1:123456789012:function:updater")
    construct = SecretRotation(bare.stack, "Rotation", shared=bare.shared, secret=bare.secret, proxies=bare.proxies,
                               updater=updater, state_parameter_name=STATE, radius_port=bare.radius_port,
                               probe_source_cidrs="10.0.0.0/24,10.0.1.0/24", schedule="rate(7 days)",
                               metrics_namespace="DuoMfa/bare", directory_security_group_id="sg-directory")
    return bare, construct, bare.template()


def test_the_secret_rotates_on_its_schedule_through_the_rotation_function(rotation):
    bare, construct, template = rotation
    function_id = bare.id_of(construct.function.function)
    (schedule_id, schedule), = of_type(template, "AWS::SecretsManager::RotationSchedule").items()
    assert schedule["Properties"]["RotationLambdaARN"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(7 days)"
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is False
    (permission_id, permission), = of_type(template, "AWS::Lambda::Permission").items()
    assert permission["Properties"]["Principal"] == "secretsmanager.amazonaws.com"
    assert permission_id in schedule["DependsOn"]
    allowed = granted(template, bare.id_of(construct.function.role))
    assert allowed["lambda:InvokeFunction"] == ["arn:aws:lambda:us-east-1:123456789012:function:updater"]
    assert allowed["ecs:UpdateService"] == [ref(logical_id(bare.proxies.service))]


def test_rotation_probes_the_proxies_from_their_subnets_as_a_status_server_only_client(rotation):
    bare, construct, template = rotation
    properties = template["Resources"][bare.id_of(construct.function.function)]["Properties"]
    group = {"Fn::GetAtt": [bare.id_of(construct.security_group), "GroupId"]}
    assert properties["VpcConfig"] == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": [group]}
    proxies_group = {"Fn::GetAtt": [logical_id(bare.proxies.security_group), "GroupId"]}
    egress = [r["Properties"] for r in of_type(template, "AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"]["GroupId"] == group]
    assert sorted((r["IpProtocol"], json.dumps(r["FromPort"])) for r in egress) == [
        ("tcp", "53"), ("udp", "53"), ("udp", json.dumps(ref("RadiusPort")))]  # DNS to the directory, probes
    (ingress,) = [r["Properties"] for r in of_type(template, "AWS::EC2::SecurityGroupIngress").values()
                  if r["Properties"]["SourceSecurityGroupId"] == group]
    assert ingress["GroupId"] == proxies_group
    (container,) = of_type(template, "AWS::ECS::TaskDefinition").popitem()[1]["Properties"]["ContainerDefinitions"]
    assert {"Name": "DUOMFA_STATUS_SERVER_CLIENTS", "Value": "10.0.0.0/24,10.0.1.0/24"} in container["Environment"]


# --- AddressTracker -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tracker():
    bare = bare_stack()
    construct = AddressTracker(bare.stack, "Tracker", shared=bare.shared, secret=bare.secret, proxies=bare.proxies,
                               address_parameter_name=ADDRESSES, radius_port=bare.radius_port)
    return bare, construct, bare.template()


def test_the_tracker_runs_on_task_changes_a_steady_service_and_every_five_minutes(tracker):
    bare, construct, template = tracker
    rules = rules_targeting(template, bare.id_of(construct.function.function))
    assert sorted(r.get("ScheduleExpression", "") for r in rules) == ["", "", "rate(5 minutes)"]
    kinds = sorted(r["EventPattern"]["detail-type"][0] for r in rules if "EventPattern" in r)
    assert kinds == ["ECS Service Action", "ECS Task State Change"]


def test_the_tracker_writes_only_the_address_parameter_and_only_describes_the_secret(tracker):
    bare, construct, template = tracker
    allowed = granted(template, bare.id_of(construct.function.role))
    (addresses,) = allowed["ssm:PutParameter"]
    assert addresses["Fn::Join"][1][-1] == f":parameter{ADDRESSES}"
    assert not {action for action in allowed if action.startswith("secretsmanager:")} - {
        "secretsmanager:DescribeSecret"}
    (list_tasks,) = [s for s in role_statements(template, bare.id_of(construct.function.role))
                     if s["Action"] == "ecs:ListTasks"]
    assert list_tasks["Condition"] == {"ArnEquals": {"ecs:cluster": {
        "Fn::GetAtt": [logical_id(bare.proxies.cluster), "Arn"]}}}


# --- FunctionImages -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def function_images():
    bare = bare_stack()
    functions = [ImageFunction(bare.stack, name, shared=bare.shared, handler=handler, description=name,
                               role_description=name, permissions=[], environment={}, timeout=Duration.minutes(1))
                 for name, handler in (("One", "rotation"), ("Two", "directory"))]
    construct = FunctionImages(bare.stack, "FunctionImages", shared=bare.shared, image=bare.image)
    return bare, functions, construct, bare.template()


def test_the_refresher_moves_every_image_function_and_nothing_else_to_the_newest_image(function_images):
    bare, functions, construct, template = function_images
    properties = template["Resources"][bare.id_of(construct.function)]["Properties"]
    ids = [bare.id_of(f.function) for f in functions]
    assert properties["Environment"]["Variables"]["FUNCTIONS"] == {"Fn::Join": [",", [ref(i) for i in ids]]}
    assert json.dumps(properties["Environment"]["Variables"]["IMAGE_URI"]).endswith(':latest"]]}')
    allowed = granted(template, bare.id_of(construct.function.role))
    assert allowed["lambda:UpdateFunctionCode"] == [{"Fn::GetAtt": [i, "Arn"]} for i in ids]
    assert properties["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [bare.id_of(bare.shared.dead_letters),
                                                                           "Arn"]}}


# --- ControlPlaneAlarms ---------------------------------------------------------------------------------------------

def test_the_admins_hear_of_each_function_s_errors_radius_out_of_sync_dead_letters_and_failed_rotations():
    bare = bare_stack()
    functions = {name: lambda_.Function.from_function_arn(
        bare.stack, name, f"arn:aws:lambda:us-east-1:123456789012:function:{name.lower()}")
        for name in ("Rotation", "Tracker", "Updater", "Refresher")}
    construct = ControlPlaneAlarms(
        bare.stack, "Alarms", topic=bare.topic, secret=bare.secret, rotation=functions["Rotation"],
        tracker=functions["Tracker"], updater=functions["Updater"], refresher=functions["Refresher"],
        radius_in_sync=cloudwatch.Metric(namespace="DuoMfa/bare", metric_name="RadiusInSync"),
        dead_letters=bare.shared.dead_letters)
    template = bare.template()
    alarms = [a["Properties"] for a in of_type(template, "AWS::CloudWatch::Alarm").values()]
    assert len(alarms) == len(construct.alarms) == 6
    topic = ref(bare.id_of(bare.topic))
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms)
    errors = sorted(a["Dimensions"][0]["Value"] for a in alarms if a["MetricName"] == "Errors")
    assert errors == ["refresher", "rotation", "tracker", "updater"]
    (failed,) = of_type(template, "AWS::Events::Rule").values()
    assert failed["Properties"]["EventPattern"]["detail"]["additionalEventData"] == {
        "SecretId": [ref(bare.id_of(bare.secret))]}
    assert failed["Properties"]["Targets"][0]["Arn"] == topic


# --- what the load balancer asks of the proxies ---------------------------------------------------------------------

def test_the_proxies_attach_a_target_group_and_let_health_checks_in_only_under_its_condition():
    bare = bare_stack()
    condition = CfnCondition(bare.stack, "LoadBalancerOn", expression=Fn.condition_equals("Yes", "Yes"))
    gate = CfnWaitConditionHandle(bare.stack, "ListenerReady")
    bare.proxies.attach_target_group("arn:target-group", condition=condition, listener_ready=gate)
    rule = bare.proxies.allow_health_checks_from("sg-balancer", "health checks", "HealthChecks", condition=condition)
    template = bare.template()
    service = template["Resources"][logical_id(bare.proxies.service)]
    (load_balancer,) = service["Properties"]["LoadBalancers"]["Fn::If"][1]
    assert load_balancer == {"ContainerName": "proxy", "ContainerPort": ref("RadiusPort"),
                             "TargetGroupArn": "arn:target-group"}
    assert service["Properties"]["LoadBalancers"]["Fn::If"][0] == "LoadBalancerOn"
    assert bare.id_of(gate) in service["DependsOn"]
    ingress = template["Resources"][bare.id_of(rule)]
    assert ingress["Condition"] == "LoadBalancerOn"
    assert (ingress["Properties"]["IpProtocol"], ingress["Properties"]["FromPort"]) == ("tcp", HTTP_PORT)
