"""Logical IDs of deployed stacks stay put: the scheme that keeps them (duomfa.infra.logical_ids) gives CDK's IDs
wherever it is not told otherwise, and the control plane's resources — and those the load balancer asks of the
proxies — keep the IDs they had before the constructs were split. A changed logical ID replaces the resource on the
next update (for the DisableRadius custom resource: RADIUS off on the directory), so these lists change only on
purpose."""

from __future__ import annotations

import pytest
from aws_cdk import App, CfnElement, CfnResource, Names, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from constructs import Construct

from cdk_synth import Synthesized
from duomfa.infra.logical_ids import StableLogicalIdStack, keep_logical_ids, leave_out_of_logical_ids, make_unique_id

# the control plane's resources as deployed stacks have them: logical ID -> type (both variants)
CONTROL_PLANE = {
    "ControlPlaneAddressParameter436FEC5B": "AWS::SSM::Parameter",
    "ControlPlaneStateParameterB6E25D82": "AWS::SSM::Parameter",
    "ControlPlaneDeadLetters23D7F01E": "AWS::SQS::Queue",
    "ControlPlaneDeadLettersPolicy10896275": "AWS::SQS::QueuePolicy",
    "ControlPlaneUpdaterRoleCFA0C7C5": "AWS::IAM::Role",
    "ControlPlaneUpdaterRoleDefaultPolicy9A4F4DE8": "AWS::IAM::Policy",
    "ControlPlaneUpdaterLogsF29754E6": "AWS::Logs::LogGroup",
    "ControlPlaneUpdater33D138E8": "AWS::Lambda::Function",
    "ControlPlaneUpdaterEventInvokeConfig76E698AD": "AWS::Lambda::EventInvokeConfig",
    "ControlPlaneDisableRadiusRole92E2ACB0": "AWS::IAM::Role",
    "ControlPlaneDisableRadiusRoleDefaultPolicy3350FDD7": "AWS::IAM::Policy",
    "ControlPlaneDisableRadiusHandlerLogs95A3796B": "AWS::Logs::LogGroup",
    "ControlPlaneDisableRadiusHandler9866EEC7": "AWS::Lambda::Function",
    "ControlPlaneDisableRadiusProviderLogsB36F5A66": "AWS::Logs::LogGroup",
    "ControlPlaneDisableRadiusFrameworkRole7EF5B857": "AWS::IAM::Role",
    "ControlPlaneDisableRadiusFrameworkRoleDefaultPolicy64DF5C02": "AWS::IAM::Policy",
    "ControlPlaneDisableRadiusProviderframeworkonEvent7B43217B": "AWS::Lambda::Function",
    "ControlPlaneDisableRadiusOnDelete3AC52803": "Custom::DisableRadiusOnDelete",
    "ControlPlaneRotationSecurityGroupDF9785D9": "AWS::EC2::SecurityGroup",
    "ControlPlaneRotationToProxies7F02972E": "AWS::EC2::SecurityGroupEgress",
    "ControlPlaneRotationDnsUDPF18C8BAB": "AWS::EC2::SecurityGroupEgress",
    "ControlPlaneRotationDnsTCPB95AA098": "AWS::EC2::SecurityGroupEgress",
    "ControlPlaneRotationRoleF87645EB": "AWS::IAM::Role",
    "ControlPlaneRotationRoleDefaultPolicyDAD7B395": "AWS::IAM::Policy",
    "ControlPlaneRotationLogs1AB08C6A": "AWS::Logs::LogGroup",
    "ControlPlaneRotationAA01CE22": "AWS::Lambda::Function",
    "ControlPlaneSecretsManagerInvokesRotation9E81640C": "AWS::Lambda::Permission",
    "ControlPlaneRotationScheduleB8A07C4D": "AWS::SecretsManager::RotationSchedule",
    "ControlPlaneTrackerRole52F174E6": "AWS::IAM::Role",
    "ControlPlaneTrackerRoleDefaultPolicy384B0C4D": "AWS::IAM::Policy",
    "ControlPlaneTrackerLogs3585654B": "AWS::Logs::LogGroup",
    "ControlPlaneTracker124F85EF": "AWS::Lambda::Function",
    "ControlPlaneTaskStateChangedAE5CFDBF": "AWS::Events::Rule",
    "ControlPlaneTrackAddresses0D1D8B68": "AWS::Events::Rule",
    "ControlPlaneServiceSteadyStateF731671E": "AWS::Events::Rule",
    "ControlPlaneDeploymentCompleted6F4D4884": "AWS::Events::Rule",
    "ControlPlaneAddressesChanged4ADB9705": "AWS::Events::Rule",
    "ControlPlaneReconcile9E6F4D2D": "AWS::Events::Rule",
    "ControlPlaneFunctionImagesRoleBE3976EB": "AWS::IAM::Role",
    "ControlPlaneFunctionImagesRoleDefaultPolicy2F25AB8C": "AWS::IAM::Policy",
    "ControlPlaneFunctionImagesLogs52328EF0": "AWS::Logs::LogGroup",
    "ControlPlaneFunctionImages46D74962": "AWS::Lambda::Function",
    "ControlPlaneRotationFailed93E63B0A": "AWS::Events::Rule",
    "ControlPlaneRotationErrors1875E69C": "AWS::CloudWatch::Alarm",
    "ControlPlaneAddressTrackerErrorsB9C1D748": "AWS::CloudWatch::Alarm",
    "ControlPlaneDirectoryUpdaterErrorsE88358C5": "AWS::CloudWatch::Alarm",
    "ControlPlaneFunctionImagesErrors6956FFA0": "AWS::CloudWatch::Alarm",
    "ControlPlaneDirectoryRadiusNotInSync9EFD4D67": "AWS::CloudWatch::Alarm",
    "ControlPlaneDeadLettersWaiting98AC2834": "AWS::CloudWatch::Alarm",
}
# EventBridge's permissions to invoke the control plane's functions: named after the rule and the function's unique id,
# which starts with the stack's name
INVOKE_PERMISSIONS = {
    "DuoMfaNewVpc": [
        "ControlPlaneTaskStateChangedAllowEventRuleDuoMfaNewVpcControlPlaneTrackerCBACB3B908CA6AB1",
        "ControlPlaneTrackAddressesAllowEventRuleDuoMfaNewVpcControlPlaneTrackerCBACB3B9EA871891",
        "ControlPlaneServiceSteadyStateAllowEventRuleDuoMfaNewVpcControlPlaneTrackerCBACB3B91103E4D8",
        "ControlPlaneDeploymentCompletedAllowEventRuleDuoMfaNewVpcControlPlaneTrackerCBACB3B9B1B9C08E",
        "ControlPlaneDeploymentCompletedAllowEventRuleDuoMfaNewVpcControlPlaneUpdaterE5015C6EF108BA9C",
        "ControlPlaneAddressesChangedAllowEventRuleDuoMfaNewVpcControlPlaneUpdaterE5015C6EEB19C480",
        "ControlPlaneReconcileAllowEventRuleDuoMfaNewVpcControlPlaneUpdaterE5015C6E62D76A30",
        "ImagePipelineSucceededAllowEventRuleDuoMfaNewVpcControlPlaneFunctionImages8450CA31E9016202",
    ],
    "DuoMfaExistingVpc": [
        "ControlPlaneTaskStateChangedAllowEventRuleDuoMfaExistingVpcControlPlaneTracker5306CD3558C1FC05",
        "ControlPlaneTrackAddressesAllowEventRuleDuoMfaExistingVpcControlPlaneTracker5306CD355355E0DD",
        "ControlPlaneServiceSteadyStateAllowEventRuleDuoMfaExistingVpcControlPlaneTracker5306CD35D84F5EF5",
        "ControlPlaneDeploymentCompletedAllowEventRuleDuoMfaExistingVpcControlPlaneTracker5306CD3514B76DBC",
        "ControlPlaneDeploymentCompletedAllowEventRuleDuoMfaExistingVpcControlPlaneUpdater6C78EFEF1EDEA7AB",
        "ControlPlaneAddressesChangedAllowEventRuleDuoMfaExistingVpcControlPlaneUpdater6C78EFEF177D8BFE",
        "ControlPlaneReconcileAllowEventRuleDuoMfaExistingVpcControlPlaneUpdater6C78EFEF0E0C93BE",
        "ImagePipelineSucceededAllowEventRuleDuoMfaExistingVpcControlPlaneFunctionImagesB5054959D019A1DB",
    ],
}
# rules of the proxies' security group that other constructs ask for (ProxyService owns them)
PROXY_INGRESS = {
    "ProxiesFromRotation70FC7625": "rotation", "RadiusLoadBalancerProxiesFromLoadBalancerA51454BC": "load balancer",
    "RadiusLoadBalancerHealthFromLoadBalancer18DA30D0": "load balancer health checks"}


