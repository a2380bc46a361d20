"""`duomfa doctor --stack`: every AWS check, ok and failing, on a small deployment in moto.

CloudFormation, ECS, Secrets Manager, SSM, SNS, CloudWatch and EC2 are moto's; the stack is a tiny template with
the Outputs names the real stack uses. moto's describe_directories never reports RadiusSettings/RadiusStatus, so
Directory Service answers through botocore's Stubber on a real `ds` client (names and types checked against the
service model).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import time

import boto3
import pytest
from botocore.stub import Stubber
from control_aws import (
    CLUSTER,
    REGION,
    SERVICE,
    EcsWorld,
    client,
    enable_rotation,
    make_secret,
    stages,
)
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from moto.secretsmanager.models import secretsmanager_backends

from duomfa import doctor
from duomfa.cli import main
from duomfa.doctor import AwsClients, aws_checks, run_doctor

STACK = "DuoMfaProd"
DIRECTORY_ID = "d-1234567890"
CONTROLLERS = ["10.0.1.10", "10.0.2.10"]
PORT = 1812
NOW = time.time()




def template(outputs: dict[str, str]) -> str:
    """The stack's shape as far as doctor reads it: the RadiusPort parameter, the state parameter, the Outputs."""
    return json.dumps({
        "Parameters": {"RadiusPort": {"Type": "Number", "Default": PORT}},
        "Resources": {"DirectoryState": {"Type": "AWS::SSM::Parameter",
                                         "Properties": {"Type": "String", "Value": "none",
                                                        "Name": f"/duomfa/{STACK}/directory-state"}}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()}
                   | {"DirectoryStateParameterName": {"Value": {"Ref": "DirectoryState"}}},
    })


