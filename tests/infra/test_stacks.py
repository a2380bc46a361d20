"""The two stacks, synthesized once each with the cdk-nag packs: the properties that matter, construct by construct."""

from __future__ import annotations

import json
import re
import string

from cdk_synth import Synthesized, principals, ref, statements
from duomfa import secret_document
from duomfa.config import load_settings
from duomfa.infra.directory import LOOKUP_HANDLER_SOURCE
from duomfa.infra.inline_function import inline_source
from duomfa.infra.monitoring import LOG_ALARMS
from duomfa.infra.secrets import RADIUS_SECRET_EXCLUDED_CHARACTERS


def parameter(s: Synthesized, name: str) -> dict:
    return s.json["Parameters"][name]


def allows(s: Synthesized, name: str, value: str) -> bool:
    return re.fullmatch(parameter(s, name)["AllowedPattern"], value) is not None


# --- cdk-nag ------------------------------------------------------------------------------------------------------

def test_cdk_nag_finds_no_unsuppressed_errors(variant):
    assert variant.nag_errors == []


# --- parameters -----------------------------------------------------------------------------------------------------

def test_every_parameter_has_a_description_and_a_constraint(variant):
    for name, spec in variant.json["Parameters"].items():
        assert spec.get("Description"), name
        constrained = ({"AllowedPattern", "AllowedValues", "MinValue", "MaxValue"} & set(spec)
                       or spec["Type"].startswith("List<AWS::"))
        assert constrained, f"{name} has no constraint"
        if "AllowedPattern" in spec or "MinValue" in spec:
            assert spec.get("ConstraintDescription"), name


def test_duo_parameters_are_constrained_and_the_skey_is_not_echoed(variant):
    assert allows(variant, "DuoIntegrationKey", "DIABCDEFGHIJ0123456789"[:20])
    assert not allows(variant, "DuoIntegrationKey", "DXABCDEFGHIJ01234567")
    skey = parameter(variant, "DuoSecretKey")
    assert skey["NoEcho"] is True and skey["MinLength"] == skey["MaxLength"] == 40
    for host in ("api-1234abcd.duosecurity.com", "api-1234abcd.duofederal.com"):
        assert allows(variant, "DuoApiHost", host)
    for host in ("https://api-1234abcd.duosecurity.com", "api.example.com", "duosecurity.com.evil.net"):
        assert not allows(variant, "DuoApiHost", host)
    assert parameter(variant, "FailMode")["AllowedValues"] == ["safe", "secure"]


def test_proxy_parameters_have_the_issue_s_ranges(variant):
    count = parameter(variant, "ProxyCount")
    assert (count["MinValue"], count["MaxValue"], count["Default"]) == (1, 4, 2)
    port = parameter(variant, "RadiusPort")
    assert (port["MinValue"], port["MaxValue"], port["Default"]) == (1025, 65535, 1812)
    assert parameter(variant, "MaxTasks")["MaxValue"] == 10
    assert parameter(variant, "RebuildSchedule")["Default"] == "cron(0 0 ? * SAT *)"
    assert allows(variant, "KmsAdminArn", "")
    assert allows(variant, "KmsAdminArn", "arn:aws-us-gov:iam::123456789012:role/KeyAdmins")
    assert parameter(variant, "LoadBalancer")["AllowedValues"] == ["No", "Yes"]