def resources_under(s: Synthesized, construct: Construct) -> set[str]:
    return {s.stack.resolve(c.logical_id) for c in construct.node.find_all() if isinstance(c, CfnResource)}


# --- the deployed stacks' IDs ---------------------------------------------------------------------------------------

def test_the_control_plane_keeps_the_logical_ids_of_deployed_stacks(variant):
    resources = variant.json["Resources"]
    pinned = {**CONTROL_PLANE, **dict.fromkeys(INVOKE_PERMISSIONS[variant.stack.node.id], "AWS::Lambda::Permission")}
    assert {logical_id: resources.get(logical_id, {}).get("Type") for logical_id in pinned} == pinned
    # and nothing of the control plane is left out of the list: a new resource is added to it on purpose
    under_control_plane = resources_under(variant, variant.stack.control_plane)
    assert under_control_plane == set(pinned) - {p for p in pinned if p.startswith("ImagePipeline")}


def test_rules_asked_of_the_proxies_keep_the_logical_ids_of_deployed_stacks(variant):
    resources = variant.json["Resources"]
    for logical_id in PROXY_INGRESS:
        assert resources[logical_id]["Type"] == "AWS::EC2::SecurityGroupIngress", logical_id
    assert set(PROXY_INGRESS) <= resources_under(variant, variant.stack.proxies)