class World:
    """A healthy deployment; each test breaks one thing."""

    def __init__(self, *, load_balancer: tuple[str, ...] = ()) -> None:
        self.ecs = EcsWorld()
        ec2 = client("ec2")
        self.proxy_group = self.ecs.security_group
        vpc = ec2.describe_security_groups(GroupIds=[self.proxy_group])["SecurityGroups"][0]["VpcId"]
        self.directory_group = ec2.create_security_group(GroupName="directory", Description="directory",
                                                         VpcId=vpc)["GroupId"]
        for group in (self.proxy_group, self.directory_group):  # Managed AD's own group reaches only its members
            ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        self.allow_egress(self.directory_group, self.proxy_group)
        self.allow_ingress(self.proxy_group, self.directory_group)
        self.addresses = sorted((address for _, address in self.ecs.run(2)), key=ipaddress.ip_address)
        self.service_model().running_count = 2
        self.ecs.set_rollout("COMPLETED")

        self.secret_arn = make_secret()
        enable_rotation(self.secret_arn)
        self.secret_model().last_rotation_date = int(NOW) - 86400
        self.topic_arn = client("sns").create_topic(Name="duomfa-alarms")["TopicArn"]
        self.alarm(f"{STACK}-MonitoringCpuHigh-1A2B3C", "Duo MFA proxies' cpu above 90% for 3 minutes.")
        self.alarm(f"{STACK}-MonitoringFailOpenAlarm-4D5E6F", "A proxy let a user in without Duo.")
        self.alarm("SomeoneElsesAlarm", "not ours", actions=[])

        outputs = {"ClusterName": CLUSTER, "ServiceName": SERVICE, "SecretArn": self.secret_arn,
                   "ProtectedDirectoryId": DIRECTORY_ID, "ProxySecurityGroupId": self.proxy_group,
                   "TopicArn": self.topic_arn, "RadiusClientAddresses": ",".join(CONTROLLERS)}
        if load_balancer:
            outputs |= {"LoadBalancerDnsName": "internal-duomfa-0123.elb.us-east-1.amazonaws.com",
                        "LoadBalancerAddresses": ",".join(load_balancer)}
        client("cloudformation").create_stack(StackName=STACK, TemplateBody=template(outputs))
        self.state_parameter = f"/duomfa/{STACK}/directory-state"
        self.applied(self.version("AWSCURRENT"))
        self.radius = {"status": "Completed", "servers": list(load_balancer or self.addresses), "port": PORT}
        self.ds = boto3.client("ds", region_name=REGION, aws_access_key_id="testing",
                               aws_secret_access_key="testing")

    # changing the world -----------------------------------------------------------------------------------------

    def service_model(self):
        return ecs_backends[DEFAULT_ACCOUNT_ID][REGION].services[f"{CLUSTER}:{SERVICE}"]

    def secret_model(self):
        return secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[self.secret_arn]

    def version(self, stage):
        return next(version for version, labels in stages(self.secret_arn).items() if stage in labels)

    def applied(self, version):
        client("ssm").put_parameter(Name=self.state_parameter, Overwrite=True, Type="String", Value=json.dumps(
            {"servers": self.addresses, "port": PORT, "secret_version": version, "applied_at": int(NOW) - 600}))

    def alarm(self, name, description, actions=None):
        client("cloudwatch").put_metric_alarm(
            AlarmName=name, AlarmDescription=description, Namespace="DuoMfa", MetricName="FailOpen", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=[self.topic_arn] if actions is None else actions)

    @staticmethod
    def allow_egress(group, to_group, port=PORT):
        client("ec2").authorize_security_group_egress(GroupId=group, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": to_group}]}])

    @staticmethod
    def allow_ingress(group, from_group, port=PORT):
        client("ec2").authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": from_group}]}])

    # what Directory Service answers ---------------------------------------------------------------------------

    def description(self):
        description = {
            "DirectoryId": DIRECTORY_ID, "Name": "corp.example.com", "Type": "MicrosoftAD", "Stage": "Active",
            "DnsIpAddrs": CONTROLLERS,
            "VpcSettings": {"VpcId": "vpc-0123456789abcdef0", "SubnetIds": ["subnet-1", "subnet-2"],
                            "SecurityGroupId": self.directory_group, "AvailabilityZones": ["us-east-1a", "us-east-1b"]},
        }
        if self.radius["status"] is not None:
            description["RadiusStatus"] = self.radius["status"]
            description["RadiusSettings"] = {
                "RadiusServers": self.radius["servers"], "RadiusPort": self.radius["port"], "RadiusTimeout": 30,
                "RadiusRetries": 2, "AuthenticationProtocol": "PAP", "DisplayLabel": "duomfa", "UseSameUsername": True}
        return description

    def clients(self):
        return AwsClients(cloudformation=client("cloudformation"), ecs=client("ecs"), ds=self.ds,
                          secretsmanager=client("secretsmanager"), ssm=client("ssm"),
                          cloudwatch=client("cloudwatch"), ec2=client("ec2"))

    def checks(self, stack=STACK):
        """{name: Check} of one doctor run; Directory Service answers every describe_directories the same."""
        stubber = Stubber(self.ds)
        for _ in range(2):  # the directory check and the security-group check each describe it once
            stubber.add_response("describe_directories", {"DirectoryDescriptions": [self.description()]},
                                 {"DirectoryIds": [DIRECTORY_ID]})
        with stubber:
            found = aws_checks(stack, self.clients(), now=lambda: NOW)
        return {check.name: check for check in found}


@pytest.fixture
def world(aws):
    return World()


def statuses(checks):
    return {name: check.status for name, check in checks.items()}


ALL_OK = {"stack": "ok", "service": "ok", "tasks": "ok", "directory": "ok", "rotation": "ok", "updater-state": "ok",
          "alarms": "ok", "directory-egress": "ok", "proxy-ingress": "ok"}


def test_a_healthy_deployment_passes_every_check(world):
    checks = world.checks()
    assert statuses(checks) == ALL_OK, {name: check.detail for name, check in checks.items() if check.status != "ok"}
    assert checks["tasks"].detail == f"2 running, healthy task(s): {', '.join(world.addresses)}"
    assert checks["directory"].detail.startswith(f"RadiusStatus Completed; servers {', '.join(world.addresses)} = "
                                                 "the running, healthy tasks; UDP 1812, 30 s × 3 attempts")
    assert checks["alarms"].detail.startswith("2 alarm(s), none in ALARM")  # not SomeoneElsesAlarm


def test_the_json_report_and_the_exit_code_through_the_command(world, monkeypatch, capsys):
    stubber = Stubber(world.ds)
    for _ in range(2):
        stubber.add_response("describe_directories", {"DirectoryDescriptions": [world.description()]})
    monkeypatch.setattr(doctor.AwsClients, "create", classmethod(lambda cls, region: world.clients()))
    with stubber:
        assert main(["doctor", "--stack", STACK, "--region", REGION, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"checks", "failed", "warnings"}
    assert (document["failed"], document["warnings"]) == (0, 0)
    assert [check["name"] for check in document["checks"]] == list(ALL_OK)
    assert all(set(check) == {"name", "status", "detail", "fix"} for check in document["checks"])

    world.radius["status"] = "Failed"
    stubber = Stubber(world.ds)
    for _ in range(2):
        stubber.add_response("describe_directories", {"DirectoryDescriptions": [world.description()]})
    with stubber:
        assert main(["doctor", "--stack", STACK, "--region", REGION]) == 1
    text = capsys.readouterr().out
    assert any(line.startswith("fail directory") and " → " in line for line in text.splitlines())
    assert text.splitlines()[-1] == "9 check(s): 1 failed, 0 warning(s)"


def test_warnings_alone_exit_zero(world):
    world.secret_model().rotation_enabled = False
    out = io.StringIO()
    stubber = Stubber(world.ds)
    for _ in range(2):
        stubber.add_response("describe_directories", {"DirectoryDescriptions": [world.description()]})
    with stubber:
        code = run_doctor(config=None, stack=STACK, region=REGION, probe=False, as_json=True, environ={}, out=out,
                          aws_clients=world.clients())
    document = json.loads(out.getvalue())
    assert (code, document["failed"], document["warnings"]) == (0, 0, 1)


# --- stack ----------------------------------------------------------------------------------------------------

def test_a_stack_that_does_not_exist_is_the_only_check(world):
    checks = world.checks(stack="NoSuchStack")
    assert list(checks) == ["stack"]
    assert checks["stack"].status == "fail"
    assert checks["stack"].detail == f"stack NoSuchStack was not found in {REGION}"
    assert "--region" in checks["stack"].fix


def test_a_stack_without_the_outputs_names_what_is_missing(world):
    client("cloudformation").create_stack(StackName="Other", TemplateBody=json.dumps({
        "Resources": {"P": {"Type": "AWS::SSM::Parameter",
                            "Properties": {"Name": "/other", "Type": "String", "Value": "x"}}},
        "Outputs": {"ClusterName": {"Value": CLUSTER}}}))
    checks = world.checks(stack="Other")
    assert list(checks) == ["stack"]
    assert checks["stack"].status == "fail"
    assert "has no output ServiceName, SecretArn, ProtectedDirectoryId" in checks["stack"].detail


# --- service and tasks ----------------------------------------------------------------------------------------

def test_fewer_running_tasks_than_desired_fails_the_service(world):
    world.service_model().running_count = 1
    check = world.checks()["service"]
    assert check.status == "fail"
    assert check.detail.startswith("1 of 2 desired task(s) running")
    assert f"aws ecs describe-services --cluster {CLUSTER} --services {SERVICE}" in check.fix


def test_a_deployment_under_way_is_a_warning(world):
    world.ecs.set_rollout("IN_PROGRESS")
    check = world.checks()["service"]
    assert check.status == "warn"
    assert check.detail.startswith("a deployment is under way")
    assert "aws ecs wait services-stable" in check.fix


def test_no_running_task_fails_the_service(world):
    world.service_model().running_count = 0
    check = world.checks()["service"]
    assert check.status == "fail" and "no proxy is running" in check.detail


def test_no_healthy_task_fails_and_the_directory_is_not_compared(aws):
    world = World()
    for task in ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[CLUSTER].values():
        task.health_status = "UNHEALTHY"
    checks = world.checks()
    assert checks["tasks"].status == "fail"
    assert checks["tasks"].detail.startswith("no running, healthy task with an address (2 running but not healthy")
    assert checks["directory"].status == "warn"
    assert "(not compared: no healthy task)" in checks["directory"].detail


def test_an_unhealthy_task_among_healthy_ones_is_a_warning(world):
    world.ecs.run(1, health="UNHEALTHY")
    check = world.checks()["tasks"]
    assert check.status == "warn"
    assert "1 running but not healthy" in check.detail


# --- directory ------------------------------------------------------------------------------------------------

def test_radius_not_enabled_fails_the_directory(world):
    world.radius["status"] = None
    check = world.checks()["directory"]
    assert check.status == "fail"
    assert check.detail == f"RADIUS (MFA) is not enabled on directory {DIRECTORY_ID}"
    assert "Multi-factor authentication" in check.fix


def test_radius_status_failed_fails_the_directory(world):
    world.radius["status"] = "Failed"
    check = world.checks()["directory"]
    assert check.status == "fail" and "RadiusStatus Failed" in check.detail
    assert "directory-egress and proxy-ingress" in check.fix


def test_radius_status_creating_is_a_warning(world):
    world.radius["status"] = "Creating"
    assert world.checks()["directory"].status == "warn"


def test_servers_other_than_the_healthy_tasks_fail_the_directory(world):
    world.radius["servers"] = [world.addresses[0], "10.0.1.250"]
    check = world.checks()["directory"]
    assert check.status == "fail"
    assert check.detail == (f"directory {DIRECTORY_ID}: RadiusServers are {world.addresses[0]}, 10.0.1.250, but the "
                            f"running, healthy tasks are {', '.join(world.addresses)}")


def test_a_port_other_than_the_proxies_fails_the_directory(world):
    world.radius["port"] = 1645
    check = world.checks()["directory"]
    assert check.status == "fail" and "RadiusPort is 1645, but the proxies listen on 1812" in check.detail


def test_with_a_load_balancer_the_directory_must_have_its_fixed_addresses(aws):
    world = World(load_balancer=("10.0.1.100", "10.0.2.100"))
    checks = world.checks()
    assert checks["directory"].status == "ok"
    assert "= the load balancer's fixed addresses" in checks["directory"].detail
    world.radius["servers"] = world.addresses  # the tasks, not the load balancer
    check = world.checks()["directory"]
    assert check.status == "fail"
    assert "but the load balancer's fixed addresses are 10.0.1.100, 10.0.2.100" in check.detail


# --- rotation and the directory updater's state ---------------------------------------------------------------

def test_rotation_disabled_is_a_warning(world):
    world.secret_model().rotation_enabled = False
    check = world.checks()["rotation"]
    assert (check.status, check.detail) == ("warn", "rotation is disabled: the RADIUS shared secret never changes")
    assert "Edit rotation" in check.fix


def test_a_rotation_left_pending_fails(world):
    from control_aws import begin_rotation

    begin_rotation(world.secret_arn, "a" * 32)
    check = world.checks()["rotation"]
    assert check.status == "fail"
    assert check.detail.startswith(f"a rotation did not finish: version {'a' * 32} is still AWSPENDING")
    assert f"--remove-from-version-id {'a' * 32}" in check.fix


def test_a_secret_never_rotated_is_a_warning(world):
    world.secret_model().last_rotation_date = None
    check = world.checks()["rotation"]
    assert check.status == "warn" and "never been rotated" in check.detail


def test_the_directory_on_the_previous_secret_is_a_warning(world):
    previous = world.version("AWSCURRENT")
    client("secretsmanager").put_secret_value(SecretId=world.secret_arn,
                                              SecretString=json.dumps({"radius_secret": "next-secret-0123456789"}))
    world.applied(previous)
    check = world.checks()["updater-state"]
    assert check.status == "warn"
    assert f"the directory still has the previous shared secret (AWSPREVIOUS {previous}" in check.detail


def test_a_new_version_holding_the_same_shared_secret_needs_no_update(world):
    given = world.version("AWSCURRENT")
    document = json.loads(client("secretsmanager").get_secret_value(SecretId=world.secret_arn)["SecretString"])
    client("secretsmanager").put_secret_value(SecretId=world.secret_arn,  # new Duo keys, the same shared secret
                                              SecretString=json.dumps(document | {"ikey": "DI" + "B" * 18}))
    check = world.checks()["updater-state"]
    assert check.status == "ok"
    assert "given at" in check.detail and f"with version {given}, which holds the same one" in check.detail


def test_the_directory_on_a_secret_the_proxies_no_longer_accept_fails(world):
    world.applied("0" * 32)
    check = world.checks()["updater-state"]
    assert check.status == "fail"
    assert "neither AWSCURRENT" in check.detail and "no longer accept it" in check.detail


def test_the_recorded_digest_stands_in_for_a_version_that_is_gone(world):
    shared_secret = json.loads(client("secretsmanager").get_secret_value(SecretId=world.secret_arn)["SecretString"])[
        "radius_secret"]
    client("ssm").put_parameter(Name=world.state_parameter, Overwrite=True, Type="String", Value=json.dumps(
        {"servers": world.addresses, "port": PORT, "secret_version": "0" * 32, "applied_at": int(NOW),
         "secret_sha256": hashlib.sha256(shared_secret.encode()).hexdigest()}))
    assert world.checks()["updater-state"].status == "ok"


def test_no_update_recorded_yet_is_a_warning(world):
    client("ssm").put_parameter(Name=world.state_parameter, Overwrite=True, Type="String", Value="none")
    assert world.checks()["updater-state"].status == "warn"


# --- alarms ---------------------------------------------------------------------------------------------------

def test_an_alarm_in_alarm_fails_and_says_what_it_means(world):
    client("cloudwatch").set_alarm_state(AlarmName=f"{STACK}-MonitoringFailOpenAlarm-4D5E6F", StateValue="ALARM",
                                         StateReason="Threshold Crossed")
    client("cloudwatch").set_alarm_state(AlarmName="SomeoneElsesAlarm", StateValue="ALARM", StateReason="x")
    check = world.checks()["alarms"]
    assert check.status == "fail"
    assert check.detail.startswith(f"1 of 2 alarm(s) in ALARM: {STACK}-MonitoringFailOpenAlarm-4D5E6F")
    assert "A proxy let a user in without Duo." in check.fix


def test_an_alarm_found_only_by_its_topic_counts(world):
    world.alarm("RenamedByHand", "still ours")
    client("cloudwatch").set_alarm_state(AlarmName="RenamedByHand", StateValue="ALARM", StateReason="x")
    check = world.checks()["alarms"]
    assert check.status == "fail" and "RenamedByHand" in check.detail


# --- security groups ------------------------------------------------------------------------------------------

def test_no_egress_from_the_directory_fails_with_the_command_that_adds_it(world):
    client("ec2").revoke_security_group_egress(GroupId=world.directory_group, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": PORT, "ToPort": PORT, "UserIdGroupPairs": [{"GroupId": world.proxy_group}]}])
    checks = world.checks()
    assert checks["directory-egress"].status == "fail"
    assert checks["directory-egress"].detail.startswith(
        f"the directory's group {world.directory_group} may send UDP {PORT} only to nowhere")
    fix = checks["directory-egress"].fix
    assert f"aws ec2 authorize-security-group-egress --group-id {world.directory_group}" in fix
    assert checks["proxy-ingress"].status == "ok"


def test_egress_on_another_port_does_not_count(world):
    client("ec2").revoke_security_group_egress(GroupId=world.directory_group, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": PORT, "ToPort": PORT, "UserIdGroupPairs": [{"GroupId": world.proxy_group}]}])
    world.allow_egress(world.directory_group, world.proxy_group, port=1645)
    assert world.checks()["directory-egress"].status == "fail"


def test_egress_to_a_block_covering_the_proxies_counts(world):
    client("ec2").authorize_security_group_egress(GroupId=world.directory_group, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])  # moto's task addresses
    client("ec2").revoke_security_group_egress(GroupId=world.directory_group, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": PORT, "ToPort": PORT, "UserIdGroupPairs": [{"GroupId": world.proxy_group}]}])
    check = world.checks()["directory-egress"]
    assert check.status == "ok" and "10.0.0.0/8, which covers" in check.detail


def test_no_ingress_into_the_proxies_fails_with_the_command_that_adds_it(world):
    client("ec2").revoke_security_group_ingress(GroupId=world.proxy_group, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": PORT, "ToPort": PORT,
         "UserIdGroupPairs": [{"GroupId": world.directory_group}]}])
    check = world.checks()["proxy-ingress"]
    assert check.status == "fail"
    assert (f"aws ec2 authorize-security-group-ingress --group-id {world.proxy_group} --protocol udp --port {PORT} "
            f"--source-group {world.directory_group}") in check.fix


def test_through_the_load_balancers_group_both_directions_pass(aws):
    world = World(load_balancer=("10.0.1.100", "10.0.2.100"))
    ec2 = client("ec2")
    vpc = ec2.describe_security_groups(GroupIds=[world.proxy_group])["SecurityGroups"][0]["VpcId"]
    balancer = ec2.create_security_group(GroupName="nlb", Description="nlb", VpcId=vpc)["GroupId"]
    ec2.revoke_security_group_egress(GroupId=balancer, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    for group, permissions in ((world.directory_group, "egress"), (world.proxy_group, "ingress")):
        revoke = ec2.revoke_security_group_egress if permissions == "egress" else ec2.revoke_security_group_ingress
        other = world.proxy_group if permissions == "egress" else world.directory_group
        revoke(GroupId=group, IpPermissions=[{"IpProtocol": "udp", "FromPort": PORT, "ToPort": PORT,
                                              "UserIdGroupPairs": [{"GroupId": other}]}])
    world.allow_egress(world.directory_group, balancer)  # as duomfa.infra.load_balancer wires it
    world.allow_ingress(balancer, world.directory_group)
    world.allow_egress(balancer, world.proxy_group)
    world.allow_ingress(world.proxy_group, balancer)
    checks = world.checks()
    assert checks["directory-egress"].status == "ok"
    assert f"to the load balancer's group {balancer}" in checks["directory-egress"].detail
    assert checks["proxy-ingress"].status == "ok"
    assert f"from the load balancer's group {balancer}" in checks["proxy-ingress"].detail

    ec2.revoke_security_group_ingress(GroupId=balancer, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": PORT, "ToPort": PORT,
         "UserIdGroupPairs": [{"GroupId": world.directory_group}]}])  # the load balancer refuses the directory
    checks = world.checks()
    assert checks["directory-egress"].status == "fail"
    assert checks["proxy-ingress"].status == "fail"


def test_access_denied_fails_one_check_and_the_rest_still_run(world):
    from botocore.exceptions import ClientError

    clients = world.clients()

    class Denied:
        meta = clients.cloudwatch.meta

        def get_paginator(self, name):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DescribeAlarms")

    stubber = Stubber(world.ds)
    for _ in range(2):
        stubber.add_response("describe_directories", {"DirectoryDescriptions": [world.description()]})
    with stubber:
        checks = {c.name: c for c in aws_checks(STACK, AwsClients(**{**clients.__dict__, "cloudwatch": Denied()}))}
    assert checks["alarms"].status == "fail"
    assert checks["alarms"].detail == "could not check: DescribeAlarms: AccessDenied: not allowed"
    assert "cloudwatch:DescribeAlarms" in checks["alarms"].fix
    assert checks["proxy-ingress"].status == "ok"
