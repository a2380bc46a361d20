"""Issue 6, part 2 in both variants: the control plane's Lambdas, what runs them, what they may do, what happens on
deletion, and the alarms — read from the synthesized templates (cdk-nag, cfn-lint and the size limits are checked for
the whole stacks in test_stacks.py and test_templates.py)."""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap

import pytest

from cdk_synth import Synthesized, principals, ref, statements
from duomfa.config import load_settings
from duomfa.control import addresses, directory, rotation
from duomfa.infra.control_plane import FUNCTION_IMAGES_SOURCE, HANDLERS, LAMBDA_ENTRYPOINT
from duomfa.infra.fips_mode import ENDPOINT_VARIABLE
from duomfa.infra.inline_function import inline_source
from duomfa.infra.parameters import ROTATION_WINDOW_HOURS

ENV_READERS = {"env_text", "env_int", "env_list"}


# --- helpers --------------------------------------------------------------------------------------------------------

def only_id(s: Synthesized, resource_type: str) -> str:
    (found,) = s.resources(resource_type)
    return found


def image_functions(s: Synthesized) -> dict[str, tuple[str, dict]]:
    """{HANDLERS key: (logical id, properties)} of the functions that run a control-plane handler from the image."""
    by_handler = {handler: key for key, handler in HANDLERS.items()}
    found: dict[str, tuple[str, dict]] = {}
    for logical_id, function in s.resources("AWS::Lambda::Function").items():
        command = function["Properties"].get("ImageConfig", {}).get("Command")
        if command:
            (handler,) = command
            assert handler not in (h for h, _ in found.values()), handler
            found[by_handler[handler]] = (logical_id, function["Properties"])
    return found


def function(s: Synthesized, key: str) -> tuple[str, dict]:
    return image_functions(s)[key]


def refresher(s: Synthesized) -> tuple[str, dict]:
    source = inline_source(FUNCTION_IMAGES_SOURCE)
    (found,) = [(name, f["Properties"]) for name, f in s.resources("AWS::Lambda::Function").items()
                if f["Properties"].get("Code", {}).get("ZipFile") == source]
    return found


def role_statements(s: Synthesized, function_properties: dict) -> list[dict]:
    role = function_properties["Role"]["Fn::GetAtt"][0]
    return [statement for p in s.resources("AWS::IAM::Policy").values() if ref(role) in p["Properties"]["Roles"]
            for statement in statements(p["Properties"]["PolicyDocument"])]


def actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def allowed(s: Synthesized, function_properties: dict) -> dict[str, list]:
    """{action: [resource, …]} of a function's role."""
    granted: dict[str, list] = {}
    for statement in role_statements(s, function_properties):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions(statement):
            granted.setdefault(action, []).extend(resources)
    return granted


def names_read(function_object) -> set[str]:
    """The environment variables a handler reads: every env_text / env_int / env_list name, environ.get("X") and
    environ["X"] in the function and in the settings class it builds with from_environ."""
    sources = [inspect.getsource(function_object)]
    module = inspect.getmodule(function_object)
    for node in ast.walk(ast.parse(sources[0])):
        if isinstance(node, ast.Attribute) and node.attr == "from_environ" and isinstance(node.value, ast.Name):
            sources.append(inspect.getsource(getattr(module, node.value.id)))
    names: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(textwrap.dedent(source))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ENV_READERS:
                names.add(node.args[1].value)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and "environ" in ast.unparse(node.func.value)):
                names.add(node.args[0].value)
            elif (isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value)
                  and isinstance(node.slice, ast.Constant)):
                names.add(node.slice.value)
    return names


def documented(function_object) -> set[str]:
    """The names in the handler docstring's "Env: A, B, C (optional)." line."""
    text = " ".join(inspect.getdoc(function_object).split())
    listed = re.search(r"Env: (.*?)\.(\s|$)", text)[1]
    return set(re.findall(r"\b[A-Z][A-Z_]+\b", listed))


def environment(function_properties: dict) -> dict:
    return function_properties["Environment"]["Variables"]


def key_arn(s: Synthesized) -> dict:
    return {"Fn::GetAtt": [only_id(s, "AWS::KMS::Key"), "Arn"]}


# --- the image functions --------------------------------------------------------------------------------------------