def test_rules_refuse_task_sizes_fargate_does_not_offer(variant):
    rules = variant.json["Rules"]
    rule = rules["TaskMemoryFitsCpu256"]
    assert rule["RuleCondition"] == {"Fn::Equals": [ref("TaskCpu"), "256"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Contains": [["512", "1024", "2048"], ref("TaskMemory")]}
    assert "LoadBalancerAddressesTogether" in rules
    at_least = rules["MaxTasksAtLeastProxyCount3"]
    assert at_least["Assertions"][0]["Assert"] == {"Fn::Contains": [[str(n) for n in range(3, 11)], ref("MaxTasks")]}


def test_new_vpc_parameters(new_vpc):
    assert allows(new_vpc, "VpcCidr", "10.0.0.0/16") and not allows(new_vpc, "VpcCidr", "10.0.0.0/8")
    assert parameter(new_vpc, "DomainAdminPassword")["NoEcho"] is True
    assert allows(new_vpc, "DomainAdminPassword", "Corr3ct-Horse")
    assert not allows(new_vpc, "DomainAdminPassword", "alllowercase")
    assert parameter(new_vpc, "DirectoryEdition")["AllowedValues"] == ["Standard", "Enterprise"]


def test_existing_vpc_parameters(existing_vpc):
    assert allows(existing_vpc, "DirectoryId", "d-1234567890")
    assert not allows(existing_vpc, "DirectoryId", "d-12345")
    assert parameter(existing_vpc, "DirectoryType")["AllowedValues"] == ["MicrosoftAD", "ADConnector"]
    assert allows(existing_vpc, "DomainControllerAddresses", "10.0.0.10,10.0.1.10")
    assert not allows(existing_vpc, "DomainControllerAddresses", "10.0.0.10")  # one DC is no directory
    assert allows(existing_vpc, "DirectorySubnetIds", "subnet-0123abcd,subnet-4567ef01")
    assert "DirectoryValuesTogether" in existing_vpc.json["Rules"]


# --- encryption -----------------------------------------------------------------------------------------------------

def test_key_rotates_and_its_policy_names_the_services_that_use_it(variant):
    key = variant.only("AWS::KMS::Key")["Properties"]
    assert key["EnableKeyRotation"] is True
    policy = statements(key["KeyPolicy"])
    services = [p for s in policy for p in principals(s, "Service")]
    assert "cloudwatch.amazonaws.com" in services and "events.amazonaws.com" in services
    assert {"Fn::Join": ["", ["logs.", ref("AWS::Region"), ".amazonaws.com"]]} in services
    by_sid = {s.get("Sid"): s for s in policy}
    assert set(by_sid["CloudwatchPublishesToEncryptedTopic"]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    admin = principals(by_sid["KeyAdministrator"], "AWS")[0]
    assert admin["Fn::If"][:2] == ["HasKmsAdmin", ref("KmsAdminArn")]
    assert "kms:Decrypt" not in by_sid["KeyAdministrator"]["Action"]


def test_everything_that_stores_data_uses_the_key(variant):
    key = {"Fn::GetAtt": [next(iter(variant.resources("AWS::KMS::Key"))), "Arn"]}
    for log_group in variant.resources("AWS::Logs::LogGroup").values():
        assert log_group["Properties"]["KmsKeyId"] == key
        assert "RetentionInDays" in log_group["Properties"]
    assert variant.only("AWS::SecretsManager::Secret")["Properties"]["KmsKeyId"] == key
    assert variant.only("AWS::SNS::Topic")["Properties"]["KmsMasterKeyId"] == key
    repository = variant.only("AWS::ECR::Repository")["Properties"]
    assert repository["EncryptionConfiguration"] == {"EncryptionType": "KMS", "KmsKey": key}


# --- secret ---------------------------------------------------------------------------------------------------------

def test_secret_generates_only_the_shared_secret_from_a_fixed_template(variant):
    generate = variant.only("AWS::SecretsManager::Secret")["Properties"]["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "radius_secret"
    assert 8 <= generate["PasswordLength"] <= 512
    assert generate["ExcludeCharacters"] == RADIUS_SECRET_EXCLUDED_CHARACTERS == secret_document.EXCLUDED_CHARACTERS
    assert generate["PasswordLength"] == secret_document.SHARED_SECRET_LENGTH
    # no parameter in the template: a changed Duo key can never make CloudFormation generate a new RADIUS secret
    assert generate["SecretStringTemplate"] == "{}"


def test_shared_secret_alphabet_is_one_directory_service_accepts_and_ini_cannot_break():
    alphabet = set(string.ascii_letters + string.digits + string.punctuation) - set(RADIUS_SECRET_EXCLUDED_CHARACTERS)
    directory_service = re.compile(r"^[\w!-/:-@\[-`{-~ ]+$", re.ASCII)  # letters, digits, punctuation, space
    assert directory_service.fullmatch("".join(sorted(alphabet)))
    assert not alphabet & set(" \"\\%;#=:,'`$!-")
    assert len(alphabet) >= 70  # still plenty of entropy per character


# --- proxy service --------------------------------------------------------------------------------------------------

def test_cluster_has_container_insights(variant):
    settings = variant.only("AWS::ECS::Cluster")["Properties"]["ClusterSettings"]
    assert {"Name": "containerInsights", "Value": "enabled"} in settings


def test_task_runs_duomfa_proxy_hardened(variant):
    task = variant.only("AWS::ECS::TaskDefinition")["Properties"]
    assert task["Cpu"] == ref("TaskCpu") and task["Memory"] == ref("TaskMemory")
    assert task["TaskRoleArn"] != task["ExecutionRoleArn"]
    (container,) = task["ContainerDefinitions"]
    assert container["EntryPoint"] + container["Command"] == ["duomfa", "proxy"]
    assert container["ReadonlyRootFilesystem"] is True
    assert not container["User"].startswith(("0", "root"))
    assert "/healthz" in " ".join(container["HealthCheck"]["Command"])
    assert container["HealthCheck"]["Command"][:2] == ["CMD", "python"]  # slim images have no curl
    assert {"ContainerPort": ref("RadiusPort"), "Name": "radius", "Protocol": "udp"} in container["PortMappings"]
    assert {"ContainerPort": 8080, "Name": "http", "Protocol": "tcp"} in container["PortMappings"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert "Secrets" not in container  # the proxy reads every version stage itself


def test_task_environment_is_one_the_proxy_accepts(variant):
    (container,) = variant.only("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert set(environment) == {"DUOMFA_SECRETS_SOURCE", "DUOMFA_RADIUS_CLIENTS", "DUOMFA_PORT",
                                "DUOMFA_FAILMODE", "DUOMFA_HTTP_PORT", "DUOMFA_API_TIMEOUT",
                                "DUOMFA_STATUS_SERVER_CLIENTS", "DUOMFA_EXEMPT_USERNAMES", "DUOMFA_HTTP_PROXY",
                                "DUOMFA_MAX_PUSHES_PER_USER_PER_MINUTE", "DUOMFA_METRICS_NAMESPACE",
                                "DUOMFA_FIPS_MODE", "AWS_USE_FIPS_ENDPOINT"}
    assert environment["DUOMFA_EXEMPT_USERNAMES"] == ref("ExemptUsernames")
    assert environment["DUOMFA_HTTP_PROXY"] == ref("HttpProxy")
    assert environment["DUOMFA_MAX_PUSHES_PER_USER_PER_MINUTE"] == ref("MaxPushesPerUserPerMinute")
    assert environment["DUOMFA_PORT"] == ref("RadiusPort")
    assert environment["DUOMFA_FAILMODE"] == ref("FailMode")
    # the stats line's metrics go to the stack's namespace, where its dashboard and alarms read them
    assert environment["DUOMFA_METRICS_NAMESPACE"] == {"Fn::Join": ["/", ["DuoMfa", ref("AWS::StackName")]]}
    secret = next(iter(variant.resources("AWS::SecretsManager::Secret")))
    assert environment["DUOMFA_SECRETS_SOURCE"] == {"Fn::Join": ["", ["aws-secretsmanager:", ref(secret)]]}
    # the same settings, with deploy-time values filled in, load in the proxy's own configuration code
    example = {name: value for name, value in environment.items() if isinstance(value, str)}
    example.update({"DUOMFA_SECRETS_SOURCE": "aws-secretsmanager:arn:aws-us-gov:secretsmanager:us-gov-west-1:"
                                             "123456789012:secret:duomfa-AbCdEf",
                    "DUOMFA_RADIUS_CLIENTS": "10.0.0.10,10.0.32.10", "DUOMFA_PORT": "1812",
                    "DUOMFA_FAILMODE": "secure", "DUOMFA_STATUS_SERVER_CLIENTS": "10.0.0.0/19,10.0.32.0/19",
                    "DUOMFA_EXEMPT_USERNAMES": " svc-break-glass, svc-backup ", "DUOMFA_HTTP_PROXY": "",
                    "DUOMFA_MAX_PUSHES_PER_USER_PER_MINUTE": "3", "DUOMFA_METRICS_NAMESPACE": "DuoMfa/duomfa-prod",
                    "AWS_USE_FIPS_ENDPOINT": "true"})
    for fips_mode in ("true", "false"):  # what the FipsModeOn condition gives
        settings = load_settings(None, {**example, "DUOMFA_FIPS_MODE": fips_mode})
        assert settings is not None and settings.metrics_namespace == "DuoMfa/duomfa-prod"
        assert settings.fips_mode is (fips_mode == "true")


def test_task_role_may_read_the_secret_and_nothing_else(variant):
    task_role = variant.only("AWS::ECS::TaskDefinition")["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    policies = [p["Properties"] for p in variant.resources("AWS::IAM::Policy").values()
                if ref(task_role) in p["Properties"]["Roles"]]
    (policy,) = policies
    (statement,) = statements(policy["PolicyDocument"])
    # every stage with GetSecretValue; the retirement tag with DescribeSecret
    assert {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"} <= set(statement["Action"])
    assert statement["Resource"] == ref(next(iter(variant.resources("AWS::SecretsManager::Secret"))))
    key_policy = statements(variant.only("AWS::KMS::Key")["Properties"]["KeyPolicy"])
    decrypt = [s for s in key_policy if {"Fn::GetAtt": [task_role, "Arn"]} in principals(s, "AWS")]
    assert decrypt and decrypt[0]["Condition"]["StringEquals"]["kms:ViaService"]


def test_service_deploys_safely_in_the_private_subnets(variant):
    service = variant.only("AWS::ECS::Service")["Properties"]
    assert service["DesiredCount"] == ref("ProxyCount")
    deployment = service["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 150)
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED" and len(network["Subnets"]) == 2
    assert service["LaunchType"] == "FARGATE"


def test_service_autoscales_on_cpu_and_memory(variant):
    target = variant.only("AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (ref("ProxyCount"), ref("MaxTasks"))
    targets = {p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
               ["PredefinedMetricType"]: p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
               for p in variant.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()}
    assert targets == {"ECSServiceAverageCPUUtilization": 70, "ECSServiceAverageMemoryUtilization": 80}


def test_security_groups_allow_radius_from_the_directory_only_and_https_out(variant):
    proxy_group = variant.only("AWS::ECS::Service")["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"][
        "SecurityGroups"][0]
    group = variant.resources("AWS::EC2::SecurityGroup")[proxy_group["Fn::GetAtt"][0]]["Properties"]
    (egress_rule,) = group["SecurityGroupEgress"]
    assert {k: egress_rule[k] for k in ("CidrIp", "FromPort", "ToPort", "IpProtocol")} == {
        "CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}
    assert "SecurityGroupIngress" not in group
    # always: RADIUS from the directory, and Status-Server probes from the rotation Lambda (test_control_plane.py)
    (rotation_group,) = [f["Properties"]["VpcConfig"]["SecurityGroupIds"][0]
                         for f in variant.resources("AWS::Lambda::Function").values()
                         if "VpcConfig" in f["Properties"]]
    unconditional = [r for name, r in variant.resources("AWS::EC2::SecurityGroupIngress").items()
                     if r["Properties"]["GroupId"] == proxy_group and "Condition" not in r
                     and r["Properties"]["SourceSecurityGroupId"] != rotation_group]
    (from_directory,) = unconditional
    rule = from_directory["Properties"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("udp", ref("RadiusPort"), ref("RadiusPort"))
    assert "CidrIp" not in rule and rule["SourceSecurityGroupId"]
    egress = [r["Properties"] for r in variant.resources("AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"].get("DestinationSecurityGroupId") == proxy_group]
    (directory_egress,) = [e for e in egress if e["GroupId"] == rule["SourceSecurityGroupId"]]
    assert (directory_egress["IpProtocol"], directory_egress["FromPort"]) == ("udp", ref("RadiusPort"))


# --- load balancer --------------------------------------------------------------------------------------------------

def test_load_balancer_is_optional_internal_udp_with_fixed_addresses(variant):
    for resource_type in ("AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::Listener",
                          "AWS::ElasticLoadBalancingV2::TargetGroup"):
        assert variant.only(resource_type)["Condition"] == "LoadBalancerOn"
    balancer = variant.only("AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]
    assert (balancer["Type"], balancer["Scheme"]) == ("network", "internal")
    mappings = balancer["SubnetMappings"]
    assert [m["PrivateIPv4Address"]["Fn::If"][:2] for m in mappings] == [
        ["LoadBalancerAddressFixed", ref("LoadBalancerAddress1")],
        ["LoadBalancerAddressFixed", ref("LoadBalancerAddress2")]]
    listener = variant.only("AWS::ElasticLoadBalancingV2::Listener")["Properties"]
    assert (listener["Protocol"], listener["Port"]) == ("UDP", ref("RadiusPort"))
    targets = variant.only("AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]
    assert (targets["Protocol"], targets["TargetType"]) == ("UDP", "ip")
    assert (targets["HealthCheckProtocol"], targets["HealthCheckPort"], targets["HealthCheckPath"]) == (
        "HTTP", "8080", "/healthz")
    service = variant.only("AWS::ECS::Service")["Properties"]
    assert service["LoadBalancers"]["Fn::If"][0] == "LoadBalancerOn"


# --- monitoring -----------------------------------------------------------------------------------------------------

def test_alarms_reach_the_admins_encrypted_topic(variant):
    topic = next(iter(variant.resources("AWS::SNS::Topic")))
    subscription = variant.only("AWS::SNS::Subscription")["Properties"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", ref("NotificationEmail"))
    policy = statements(variant.only("AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"])
    publishers = [p for s in policy if s["Effect"] == "Allow" for p in principals(s, "Service")]
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com"} <= set(publishers)
    alarms = variant.resources("AWS::CloudWatch::Alarm")
    # the service's two, the proxy log's, and the control plane's
    assert len(alarms) == 2 + len(LOG_ALARMS) + len(variant.stack.control_plane.alarms)
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [ref(topic)]


def test_cpu_and_memory_alarms_are_the_original_s(variant):
    by_metric = {a["Properties"]["MetricName"]: a["Properties"]
                 for a in variant.resources("AWS::CloudWatch::Alarm").values()}
    for metric in ("CPUUtilization", "MemoryUtilization"):
        alarm = by_metric[metric]
        assert (alarm["Namespace"], alarm["Threshold"], alarm["Period"]) == ("AWS/ECS", 90, 60)
        assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_metric_filter_reads_an_event_and_field_the_proxy_names(variant):
    from duomfa import logline

    for metric_filter in variant.resources("AWS::Logs::MetricFilter").values():
        properties = metric_filter["Properties"]
        (event,) = re.findall(r'\$\.event = "(\w+)"', properties["FilterPattern"])
        assert event in logline.STACK_EVENTS, event
        value = properties["MetricTransformations"][0]["MetricValue"]
        assert value == "1" or value.removeprefix("$.") in logline.STACK_FIELDS, value


def test_log_alarms_watch_the_proxy_s_json_events(variant):
    filters = {f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
               for f in variant.resources("AWS::Logs::MetricFilter").values()}
    assert filters["FailOpen"]["FilterPattern"] == '{ $.event = "fail_open" }'
    assert filters["DroppedPackets"]["FilterPattern"] == '{ $.event = "stats" }'
    assert filters["DroppedPackets"]["MetricTransformations"][0]["MetricValue"] == "$.dropped"
    assert filters["DuoErrors"]["FilterPattern"] == '{ $.event = "duo_error" }'
    assert filters["SecretsSourceErrors"]["FilterPattern"] == '{ $.event = "secrets_source_error" }'
    assert filters["DuoFaultAfterPreauth"]["FilterPattern"] == '{ $.event = "duo_fault_after_preauth" }'
    assert filters["DuoKeysMissing"]["FilterPattern"] == '{ $.event = "duo_keys_missing" }'
    by_metric = {a["Properties"]["MetricName"]: a["Properties"]
                 for a in variant.resources("AWS::CloudWatch::Alarm").values()}
    fail_open = by_metric["FailOpen"]
    assert (fail_open["Threshold"], fail_open["Period"], fail_open["Statistic"]) == (1, 60, "Sum")
    assert fail_open["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert fail_open["TreatMissingData"] == "notBreaching"
    assert by_metric["DroppedPackets"]["Threshold"] == 100 and by_metric["DuoErrors"]["Threshold"] == 1
    for name in ("DuoFaultAfterPreauth", "DuoKeysMissing"):
        assert (by_metric[name]["Threshold"], by_metric[name]["Period"]) == (1, 300)


# --- image repository -----------------------------------------------------------------------------------------------

def test_repository_scans_and_expires_tagged_images_but_keeps_latest(variant):
    repository = variant.only("AWS::ECR::Repository")["Properties"]
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    text = json.dumps(repository["LifecyclePolicy"]["LifecyclePolicyText"])
    assert '\\"tagStatus\\":\\"any\\"' in text and "sinceImagePushed" in text
    assert '\\"tagPatternList\\":[\\"latest\\"]' in text
    assert ref("ImageRetentionDays") in repository["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Join"][1]


# --- network and directory ------------------------------------------------------------------------------------------

def test_new_vpc_spans_two_zones_with_a_nat_gateway_each_and_flow_logs(new_vpc):
    assert new_vpc.only("AWS::EC2::VPC")["Properties"]["CidrBlock"] == ref("VpcCidr")
    subnets = new_vpc.resources("AWS::EC2::Subnet")
    assert len(subnets) == 4
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    assert {json.dumps(s["Properties"]["CidrBlock"]) for s in subnets.values()} == {
        json.dumps(ref(n)) for n in ("PublicSubnet1Cidr", "PublicSubnet2Cidr", "PrivateSubnet1Cidr",
                                     "PrivateSubnet2Cidr")}
    assert len(new_vpc.resources("AWS::EC2::NatGateway")) == 2
    flow_log = new_vpc.only("AWS::EC2::FlowLog")["Properties"]
    assert (flow_log["ResourceType"], flow_log["TrafficType"]) == ("VPC", "ALL")


def test_new_vpc_creates_a_managed_ad_in_the_private_subnets(new_vpc):
    directory = new_vpc.only("AWS::DirectoryService::MicrosoftAD")["Properties"]
    assert directory["Password"] == ref("DomainAdminPassword")
    assert directory["Edition"] == ref("DirectoryEdition")
    private = [name for name, s in new_vpc.resources("AWS::EC2::Subnet").items() if "Private" in name]
    assert sorted(s["Ref"] for s in directory["VpcSettings"]["SubnetIds"]) == sorted(private)
    lookup = new_vpc.only("Custom::DirectoryLookup")
    assert "Condition" not in lookup  # a new MicrosoftAD exposes no security group, so it is always read


def test_existing_vpc_reads_the_directory_unless_told(existing_vpc):
    lookup = existing_vpc.only("Custom::DirectoryLookup")
    assert lookup["Condition"] == "LookUpDirectory"
    assert lookup["Properties"]["DirectoryId"] == ref("DirectoryId")
    assert lookup["Properties"]["DirectoryType"] == ref("DirectoryType")
    assert lookup_function(existing_vpc)["Condition"] == "LookUpDirectory"
    assert not existing_vpc.resources("AWS::EC2::VPC")
    assert not existing_vpc.resources("AWS::DirectoryService::MicrosoftAD")
    (container,) = existing_vpc.only("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"]
    clients = {e["Name"]: e["Value"] for e in container["Environment"]}["DUOMFA_RADIUS_CLIENTS"]
    assert clients["Fn::If"][0] == "LookUpDirectory"
    assert clients["Fn::If"][2] == ref("DomainControllerAddresses")


def lookup_function(s: Synthesized) -> dict:
    (function,) = [f for f in s.resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Code"].get("ZipFile") == inline_source(LOOKUP_HANDLER_SOURCE)]
    return function


def test_lookup_lambda_embeds_the_control_handler(variant):
    function = lookup_function(variant)["Properties"]
    assert function["Handler"] == "index.handler"
    assert function["Runtime"].startswith("python3.")
    role = function["Role"]["Fn::GetAtt"][0]
    (policy,) = [p["Properties"] for p in variant.resources("AWS::IAM::Policy").values()
                 if ref(role) in p["Properties"]["Roles"]]
    actions = [s["Action"] for s in statements(policy["PolicyDocument"])]
    assert "ds:DescribeDirectories" in actions


# --- boundary for the control plane ---------------------------------------------------------------------------------

def test_stack_exposes_what_the_control_plane_needs(variant):
    stack = variant.stack
    for attribute in (stack.encryption.key, stack.secret.secret, stack.proxies.cluster, stack.proxies.service,
                      stack.proxies.security_group, stack.monitoring.topic, stack.directory.directory_id,
                      stack.radius_servers_parameter_name, stack.load_balancer):
        assert attribute is not None
    assert {"ProxySecurityGroupId", "RadiusServersParameterName", "SecretArn", "TopicArn", "LoadBalancerDnsName",
            "LoadBalancerAddresses", "DirectoryStateParameterName",
            "DeadLetterQueueUrl"} <= set(variant.json["Outputs"])


def test_the_outputs_name_the_control_plane_functions(variant):
    functions = {name: function["Properties"]["Description"]
                 for name, function in variant.resources("AWS::Lambda::Function").items()}
    for output, description in (("DirectoryUpdaterFunctionName", "Duo MFA: converges the directory's RADIUS"),
                                ("RotationFunctionName", "Duo MFA: rotates the RADIUS shared secret"),
                                ("AddressTrackerFunctionName", "Duo MFA: writes the running proxies' addresses")):
        function = variant.json["Outputs"][output]["Value"]["Ref"]
        assert functions[function].startswith(description), output


def test_the_proxies_may_reach_dns_on_the_directory_and_the_web_proxy_only_when_one_is_set(variant):
    (service,) = variant.resources("AWS::ECS::Service").values()
    proxies_group = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"][0]
    egress = {name: r for name, r in variant.resources("AWS::EC2::SecurityGroupEgress").items()
              if r["Properties"]["GroupId"] == proxies_group}
    dns = [r["Properties"] for r in egress.values() if r["Properties"]["FromPort"] == 53]
    assert sorted(r["IpProtocol"] for r in dns) == ["tcp", "udp"]
    assert all("DestinationSecurityGroupId" in r for r in dns)  # the directory's group, nowhere else
    (web_proxy,) = [r for r in egress.values() if r.get("Condition") == "HasHttpProxy"]
    assert web_proxy["Properties"]["FromPort"] == {"Fn::Select": [1, {"Fn::Split": [":", ref("HttpProxy")]}]}
    assert variant.json["Conditions"]["HasHttpProxy"] == {"Fn::Not": [{"Fn::Equals": [ref("HttpProxy"), ""]}]}
