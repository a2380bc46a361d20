"""Least privilege in both variants: who may publish to the topic and use the key, who may read the secret's value,
which repository the connection serves, who may assume the flow-log role, and that every wildcard suppression names
exactly the wildcards it covers — read from the synthesized templates."""

from __future__ import annotations

import fnmatch
import json
import re

from cdk_synth import Synthesized, principals, ref, statements
from duomfa.infra.secrets import VALUE_ACTIONS

ACCOUNT = "123456789012"
KEY_ACTIONS_THROUGH = {  # role → the services it may use the key through
    "Duo keys": {"secretsmanager"}, "build": {"s3"}, "pipeline": {"s3"}}
MANAGEMENT = ("secretsmanager:DescribeSecret", "secretsmanager:UpdateSecret", "secretsmanager:DeleteSecret",
              "secretsmanager:RotateSecret", "secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy",
              "secretsmanager:GetResourcePolicy", "secretsmanager:RestoreSecret", "secretsmanager:TagResource")


# --- helpers --------------------------------------------------------------------------------------------------------

def only_id(s: Synthesized, resource_type: str) -> str:
    (found,) = s.resources(resource_type)
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def role_statements(s: Synthesized) -> dict[str, list[dict]]:
    """{role logical id: every statement of its policies}, plain statements only (not a source's Fn::If)."""
    found: dict[str, list[dict]] = {}
    for policy in s.resources("AWS::IAM::Policy").values():
        for role in policy["Properties"].get("Roles", []):
            found.setdefault(role["Ref"], []).extend(
                st for st in statements(policy["Properties"]["PolicyDocument"]) if "Effect" in st)
    return found


def role_of_function(s: Synthesized, description_start: str) -> str:
    (role,) = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in s.resources("AWS::Lambda::Function").values()
               if f["Properties"].get("Description", "").startswith(description_start)]
    return role