# --- the scheme -----------------------------------------------------------------------------------------------------

def sample(stack: Stack) -> None:
    """Ids CDK treats specially (Default, Resource, a repeated id, characters it drops, a long path), a role's
    grants policy, and an EventBridge rule that invokes a function (its permission names the function)."""
    outer = Construct(stack, "Outer-1")
    Construct(outer, "Default")
    inner = Construct(outer.node.find_child("Default"), "OuterInner")
    sqs.CfnQueue(inner, "Resource")
    long = Construct(inner, "L" * 200)
    sqs.CfnQueue(long, "Q" * 100)
    role = iam.Role(outer, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["*"]))
    function = lambda_.Function(outer, "Function", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
                                code=lambda_.Code.from_inline("def handler(e, c): pass"), role=role)
    events.Rule(stack, "Rule", schedule=events.Schedule.expression("rate(1 hour)"),
                targets=[targets.LambdaFunction(function)])


def logical_ids(stack: Stack) -> list[str]:
    return sorted(Template.from_stack(stack).to_json()["Resources"])


def test_the_scheme_is_cdk_s_where_it_is_not_told_otherwise():
    stack = Stack(App(analytics_reporting=False), "Plain")
    sample(stack)
    stable = StableLogicalIdStack(App(analytics_reporting=False), "Plain")
    sample(stable)
    for element in stack.node.find_all():
        if isinstance(element, CfnElement):
            below_stack = element.node.path.split("/")[1:]
            assert make_unique_id(below_stack) == stack.resolve(element.logical_id), element.node.path
        if element is not stack:
            assert make_unique_id(element.node.path.split("/")) == Names.unique_id(element), element.node.path
    assert logical_ids(stable) == logical_ids(stack)


@pytest.mark.parametrize("stack_class", [Stack, StableLogicalIdStack])
def test_a_construct_left_out_keeps_what_it_holds_where_it_was(stack_class):
    before = stack_class(App(analytics_reporting=False), "Moved")
    sample(before)
    after = stack_class(App(analytics_reporting=False), "Moved")
    wrapper = Construct(after, "Wrapper")
    leave_out_of_logical_ids(wrapper)
    sample(wrapper)
    if stack_class is StableLogicalIdStack:
        assert logical_ids(after) == logical_ids(before)  # the permission too, named after the moved function
    else:  # a plain stack takes no notice
        assert all(logical_id.startswith("Wrapper") for logical_id in logical_ids(after))


def test_a_resource_made_elsewhere_keeps_the_logical_id_it_had():
    before = StableLogicalIdStack(App(analytics_reporting=False), "Kept")
    sqs.CfnQueue(Construct(before, "Maker"), "Queue")
    after = StableLogicalIdStack(App(analytics_reporting=False), "Kept")
    maker = Construct(after, "Maker")
    queue = sqs.CfnQueue(Construct(after, "Owner"), "OwnersQueue")
    keep_logical_ids(queue, parent=maker, construct_id="Queue")
    assert logical_ids(after) == logical_ids(before)