def test_each_handler_runs_from_the_proxy_image_once_the_first_image_exists(variant):
    found = image_functions(variant)
    assert set(found) == set(HANDLERS)
    repository = only_id(variant, "AWS::ECR::Repository")
    first_image = only_id(variant, "Custom::FirstImage")
    for key, (logical_id, properties) in found.items():
        assert properties["PackageType"] == "Image"
        assert properties["ImageConfig"] == {"EntryPoint": LAMBDA_ENTRYPOINT, "Command": [HANDLERS[key]]}
        uri = json.dumps(properties["Code"]["ImageUri"])
        assert ref(repository) == properties["Code"]["ImageUri"]["Fn::Join"][1][-2] and uri.endswith(':latest"]]}')
        assert first_image in variant.json["Resources"][logical_id]["DependsOn"], key
        assert properties["KmsKeyArn"] == key_arn(variant)  # the environment is encrypted with the stack's key
        log_group = variant.json["Resources"][properties["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        assert log_group["KmsKeyId"] == key_arn(variant) and log_group["RetentionInDays"] == ref("LogRetentionDays")
        assert properties["Architectures"] == ["x86_64"]  # what CodeBuild builds


@pytest.mark.parametrize("key, handler", [
    ("rotation", rotation.handler), ("addresses", addresses.handler), ("directory", directory.handler),
    ("disable_radius", directory.custom_resource_handler)])
def test_each_function_s_environment_is_what_its_handler_reads(variant, key, handler):
    read = names_read(handler)
    assert read == documented(handler), "the handler's docstring and its code disagree"
    # besides what the handler reads, what the AWS SDK reads (FipsMode's endpoints, on every function)
    assert set(environment(function(variant, key)[1])) == read | {ENDPOINT_VARIABLE}


def test_the_updater_reserves_no_concurrency_and_is_not_retried_by_lambda(variant):
    """Reserved concurrency fails a first create in accounts with the minimum quota; overlapping runs are safe
    (tests/control/test_directory_updater.py runs two at once)."""
    logical_id, properties = function(variant, "directory")
    assert "ReservedConcurrentExecutions" not in properties
    assert properties["Timeout"] == 900 and "VpcConfig" not in properties
    queue = only_id(variant, "AWS::SQS::Queue")
    assert properties["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue, "Arn"]}}
    (invoke_config,) = [c["Properties"] for c in variant.resources("AWS::Lambda::EventInvokeConfig").values()
                        if c["Properties"]["FunctionName"] == ref(logical_id)]
    assert invoke_config["MaximumRetryAttempts"] == 0  # the schedule runs it again; each failure already notified
    variables = environment(properties)
    assert variables["RADIUS_TIMEOUT"] == ref("RadiusTimeout") and variables["RADIUS_RETRIES"] == ref("RadiusRetries")
    assert variables["RADIUS_PORT"] == ref("RadiusPort")
    assert int(variables["DEADLINE_SECONDS"]) <= 840 and int(variables["RETIRE_GRACE_SECONDS"]) >= 0
    assert variables["TOPIC_ARN"] == ref(only_id(variant, "AWS::SNS::Topic"))
    assert variables["DIRECTORY_MFA"] == ref("DirectoryMfa") and int(variables["SECRET_SETTLE_SECONDS"]) >= 120
    assert variables["METRICS_NAMESPACE"] == {"Fn::Join": ["/", ["DuoMfa", ref("AWS::StackName")]]}


def test_an_alarm_watches_the_directory_s_radius_status(variant):
    (alarm,) = [a["Properties"] for a in variant.resources("AWS::CloudWatch::Alarm").values()
                if a["Properties"].get("MetricName") == "RadiusInSync"]
    assert alarm["Namespace"] == {"Fn::Join": ["/", ["DuoMfa", ref("AWS::StackName")]]}
    assert alarm["Dimensions"][0]["Name"] == "DirectoryId"
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Statistic"]) == ("LessThanThreshold", 1, "Maximum")
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 30 * 60 and alarm["TreatMissingData"] == "breaching"


def test_the_updater_gets_the_load_balancer_s_addresses_only_while_it_exists(variant):
    nlb = environment(function(variant, "directory")[1])["NLB_ADDRESSES"]["Fn::If"]
    assert nlb[0] == "LoadBalancerOn" and nlb[2] == ref("AWS::NoValue")
    fixed, given, dns_name = nlb[1]["Fn::If"]
    assert fixed == "LoadBalancerAddressesInUse"
    assert given == {"Fn::Join": [",", [ref("LoadBalancerAddress1"), ref("LoadBalancerAddress2")]]}
    balancer = only_id(variant, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert dns_name == {"Fn::GetAtt": [balancer, "DNSName"]}
    condition = variant.json["Conditions"]["LoadBalancerAddressesInUse"]
    assert condition == {"Fn::And": [{"Condition": "LoadBalancerOn"}, {"Condition": "LoadBalancerAddressFixed"}]}
    assert variant.json["Outputs"]["LoadBalancerAddresses"]["Condition"] == "LoadBalancerAddressesInUse"


def test_the_tracker_reserves_no_concurrency_and_keeps_its_failures(variant):
    _, properties = function(variant, "addresses")
    assert "ReservedConcurrentExecutions" not in properties and "VpcConfig" not in properties
    assert "DeadLetterConfig" in properties
    assert environment(properties)["SERVICE"] == ref(only_id(variant, "AWS::ECS::Service"))


def test_rotation_runs_in_the_proxies_subnets_with_its_own_security_group(variant):
    _, properties = function(variant, "rotation")
    network = variant.only("AWS::ECS::Service")["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert properties["VpcConfig"]["SubnetIds"] == network["Subnets"]
    (group,) = properties["VpcConfig"]["SecurityGroupIds"]
    proxies_group = network["SecurityGroups"][0]
    assert group != proxies_group
    rules = variant.resources("AWS::EC2::SecurityGroup")[group["Fn::GetAtt"][0]]["Properties"]
    (https,) = rules["SecurityGroupEgress"]
    assert (https["IpProtocol"], https["FromPort"], https["ToPort"], https["CidrIp"]) == ("tcp", 443, 443, "0.0.0.0/0")
    egress = [r["Properties"] for r in variant.resources("AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"]["GroupId"] == group]
    (to_proxies,) = [r for r in egress if r["FromPort"] != 53]
    # DNS to the directory's controllers, which a VPC's DHCP options may name as its DNS servers
    assert sorted(r["IpProtocol"] for r in egress if r["FromPort"] == r["ToPort"] == 53) == ["tcp", "udp"]
    assert (to_proxies["IpProtocol"], to_proxies["FromPort"], to_proxies["DestinationSecurityGroupId"]) == (
        "udp", ref("RadiusPort"), proxies_group)
    (from_rotation,) = [r["Properties"] for r in variant.resources("AWS::EC2::SecurityGroupIngress").values()
                        if r["Properties"].get("SourceSecurityGroupId") == group]
    assert (from_rotation["GroupId"], from_rotation["IpProtocol"], from_rotation["ToPort"]) == (
        proxies_group, "udp", ref("RadiusPort"))
    assert properties["Timeout"] == 900
    assert int(environment(properties)["DEADLINE_SECONDS"]) < 900
    assert environment(properties)["UPDATER_FUNCTION"] == ref(function(variant, "directory")[0])


def proxy_environment(s: Synthesized) -> dict:
    (container,) = s.only("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def test_proxies_answer_status_server_only_from_the_private_subnets_new_vpc(new_vpc):
    clients = proxy_environment(new_vpc)["DUOMFA_STATUS_SERVER_CLIENTS"]
    assert clients == {"Fn::Join": [",", [ref("PrivateSubnet1Cidr"), ref("PrivateSubnet2Cidr")]]}


def test_proxies_answer_status_server_only_from_the_directory_subnets_existing_vpc(existing_vpc):
    clients = proxy_environment(existing_vpc)["DUOMFA_STATUS_SERVER_CLIENTS"]
    lookup = only_id(existing_vpc, "Custom::SubnetCidrs")
    assert clients == {"Fn::GetAtt": [lookup, "CidrBlocks"]}
    network = existing_vpc.only("AWS::ECS::Service")["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert existing_vpc.json["Resources"][lookup]["Properties"]["SubnetIds"] == {"Fn::Join": [",", network["Subnets"]]}


def test_status_server_clients_load_in_the_proxy_s_configuration():
    settings = load_settings(None, {
        "DUOMFA_SECRETS_SOURCE": "aws-secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:d-AbCdEf",
        "DUOMFA_RADIUS_CLIENTS": "10.0.0.10,10.0.32.10", "DUOMFA_STATUS_SERVER_CLIENTS": "10.0.0.0/19,10.0.32.0/19"})
    by_name = {client.name: client for client in settings.clients}
    assert by_name["status_server_clients"].status_only and not by_name["radius_clients"].status_only


# --- rotation schedule ----------------------------------------------------------------------------------------------

def test_the_secret_rotates_on_the_schedule_parameter_through_the_rotation_function(variant):
    logical_id, _ = function(variant, "rotation")
    secret = only_id(variant, "AWS::SecretsManager::Secret")
    schedule_id = only_id(variant, "AWS::SecretsManager::RotationSchedule")
    schedule = variant.json["Resources"][schedule_id]
    assert schedule["Properties"]["SecretId"] == ref(secret)
    assert schedule["Properties"]["RotationLambdaARN"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    rules = schedule["Properties"]["RotationRules"]
    assert rules == {"ScheduleExpression": ref("RotationSchedule"), "Duration": f"{ROTATION_WINDOW_HOURS}h"}
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is False
    (permission_id,) = [name for name, p in variant.resources("AWS::Lambda::Permission").items()
                        if p["Properties"]["Principal"] == "secretsmanager.amazonaws.com"]
    permission = variant.json["Resources"][permission_id]["Properties"]
    assert permission["FunctionName"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    assert permission["SourceArn"] == ref(secret) and permission["SourceAccount"] == ref("AWS::AccountId")
    assert permission_id in schedule["DependsOn"]
    parameter = variant.json["Parameters"]["RotationSchedule"]
    assert parameter["Default"] == "cron(0 6 ? * SUN *)"  # weekly, the day after the Saturday image rebuild
    assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])


def test_the_rotation_window_can_never_run_into_the_next_utc_day(variant):
    """Secrets Manager refuses a window that runs past midnight UTC: only a cron start whose window of
    ROTATION_WINDOW_HOURS ends the same day is accepted (the latest is 20:59 + 3 h = 23:59)."""
    parameter = variant.json["Parameters"]["RotationSchedule"]

    def allows(expression: str) -> bool:
        return re.fullmatch(parameter["AllowedPattern"], expression) is not None

    for hour in range(24):
        for minute in (0, 59):
            ends = hour * 60 + minute + ROTATION_WINDOW_HOURS * 60
            assert allows(f"cron({minute} {hour} ? * SUN *)") == (ends < 24 * 60), (hour, minute)
    for good in ("cron(30 2 ? * MON,THU *)", "cron(0 0 ? * * *)", "cron(15 20 ? * SAT *)"):
        assert allows(good), good
    for bad in ("rate(7 days)", "rate(1 day)", "cron(0 21 ? * SUN *)", "cron(0 6 * * ? *)", "cron(0 6 ? * SUN 2027)",
                "cron(0 6,22 ? * SUN *)", "cron(0 6 ? * SUNDAY *)", "cron(60 6 ? * SUN *)", "cron(07 6 ? * SUN *)",
                "cron(0 6 ? * SUN *) ", "weekly"):
        assert not allows(bad), bad
    description = parameter["Description"]
    assert f"{ROTATION_WINDOW_HOURS}-hour window" in description and "0 to 20" in description


def test_the_secret_s_rotation_suppressions_are_gone(variant):
    metadata = json.dumps(variant.json["Resources"][only_id(variant, "AWS::SecretsManager::Secret")].get("Metadata"))
    assert "SMG4" not in metadata and "SecretsManagerRotationEnabled" not in metadata


def test_radius_timeout_and_retries_are_the_directory_s_ranges(variant):
    timeout, retries = variant.json["Parameters"]["RadiusTimeout"], variant.json["Parameters"]["RadiusRetries"]
    assert (timeout["MinValue"], timeout["MaxValue"], timeout["Default"]) == (1, 50, 30)
    assert (retries["MinValue"], retries["MaxValue"], retries["Default"]) == (0, 10, 2)
    assert "1-50" in timeout["Description"] and "0-10" in retries["Description"]


# --- what runs them -------------------------------------------------------------------------------------------------

def rules_targeting(s: Synthesized, logical_id: str) -> list[dict]:
    return [rule["Properties"] for rule in s.resources("AWS::Events::Rule").values()
            if {"Fn::GetAtt": [logical_id, "Arn"]} in [t["Arn"] for t in rule["Properties"]["Targets"]]]


def test_the_tracker_runs_on_our_service_s_events_its_tasks_changes_and_a_schedule(variant):
    service = ref(only_id(variant, "AWS::ECS::Service"))
    tracker, _ = function(variant, "addresses")
    rules = rules_targeting(variant, tracker)
    assert [r["ScheduleExpression"] for r in rules if "ScheduleExpression" in r] == ["rate(5 minutes)"]
    (task_rule,) = [r["EventPattern"] for r in rules
                    if r.get("EventPattern", {}).get("detail-type") == [addresses.TASK_STATE_CHANGE]]
    assert task_rule["source"] == ["aws.ecs"]
    assert task_rule["detail"]["clusterArn"] == [{"Fn::GetAtt": [only_id(variant, "AWS::ECS::Cluster"), "Arn"]}]
    assert task_rule["detail"]["group"] == [{"Fn::Join": ["", ["service:", {
        "Fn::GetAtt": [only_id(variant, "AWS::ECS::Service"), "Name"]}]]}]
    patterns = sorted((r["EventPattern"] for r in rules if "EventPattern" in r and r["EventPattern"] != task_rule),
                      key=json.dumps)
    assert patterns == sorted([
        {"source": ["aws.ecs"], "detail-type": ["ECS Service Action"], "resources": [service],
         "detail": {"eventName": ["SERVICE_STEADY_STATE"]}},
        {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"], "resources": [service],
         "detail": {"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]}},
    ], key=json.dumps)
    # the tracker itself ignores anything else (its own check): the rules and the handler agree
    assert {(p["detail-type"][0], p["detail"]["eventName"][0]) for p in patterns} == set(addresses.TRACKED_EVENTS)


def test_the_updater_runs_on_parameter_changes_deployments_and_every_five_minutes(variant):
    updater, _ = function(variant, "directory")
    service = ref(only_id(variant, "AWS::ECS::Service"))
    parameter_id = variant.stack.get_logical_id(variant.stack.control_plane.address_parameter)
    address_name = variant.json["Resources"][parameter_id]["Properties"]["Name"]
    rules = rules_targeting(variant, updater)
    assert sorted(r.get("ScheduleExpression", "") for r in rules) == ["", "", "rate(5 minutes)"]
    patterns = [r["EventPattern"] for r in rules if "EventPattern" in r]
    assert {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"],
            "detail": {"name": [address_name], "operation": ["Create", "Update"]}} in patterns
    assert {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"], "resources": [service],
            "detail": {"eventName": ["SERVICE_DEPLOYMENT_COMPLETED"]}} in patterns
    # and from finishSecret: the rotation may invoke it
    _, rotation_properties = function(variant, "rotation")
    assert allowed(variant, rotation_properties)["lambda:InvokeFunction"] == [{"Fn::GetAtt": [updater, "Arn"]}]


def test_failed_asynchronous_invocations_are_kept_encrypted(variant):
    queue_id = only_id(variant, "AWS::SQS::Queue")
    queue = variant.json["Resources"][queue_id]["Properties"]
    assert queue["KmsMasterKeyId"] == key_arn(variant)
    policy = statements(variant.only("AWS::SQS::QueuePolicy")["Properties"]["PolicyDocument"])
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)
    for key in ("addresses", "directory"):
        assert function(variant, key)[1]["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    for rule in (*rules_targeting(variant, function(variant, "directory")[0]),
                 *rules_targeting(variant, function(variant, "addresses")[0])):
        for target in rule["Targets"]:
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}


def test_the_image_functions_follow_each_new_image(variant):
    logical_id, properties = refresher(variant)
    names = environment(properties)["FUNCTIONS"]["Fn::Join"]
    assert names[0] == ","
    assert sorted(n["Ref"] for n in names[1]) == sorted(f for f, _ in image_functions(variant).values())
    assert json.dumps(environment(properties)["IMAGE_URI"]).endswith(':latest"]]}')
    (succeeded,) = [r for r in variant.resources("AWS::Events::Rule").values()
                    if r["Properties"].get("EventPattern", {}).get("detail", {}).get("state") == ["SUCCEEDED"]]
    assert {"Fn::GetAtt": [logical_id, "Arn"]} in [t["Arn"] for t in succeeded["Properties"]["Targets"]]
    granted = allowed(variant, properties)
    assert sorted(json.dumps(r) for r in granted["lambda:UpdateFunctionCode"]) == sorted(
        json.dumps({"Fn::GetAtt": [f, "Arn"]}) for f, _ in image_functions(variant).values())


def test_only_this_account_s_functions_may_pull_the_image_through_lambda(variant):
    policy = statements(variant.only("AWS::ECR::Repository")["Properties"]["RepositoryPolicyText"])
    lambda_statements = [s for s in policy if "lambda.amazonaws.com" in principals(s, "Service")]
    assert lambda_statements and all(s["Condition"]["StringLike"]["aws:sourceArn"] for s in lambda_statements)
    (statement,) = lambda_statements
    assert sorted(actions(statement)) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    assert json.dumps(statement["Condition"]).endswith(':function:*"]]}}}')


# --- least privilege ------------------------------------------------------------------------------------------------

# actions without resource-level permissions (or limited by a condition instead): the only ones granted on "*"
UNSCOPED = {"ds:DescribeDirectories", "secretsmanager:GetRandomPassword", "ecs:DescribeTaskDefinition",
            "ecs:ListTasks", "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}


def test_no_wildcard_beyond_actions_that_have_no_resource_level_permissions(variant):
    for key, (_, properties) in {**image_functions(variant), "function_images": refresher(variant)}.items():
        for statement in role_statements(variant, properties):
            assert not any("*" in action for action in actions(statement)), (key, statement)
            if "*" in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]):
                assert set(actions(statement)) <= UNSCOPED, (key, statement)
            if "ecs:ListTasks" in actions(statement):
                assert statement["Condition"] == {"ArnEquals": {"ecs:cluster": {
                    "Fn::GetAtt": [only_id(variant, "AWS::ECS::Cluster"), "Arn"]}}}


def test_each_role_may_do_what_its_handler_does_and_no_more(variant):
    secret = ref(only_id(variant, "AWS::SecretsManager::Secret"))
    service = ref(only_id(variant, "AWS::ECS::Service"))
    granted = {key: allowed(variant, properties) for key, (_, properties) in image_functions(variant).items()}
    logs_and_key = {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt"}
    assert set(granted["rotation"]) - logs_and_key == {
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage", "secretsmanager:GetRandomPassword", "kms:GenerateDataKey",
        "ecs:DescribeServices", "ecs:UpdateService", "ecs:DescribeTaskDefinition", "ecs:ListTasks",
        "ecs:DescribeTasks", "ecr:DescribeImages", "lambda:InvokeFunction", "ssm:GetParameter",
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}
    assert set(granted["addresses"]) - logs_and_key == {
        "ecs:DescribeServices", "ecs:ListTasks", "ecs:DescribeTasks", "secretsmanager:DescribeSecret",
        "ssm:GetParameter", "ssm:PutParameter", "sqs:SendMessage", "kms:GenerateDataKey"}
    assert set(granted["directory"]) - logs_and_key == {
        "ds:DescribeDirectories", "ds:EnableRadius", "ds:UpdateRadius", "ds:DisableRadius", "ssm:GetParameter",
        "ssm:PutParameter",
        "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:TagResource",
        # the directory's domain controllers into the secret's radius_clients (duo_keys.merge_into_current)
        "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
        "sns:Publish", "kms:GenerateDataKey", "sqs:SendMessage"}
    assert set(granted["disable_radius"]) - logs_and_key == {"ds:DescribeDirectories", "ds:DisableRadius"}
    assert granted["rotation"]["secretsmanager:PutSecretValue"] == [secret]
    assert granted["rotation"]["ecs:UpdateService"] == [service]
    for action in ("secretsmanager:TagResource", "secretsmanager:PutSecretValue"):
        assert granted["directory"][action] == [secret]
    directory_id = variant.stack.directory.directory_id
    for key, action in (("directory", "ds:UpdateRadius"), ("directory", "ds:EnableRadius"),
                        ("disable_radius", "ds:DisableRadius")):
        (resource,) = granted[key][action]
        assert resource["Fn::Join"][1][-2:] == [":directory/", variant.stack.resolve(directory_id)], (key, action)
    # the updater writes only its state; the tracker only the addresses
    assert granted["directory"]["ssm:PutParameter"] != granted["addresses"]["ssm:PutParameter"]


def test_the_key_is_used_only_through_the_services_that_need_it(variant):
    for key, (_, properties) in image_functions(variant).items():
        for statement in role_statements(variant, properties):
            if any(action.startswith("kms:") for action in actions(statement)):
                assert statement["Resource"] == key_arn(variant)
                service = statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Join"][1][0]
                assert service in ("secretsmanager.", "sns.", "sqs.", "lambda."), (key, service)


# --- deletion -------------------------------------------------------------------------------------------------------

def test_radius_is_turned_off_before_the_service_goes_and_nothing_turns_it_on_again(variant):
    resource_id = only_id(variant, "Custom::DisableRadiusOnDelete")
    resource = variant.json["Resources"][resource_id]
    assert only_id(variant, "AWS::ECS::Service") in resource["DependsOn"]
    assert resource["Properties"]["DirectoryId"] == variant.stack.resolve(variant.stack.directory.directory_id)
    handler_id, _ = function(variant, "disable_radius")
    provider = variant.json["Resources"][resource["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]
    assert provider["Properties"]["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"] == {
        "Fn::GetAtt": [handler_id, "Arn"]}
    assert "ZipFile" in provider["Properties"]["Code"]  # the framework inline: no asset bucket
    updater_id, _ = function(variant, "directory")
    assert resource_id in variant.json["Resources"][updater_id]["DependsOn"]


# --- parameters and alarms ------------------------------------------------------------------------------------------

def test_parameters_start_with_a_seed_no_handler_applies(variant):
    control_plane = variant.stack.control_plane
    for parameter, output in ((control_plane.address_parameter, "RadiusServersParameterName"),
                              (control_plane.state_parameter, "DirectoryStateParameterName")):
        properties = variant.json["Resources"][variant.stack.get_logical_id(parameter)]["Properties"]
        assert properties["Type"] == "String" and properties["Value"] == "none"
        assert properties["Name"] == variant.json["Outputs"][output]["Value"]


def test_alarms_on_every_function_s_errors_and_on_dead_letters_reach_the_topic(variant):
    topic = ref(only_id(variant, "AWS::SNS::Topic"))
    alarms = [a["Properties"] for a in variant.resources("AWS::CloudWatch::Alarm").values()]
    errors = {a["Dimensions"][0]["Value"]["Ref"]: a for a in alarms if a.get("MetricName") == "Errors"}
    expected = {function(variant, key)[0] for key in ("rotation", "addresses", "directory")} | {refresher(variant)[0]}
    assert set(errors) == expected
    for alarm in errors.values():
        assert (alarm["Namespace"], alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == (
            "AWS/Lambda", "Sum", 300, 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
    (dead_letters,) = [a for a in alarms if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert dead_letters["Dimensions"][0]["Value"] == {"Fn::GetAtt": [only_id(variant, "AWS::SQS::Queue"), "QueueName"]}
    assert dead_letters["Threshold"] == 1 and dead_letters["AlarmActions"] == [topic]


def test_a_failed_rotation_is_told_to_the_admins(variant):
    secret = ref(only_id(variant, "AWS::SecretsManager::Secret"))
    topic = ref(only_id(variant, "AWS::SNS::Topic"))
    (rule,) = [r["Properties"] for r in variant.resources("AWS::Events::Rule").values()
               if r["Properties"].get("EventPattern", {}).get("source") == ["aws.secretsmanager"]]
    assert rule["EventPattern"] == {
        "source": ["aws.secretsmanager"], "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {"eventName": ["RotationFailed"], "additionalEventData": {"SecretId": [secret]}}}
    (target,) = rule["Targets"]
    assert target["Arn"] == topic and "errorMessage" in json.dumps(target["InputTransformer"])