def rendered(value) -> str:
    """A policy value as cdk-nag names it: <Id> for a Ref, <Id.Arn> for an Fn::GetAtt, joins concatenated."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    separator, parts = value["Fn::Join"]
    return separator.join(rendered(part) for part in parts)


class Deployed:
    """The template's values as CloudFormation would resolve them, for given parameter values: every role's ARN is
    arn:aws:iam::ACCOUNT:role/<logical id>."""

    def __init__(self, s: Synthesized, **parameters: str) -> None:
        self.template = s.json
        self.parameters = {name: spec.get("Default", "") for name, spec in s.json["Parameters"].items()}
        self.parameters.update(parameters)

    def condition(self, name: str) -> bool:
        return self._test(self.template["Conditions"][name])

    def _test(self, expression: dict) -> bool:
        if "Fn::Not" in expression:
            return not self._test(expression["Fn::Not"][0])
        if "Fn::Equals" in expression:
            left, right = (self.value(v) for v in expression["Fn::Equals"])
            return left == right
        if "Condition" in expression:
            return self.condition(expression["Condition"])
        raise AssertionError(f"unexpected condition {expression}")

    def value(self, value):
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self.parameters.get(value["Ref"], {"AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}.get(
                value["Ref"], value["Ref"]))
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn" and self.template["Resources"][resource]["Type"] == "AWS::IAM::Role", value
            return f"arn:aws:iam::{ACCOUNT}:role/{resource}"
        if "Fn::If" in value:
            name, then, otherwise = value["Fn::If"]
            return self.value(then if self.condition(name) else otherwise)
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(self.value(parts))
        if "Fn::Split" in value:
            separator, text = value["Fn::Split"]
            return self.value(text).split(separator)
        return {key: self.value(v) for key, v in value.items()}


def secret_policy(s: Synthesized) -> dict:
    (policy,) = [p["Properties"] for p in s.resources("AWS::SecretsManager::ResourcePolicy").values()]
    return policy


def denied_value(s: Synthesized, principal_arn: str, action: str, **parameters: str) -> bool:
    """Whether the secret's resource policy denies `action` to a caller whose aws:PrincipalArn is `principal_arn`."""
    document = Deployed(s, **parameters).value(secret_policy(s)["ResourcePolicy"])
    for statement in document["Statement"]:
        assert statement["Effect"] == "Deny" and set(statement["Condition"]) == {"ArnNotLike"}
        patterns = as_list(statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
        if action in statement["Action"] and not any(fnmatch.fnmatchcase(principal_arn, p) for p in patterns):
            return True
    return False


# --- the SNS topic --------------------------------------------------------------------------------------------------

def test_only_this_account_s_alarms_and_the_notice_rules_may_publish_to_the_topic(variant):
    topic = only_id(variant, "AWS::SNS::Topic")
    policy = statements(variant.only("AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"])
    allowed = [st for st in policy if st["Effect"] == "Allow"]
    assert all("Condition" in st for st in allowed)  # no unconditioned statement beside a conditioned one
    (alarms,) = [st for st in allowed if principals(st, "Service") == ["cloudwatch.amazonaws.com"]]
    assert (alarms["Action"], alarms["Resource"]) == ("sns:Publish", ref(topic))
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
        "ArnLike": {"aws:SourceArn": {"Fn::Join": ["", ["arn:", ref("AWS::Partition"), ":cloudwatch:",
                                                        ref("AWS::Region"), ":", ref("AWS::AccountId"), ":alarm:*"]]}}}
    events = [st for st in allowed if principals(st, "Service") == ["events.amazonaws.com"]]
    assert len(allowed) == 1 + len(events)
    notice_rules = {name for name, rule in variant.resources("AWS::Events::Rule").items()
                    if any(target["Arn"] == ref(topic) for target in rule["Properties"].get("Targets", []))}
    assert len(notice_rules) == 2  # a failed rotation, a failed image pipeline run
    assert sorted(json.dumps(st["Condition"]) for st in events) == sorted(json.dumps({
        "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}}) for rule in notice_rules)
    assert all((st["Action"], st["Resource"]) == ("sns:Publish", ref(topic)) for st in events)


# --- the KMS key ----------------------------------------------------------------------------------------------------

def test_the_key_policy_names_each_publishing_service_once(variant):
    policy = statements(variant.only("AWS::KMS::Key")["Properties"]["KeyPolicy"])
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
        (statement,) = [st for st in policy if service in principals(st, "Service")]
        assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        # AWS documents no aws:SourceAccount / aws:SourceArn on these services' KMS requests (docs/deploy.md)
        assert "Condition" not in statement
    # everyone else but the account (root) and the key administrator: only through a service
    for statement in policy:
        if statement.get("Sid") in ("AccountOwnsTheKey", "KeyAdministrator") or principals(statement, "Service"):
            continue
        assert statement["Condition"]["StringEquals"]["kms:ViaService"], statement


def test_every_role_uses_the_key_only_through_the_services_it_needs(variant):
    key = {"Fn::GetAtt": [only_id(variant, "AWS::KMS::Key"), "Arn"]}
    through: dict[str, set[str]] = {}
    for role, granted in role_statements(variant).items():
        for statement in granted:
            if any(action.startswith("kms:") for action in as_list(statement["Action"])):
                assert statement["Resource"] == key, (role, statement)
                assert not any("*" in action for action in as_list(statement["Action"])), (role, statement)
                service = statement["Condition"]["StringEquals"]["kms:ViaService"]
                assert service["Fn::Join"][1][1:] == [ref("AWS::Region"), ".amazonaws.com"], (role, statement)
                through.setdefault(role, set()).add(service["Fn::Join"][1][0].rstrip("."))
    project = variant.only("AWS::CodeBuild::Project")["Properties"]
    assert project["EncryptionKey"] == key  # the build's artifacts, written through S3
    roles = {"Duo keys": role_of_function(variant, "Duo MFA: merges the Duo keys"),
             "build": project["ServiceRole"]["Fn::GetAtt"][0],
             "pipeline": variant.only("AWS::CodePipeline::Pipeline")["Properties"]["RoleArn"]["Fn::GetAtt"][0]}
    for name, role in roles.items():
        assert through[role] == KEY_ACTIONS_THROUGH[name], name
    # S3 (SSE-KMS) and Secrets Manager need a data key to write and Decrypt to read, nothing more
    for name in roles:
        key_statements = [st for st in role_statements(variant)[roles[name]]
                          if any(a.startswith("kms:") for a in as_list(st["Action"]))]
        assert [sorted(st["Action"]) for st in key_statements] == [["kms:Decrypt", "kms:GenerateDataKey"]], name


# --- the secret -----------------------------------------------------------------------------------------------------

def value_roles(s: Synthesized) -> set[str]:
    """Every role whose policies allow any of VALUE_ACTIONS on the secret."""
    secret = ref(only_id(s, "AWS::SecretsManager::Secret"))
    return {role for role, granted in role_statements(s).items() for statement in granted
            if set(as_list(statement["Action"])) & set(VALUE_ACTIONS) and secret in as_list(statement["Resource"])}


def test_the_secret_s_value_is_denied_to_all_but_the_roles_that_use_it_and_admin_principals(variant):
    policy = secret_policy(variant)
    assert policy["SecretId"] == ref(only_id(variant, "AWS::SecretsManager::Secret"))
    assert policy["BlockPublicPolicy"] is True
    (deny,) = policy["ResourcePolicy"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Resource"]) == ("Deny", {"AWS": "*"}, "*")
    assert deny["Action"] == list(VALUE_ACTIONS) == [
        "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
    assert not set(MANAGEMENT) & set(deny["Action"])  # CloudFormation and administrators keep managing the secret
    roles = [{"Fn::GetAtt": [role, "Arn"]} for role in sorted(value_roles(variant))]
    condition, with_admins, roles_only = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::If"]
    assert condition == "HasAdminPrincipals"
    assert variant.json["Conditions"]["HasAdminPrincipals"] == {"Fn::Not": [{"Fn::Equals": [ref("AdminPrincipals"),
                                                                                             ""]}]}
    # empty AdminPrincipals: a plain list of the roles, no empty string standing in it as an ARN
    assert sorted(roles_only, key=json.dumps) == sorted(roles, key=json.dumps)
    separator, (joined_separator, joined) = with_admins["Fn::Split"][0], with_admins["Fn::Split"][1]["Fn::Join"]
    assert separator == joined_separator == ","
    assert joined[-1] == ref("AdminPrincipals") and sorted(joined[:-1], key=json.dumps) == sorted(roles, key=json.dumps)


def test_the_roles_that_use_the_value_are_the_proxies_rotation_updater_and_duo_keys(variant):
    roles = value_roles(variant)
    task_role = variant.only("AWS::ECS::TaskDefinition")["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    expected = {task_role, role_of_function(variant, "Duo MFA: merges the Duo keys"),
                role_of_function(variant, "Duo MFA: rotates the RADIUS shared secret"),
                role_of_function(variant, "Duo MFA: converges the directory's RADIUS settings")}
    assert roles == expected
    tracker = role_of_function(variant, "Duo MFA: writes the running proxies' addresses")
    assert tracker not in roles  # it only describes the secret, which the policy does not deny


def test_who_the_secret_policy_denies_with_and_without_admin_principals(variant):
    stack_role = f"arn:aws:iam::{ACCOUNT}:role/{sorted(value_roles(variant))[0]}"
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    sso = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123abcd"
    for action in VALUE_ACTIONS:
        assert not denied_value(variant, stack_role, action)
        assert denied_value(variant, admin, action)  # administrators too, unless named
        assert denied_value(variant, f"arn:aws:iam::{ACCOUNT}:root", action)
        named = {"AdminPrincipals": f"{admin},arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*"}
        assert not denied_value(variant, admin, action, **named)
        assert not denied_value(variant, sso, action, **named)
        assert not denied_value(variant, stack_role, action, **named)
        assert denied_value(variant, f"arn:aws:iam::{ACCOUNT}:role/Other", action, **named)
    for action in MANAGEMENT:
        assert not denied_value(variant, admin, action)


def test_admin_principals_takes_role_and_user_arns_separated_by_commas(variant):
    parameter = variant.json["Parameters"]["AdminPrincipals"]
    assert parameter["Default"] == ""
    assert "duomfa doctor --stack" in parameter["Description"]

    def allows(value: str) -> bool:
        return re.fullmatch(parameter["AllowedPattern"], value) is not None

    for good in ("", "arn:aws:iam::123456789012:role/Admin", "arn:aws-us-gov:iam::123456789012:user/ops/alice",
                 "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:role/aws-reserved/"
                 "sso.amazonaws.com/*/AWSReservedSSO_AdministratorAccess_*"):
        assert allows(good), good
    for bad in ("arn:aws:iam::123456789012:role/Admin, arn:aws:iam::123456789012:role/Ops",
                "arn:aws:iam::123456789012:role/Admin,", "arn:aws:iam::123456789012:root", "*",
                "arn:aws:iam::123456789012:group/Admins", "arn:aws:sts::123456789012:assumed-role/Admin/me",
                "arn:aws:iam::12345:role/Admin"):
        assert not allows(bad), bad


# --- the source connection and the flow logs ------------------------------------------------------------------------

def test_the_flow_log_role_trusts_only_this_account_s_flow_logs(new_vpc):
    flow_log = new_vpc.only("AWS::EC2::FlowLog")["Properties"]
    role = new_vpc.json["Resources"][flow_log["DeliverLogsPermissionArn"]["Fn::GetAtt"][0]]["Properties"]
    (trust,) = statements(role["AssumeRolePolicyDocument"])
    assert (trust["Action"], trust["Principal"]) == ("sts:AssumeRole", {"Service": "vpc-flow-logs.amazonaws.com"})
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")},
        "ArnLike": {"aws:SourceArn": {"Fn::Join": ["", ["arn:", ref("AWS::Partition"), ":ec2:", ref("AWS::Region"),
                                                        ":", ref("AWS::AccountId"), ":vpc-flow-log/*"]]}}}


# --- cdk-nag suppressions -------------------------------------------------------------------------------------------

def suppressions(resource: dict) -> list[dict]:
    return resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])


def test_every_wildcard_suppression_names_exactly_the_wildcards_of_its_policy(variant):
    checked = 0
    for name, resource in variant.json["Resources"].items():
        for suppression in suppressions(resource):
            if suppression["id"] != "AwsSolutions-IAM5":
                continue
            assert suppression.get("applies_to"), name  # a blanket suppression would hide a future wildcard
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            wildcards = set()
            for statement in statements(resource["Properties"]["PolicyDocument"]):
                wildcards |= {f"Action::{a}" for a in as_list(statement["Action"]) if "*" in a}
                wildcards |= {f"Resource::{rendered(r)}" for r in as_list(statement["Resource"]) if "*" in rendered(r)}
            assert set(suppression["applies_to"]) == wildcards, name
            checked += 1
    assert checked >= 10


def test_the_artifact_bucket_s_logging_suppression_does_not_count_on_cloudtrail(variant):
    (reason,) = [s["reason"] for s in suppressions(variant.only("AWS::S3::Bucket")) if s["id"] == "AwsSolutions-S1"]
    # S3 object reads and writes are CloudTrail data events, which a trail records only when told to
    assert "CloudTrail records" not in reason and "data events" in reason


def test_each_function_whose_concurrency_suppression_says_it_reserves_none_reserves_none(variant):
    suppressed = {name: f for name, f in variant.resources("AWS::Lambda::Function").items()
                  if any(s["id"] == "NIST.800.53.R5-LambdaConcurrency" for s in suppressions(f))}
    assert len(suppressed) >= 5
    for name, function in suppressed.items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], name


def all_allow_statements(s: Synthesized) -> list[dict]:
    """Every Allow statement of every identity policy in the template, both branches of a statement chosen by
    Fn::If included."""
    documents = [p["Properties"]["PolicyDocument"] for p in s.resources("AWS::IAM::Policy").values()]
    documents += [p["Properties"]["PolicyDocument"] for p in s.resources("AWS::IAM::ManagedPolicy").values()]
    documents += [inline["PolicyDocument"] for role in s.resources("AWS::IAM::Role").values()
                  for inline in role["Properties"].get("Policies", [])]
    found = []
    for document in documents:
        for statement in statements(document):
            branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
            found += [b for b in branches if isinstance(b, dict) and b.get("Effect") == "Allow"]
    return found


def test_no_role_may_put_metric_data_outside_a_namespace_condition(variant):
    """The proxies and the control plane publish their metrics through their log lines (the embedded metric format),
    so no role needs cloudwatch:PutMetricData; one that ever does must name its namespace."""
    for role in variant.resources("AWS::IAM::Role").values():
        assert not role["Properties"].get("ManagedPolicyArns"), role  # nothing granted out of sight
    statements_found = all_allow_statements(variant)
    assert statements_found
    for statement in statements_found:
        actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
        if any(fnmatch.fnmatchcase("cloudwatch:PutMetricData".lower(), a.lower()) for a in actions):
            conditions = {key for operator in statement.get("Condition", {}).values() for key in operator}
            assert "cloudwatch:namespace" in conditions, statement
