"""Issue 5, part 2 in both variants: the image pipeline, the first-image wait, the Duo keys resource, and the Service
Catalog stack — the properties that matter, plus the provider framework's inline code actually loading in Node."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cdk_synth import Synthesized, ref, statements
from duomfa.infra import first_image, image_pipeline
from duomfa.infra.image_pipeline import NEW_IMAGE_HANDLER_SOURCE
from duomfa.infra.inline_function import inline_source
from duomfa.infra.inline_provider import framework_source
from duomfa.infra.secrets import DUO_KEYS_HANDLER_SOURCE


def logical_id(s: Synthesized, resource_type: str) -> str:
    (found,) = s.resources(resource_type)
    return found


def policies_of(s: Synthesized, role_logical_id: str) -> list[dict]:
    return [statement for p in s.resources("AWS::IAM::Policy").values()
            if ref(role_logical_id) in p["Properties"]["Roles"]
            for statement in statements(p["Properties"]["PolicyDocument"])]


def actions(statement: dict) -> list[str]:
    value = statement.get("Action", [])  # [] for an Fn::If over two statements
    return value if isinstance(value, list) else [value]


def function_with_source(s: Synthesized, source: Path) -> tuple[str, dict]:
    (found,) = [(name, f) for name, f in s.resources("AWS::Lambda::Function").items()
                if f["Properties"]["Code"].get("ZipFile") == inline_source(source)]
    return found


def key_arn(s: Synthesized) -> dict:
    return {"Fn::GetAtt": [logical_id(s, "AWS::KMS::Key"), "Arn"]}


# --- artifact bucket ------------------------------------------------------------------------------------------------

def test_artifact_bucket_is_kms_encrypted_versioned_private_and_ssl_only(variant):
    bucket = variant.only("AWS::S3::Bucket")
    properties = bucket["Properties"]
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms",
                                                           "KMSMasterKeyID": key_arn(variant)}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (deny,) = [s for s in statements(variant.only("AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"])
               if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert any("ExpirationInDays" in rule for rule in properties["LifecycleConfiguration"]["Rules"])
    suppressed = {r["id"] for r in bucket["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert "AwsSolutions-S1" in suppressed  # access logging: a reasoned suppression, not silence


# --- build --------------------------------------------------------------------------------------------------------

def test_build_is_privileged_on_a_current_image_with_the_key_and_the_repository_s_buildspec(variant):
    project = variant.only("AWS::CodeBuild::Project")["Properties"]
    environment = project["Environment"]
    assert environment["PrivilegedMode"] is True
    assert environment["Image"] in ("aws/codebuild/standard:7.0", "aws/codebuild/standard:8.0",
                                    "aws/codebuild/amazonlinux2-x86_64-standard:5.0")
    assert environment["EnvironmentVariables"] == [{
        "Name": "REPOSITORY_URI", "Type": "PLAINTEXT",
        "Value": {"Fn::Join": ["", [{"Fn::Select": [4, {"Fn::Split": [":", {"Fn::GetAtt": [
            logical_id(variant, "AWS::ECR::Repository"), "Arn"]}]}]}, ".dkr.ecr.", {"Fn::Select": [3, {
                "Fn::Split": [":", {"Fn::GetAtt": [logical_id(variant, "AWS::ECR::Repository"), "Arn"]}]}]},
            ".", {"Ref": "AWS::URLSuffix"}, "/", {"Ref": logical_id(variant, "AWS::ECR::Repository")}]]}},
        {"Name": "SCAN_GATE", "Type": "PLAINTEXT", "Value": {"Ref": "ScanGate"}},
        {"Name": "FIPS_IMAGE", "Type": "PLAINTEXT", "Value": {"Fn::If": ["FipsModeOn", "Yes", "No"]}},
        {"Name": "AWS_USE_FIPS_ENDPOINT", "Type": "PLAINTEXT", "Value": {"Fn::If": ["FipsModeOn", "true", "false"]}}]
    assert project["EncryptionKey"] == key_arn(variant)
    assert project["Source"] == {"Type": "CODEPIPELINE"}  # no BuildSpec: buildspec.yml from the repository
    assert project["TimeoutInMinutes"] == 30 and project["QueuedTimeoutInMinutes"] == 10
    logs = project["LogsConfig"]["CloudWatchLogs"]
    assert logs["Status"] == "ENABLED" and logs["GroupName"]["Ref"] in variant.resources("AWS::Logs::LogGroup")


def test_build_timeouts_fit_inside_the_first_image_wait_and_cloudformation_s_hour(variant):
    project = variant.only("AWS::CodeBuild::Project")["Properties"]
    build_minutes = project["TimeoutInMinutes"] + project["QueuedTimeoutInMinutes"]
    wait_seconds = first_image.TOTAL_TIMEOUT.to_seconds()
    assert build_minutes * 60 + first_image.SOURCE_STAGE_ALLOWANCE.to_seconds() < wait_seconds < 3600
    machine = variant.only("AWS::StepFunctions::StateMachine")["Properties"]
    definition = "".join(part for part in machine["DefinitionString"]["Fn::Join"][1] if isinstance(part, str))
    retry = re.search(r'"IntervalSeconds":(\d+),"MaxAttempts":(\d+)', definition)
    assert int(retry[1]) * int(retry[2]) == wait_seconds == 55 * 60
    assert variant.only("Custom::FirstImage")["Properties"]["ServiceTimeout"] == "3600"


def test_build_may_push_to_exactly_its_repository_and_read_scan_findings(variant):
    project = variant.only("AWS::CodeBuild::Project")["Properties"]
    repository = {"Fn::GetAtt": [logical_id(variant, "AWS::ECR::Repository"), "Arn"]}
    granted = policies_of(variant, project["ServiceRole"]["Fn::GetAtt"][0])
    ecr = [s for s in granted if any(a.startswith("ecr:") for a in actions(s))]
    push = {"ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}
    for statement in ecr:
        if set(actions(statement)) & (push | {"ecr:DescribeImageScanFindings"}):
            assert statement["Resource"] == repository
    assert push <= {a for s in ecr for a in actions(s)}
    assert any(actions(s) == ["ecr:DescribeImageScanFindings"] for s in ecr)
    assert [s["Resource"] for s in ecr if "ecr:GetAuthorizationToken" in actions(s)] == ["*"]
    # the scan gate: the manifest and a scan of its own on the repository; the registry's and Inspector's on *
    assert any(set(actions(s)) == {"ecr:DescribeImages", "ecr:StartImageScan"} and s["Resource"] == repository
               for s in ecr)
    everywhere = [s for s in granted if s["Resource"] == "*"]
    assert {"ecr:GetRegistryScanningConfiguration", "inspector2:ListFindings", "inspector2:ListCoverage"} <= {
        a for s in everywhere for a in actions(s)}


def test_the_pipeline_waits_for_the_build_role_s_policy(variant):
    """A new pipeline starts a run at once: the build's permissions must exist before it does."""
    (name,) = variant.resources("AWS::CodePipeline::Pipeline")
    project = variant.only("AWS::CodeBuild::Project")["Properties"]
    build_role = project["ServiceRole"]["Fn::GetAtt"][0]
    build_policies = [n for n, p in variant.resources("AWS::IAM::Policy").items()
                      if ref(build_role) in p["Properties"]["Roles"]]
    assert build_policies and set(build_policies) <= set(variant.json["Resources"][name]["DependsOn"])


# --- pipeline -----------------------------------------------------------------------------------------------------

def test_pipeline_takes_its_source_from_codecommit_or_codeconnections_by_parameter(variant):
    pipeline = variant.only("AWS::CodePipeline::Pipeline")["Properties"]
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ArtifactStore"]["EncryptionKey"] == {"Id": key_arn(variant), "Type": "KMS"}
    assert pipeline["ArtifactStore"]["Location"] == ref(logical_id(variant, "AWS::S3::Bucket"))
    source, build = pipeline["Stages"]
    condition, codecommit, codeconnections = source["Fn::If"]
    assert condition == "ImageFromCodeCommit"
    assert variant.json["Conditions"]["ImageFromCodeCommit"] == {"Fn::Equals": [ref("ImageSource"), "CodeCommit"]}
    (action,) = codecommit["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeCommit"
    assert action["Configuration"]["RepositoryName"] == ref("CodeCommitRepository")
    assert action["Configuration"]["BranchName"] == ref("GitHubBranch")
    (action,) = codeconnections["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    configuration = action["Configuration"]
    assert configuration["ConnectionArn"] == ref("ConnectionArn")
    assert configuration["FullRepositoryId"] == {"Fn::Join": ["", [ref("GitHubOwner"), "/", ref("GitHubRepository")]]}
    assert configuration["BranchName"] == ref("GitHubBranch")
    (action,) = build["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeBuild"
    assert action["Configuration"]["ProjectName"] == ref(logical_id(variant, "AWS::CodeBuild::Project"))


def test_pipeline_role_may_use_only_the_chosen_source(variant):
    pipeline = variant.only("AWS::CodePipeline::Pipeline")
    role = pipeline["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    granted = policies_of(variant, role)
    first, second = [s["Fn::If"] for s in granted if "Fn::If" in s]
    assert first[0] == second[0] == "ImageFromCodeCommit"
    codecommit, nothing = first[1], second[1]
    assert "codecommit:GetBranch" in codecommit["Action"]
    assert codecommit["Resource"]["Fn::Join"][1][-1] == ref("CodeCommitRepository")
    assert nothing == ref("AWS::NoValue")  # CodeCommit: that one statement only
    # CodeConnections: the connection, for the pipeline's one repository, under each service prefix with its own key
    repository = {"Fn::Join": ["", [ref("GitHubOwner"), "/", ref("GitHubRepository")]]}
    assert [first[2], second[2]] == [
        {"Effect": "Allow", "Action": f"{prefix}:UseConnection", "Resource": ref("ConnectionArn"),
         "Condition": {"StringEqualsIfExists": {f"{prefix}:FullRepositoryId": repository}}}
        for prefix in ("codestar-connections", "codeconnections")]
    # the same repository the source action checks out
    (source_action,) = variant.only("AWS::CodePipeline::Pipeline")["Properties"]["Stages"][0]["Fn::If"][2]["Actions"]
    assert source_action["Configuration"]["FullRepositoryId"] == repository
    (start,) = [s for s in granted if "codebuild:StartBuild" in actions(s)]
    assert start["Resource"] == {"Fn::GetAtt": [logical_id(variant, "AWS::CodeBuild::Project"), "Arn"]}
    # the run a new pipeline starts by itself must find every permission in place
    policy_ids = [name for name, p in variant.resources("AWS::IAM::Policy").items()
                  if ref(role) in p["Properties"]["Roles"]]
    assert set(policy_ids) <= set(pipeline["DependsOn"])


def test_source_fields_are_required_for_the_chosen_source(variant):
    rules = variant.json["Rules"]
    connections = rules["ImageSourceCodeConnectionsFields"]
    assert connections["RuleCondition"] == {"Fn::Equals": [ref("ImageSource"), "CodeConnections"]}
    assert [a["Assert"] for a in connections["Assertions"]] == [
        {"Fn::Not": [{"Fn::Equals": [ref(name), ""]}]} for name in ("GitHubOwner", "ConnectionArn")]
    codecommit = rules["ImageSourceCodeCommitFields"]
    assert [a["Assert"] for a in codecommit["Assertions"]] == [
        {"Fn::Not": [{"Fn::Equals": [ref("CodeCommitRepository"), ""]}]}]


def rules_by_description(s: Synthesized) -> dict[str, dict]:
    return {r["Properties"]["Description"]: r["Properties"] for r in s.resources("AWS::Events::Rule").values()}


def test_schedule_starts_the_pipeline_weekly_by_default(variant):
    # (the control plane's five-minute directory reconciliation is the other scheduled rule)
    (schedule,) = [r for r in variant.resources("AWS::Events::Rule").values()
                   if r["Properties"].get("ScheduleExpression") == ref("RebuildSchedule")]
    assert variant.json["Parameters"]["RebuildSchedule"]["Default"] == "cron(0 0 ? * SAT *)"
    (target,) = schedule["Properties"]["Targets"]
    assert target["Arn"]["Fn::Join"][1][-1] == ref(logical_id(variant, "AWS::CodePipeline::Pipeline"))
    role = target["RoleArn"]["Fn::GetAtt"][0]
    assert [actions(s) for s in policies_of(variant, role)] == [["codepipeline:StartPipelineExecution"]]


def test_a_failed_run_notifies_the_admins_topic(variant):
    (failed,) = [r["Properties"] for r in variant.resources("AWS::Events::Rule").values()
                 if r["Properties"].get("EventPattern", {}).get("detail", {}).get("state") == ["FAILED"]]
    pattern = failed["EventPattern"]
    assert pattern["source"] == ["aws.codepipeline"]
    assert pattern["detail-type"] == ["CodePipeline Pipeline Execution State Change"]
    assert pattern["detail"]["pipeline"] == [ref(logical_id(variant, "AWS::CodePipeline::Pipeline"))]
    (target,) = failed["Targets"]
    assert target["Arn"] == ref(logical_id(variant, "AWS::SNS::Topic"))
    assert "failed" in json.dumps(target["InputTransformer"]["InputTemplate"])


def test_each_successful_run_deploys_the_service_once_through_a_small_lambda(variant):
    (succeeded,) = [r["Properties"] for r in variant.resources("AWS::Events::Rule").values()
                    if r["Properties"].get("EventPattern", {}).get("detail", {}).get("state") == ["SUCCEEDED"]]
    assert succeeded["EventPattern"]["detail"]["pipeline"] == [ref(logical_id(variant, "AWS::CodePipeline::Pipeline"))]
    name, function = function_with_source(variant, NEW_IMAGE_HANDLER_SOURCE)
    # the other target moves the control-plane Lambdas to the new image (test_control_plane.py)
    assert sum(target["Arn"] == {"Fn::GetAtt": [name, "Arn"]} for target in succeeded["Targets"]) == 1
    service = logical_id(variant, "AWS::ECS::Service")
    assert function["Properties"]["Environment"]["Variables"]["SERVICE"] == {"Fn::GetAtt": [service, "Name"]}
    granted = policies_of(variant, function["Properties"]["Role"]["Fn::GetAtt"][0])
    (ecs,) = [s for s in granted if "ecs:UpdateService" in actions(s)]
    assert ecs["Resource"] == ref(service)
    # no ECS deploy action: the pipeline does not name the service (it exists only after the first image)
    assert "ECS" not in json.dumps(variant.only("AWS::CodePipeline::Pipeline")["Properties"]["Stages"])


# --- the first image ----------------------------------------------------------------------------------------------

def test_the_service_waits_for_the_first_image_and_the_duo_keys(variant):
    service = variant.only("AWS::ECS::Service")
    assert logical_id(variant, "Custom::FirstImage") in service["DependsOn"]
    assert logical_id(variant, "Custom::DuoKeys") in service["DependsOn"]
    resource = variant.only("Custom::FirstImage")["Properties"]
    assert resource["PipelineName"] == ref(logical_id(variant, "AWS::CodePipeline::Pipeline"))


def test_first_image_handlers_embed_the_control_code_and_may_only_run_the_pipeline(variant):
    functions = variant.resources("AWS::Lambda::Function").values()
    source = inline_source(first_image.HANDLER_SOURCE)
    handlers = {f["Properties"]["Handler"]: f for f in functions if f["Properties"]["Code"].get("ZipFile") == source}
    assert set(handlers) == {"index.on_event_handler", "index.is_complete_handler"}
    granted = policies_of(variant, handlers["index.on_event_handler"]["Properties"]["Role"]["Fn::GetAtt"][0])
    (pipeline,) = [s for s in granted if any(a.startswith("codepipeline:") for a in actions(s))]
    assert set(actions(pipeline)) == {"codepipeline:StartPipelineExecution", "codepipeline:GetPipelineExecution",
                                      "codepipeline:ListPipelineExecutions", "codepipeline:ListActionExecutions"}
    assert pipeline["Resource"]["Fn::Join"][1][-1] == ref(logical_id(variant, "AWS::CodePipeline::Pipeline"))


def test_waiter_state_machine_logs_every_transition_without_execution_data(variant):
    logging = variant.only("AWS::StepFunctions::StateMachine")["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    (destination,) = logging["Destinations"]
    log_group = variant.resources("AWS::Logs::LogGroup")[destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
                                                         ["Fn::GetAtt"][0]]["Properties"]
    assert log_group["KmsKeyId"] == key_arn(variant)
    assert "/aws/vendedlogs/states/" in json.dumps(log_group["LogGroupName"])


def test_provider_framework_code_is_inline_so_the_template_needs_no_asset_bucket(variant):
    framework = [f["Properties"] for f in variant.resources("AWS::Lambda::Function").values()
                 if f["Properties"].get("Runtime", "").startswith("nodejs")]
    # the first-image wait's three, and the control plane's DisableRadius provider's onEvent
    assert sorted(f["Handler"] for f in framework) == ["index.isComplete", "index.onEvent", "index.onEvent",
                                                      "index.onTimeout"]
    for properties in framework:
        assert properties["Code"] == {"ZipFile": framework_source()}
    repository = logical_id(variant, "AWS::ECR::Repository")
    for function in variant.resources("AWS::Lambda::Function").values():
        if function["Properties"].get("PackageType") == "Image":  # the control plane: the stack's own repository
            assert ref(repository) in function["Properties"]["Code"]["ImageUri"]["Fn::Join"][1]
        else:
            assert list(function["Properties"]["Code"]) == ["ZipFile"]
    text = json.dumps(variant.json)
    assert "cdk-hnb659fds" not in text and "aws:asset:path" not in text


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (CDK synth does too)")
def test_inline_framework_code_loads_in_node_and_exports_the_three_handlers(tmp_path):
    (tmp_path / "index.js").write_text(framework_source(), encoding="utf-8")
    # the Lambda Node.js runtime provides the AWS SDK v3; stand-ins are enough to load the module
    for package, exports in (("client-lambda", "Lambda: class {}, waitUntilFunctionActiveV2: async () => {}"),
                             ("client-sfn", "SFN: class {}")):
        directory = tmp_path / "node_modules" / "@aws-sdk" / package
        directory.mkdir(parents=True)
        (directory / "index.js").write_text(f"module.exports = {{ {exports} }};\n", encoding="utf-8")
    result = subprocess.run(["node", "-e", "const m = require('./index.js'); "
                             "console.log(JSON.stringify(Object.keys(m).map(k => [k, typeof m[k]])))"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["onEvent", "function"], ["isComplete", "function"],
                                         ["onTimeout", "function"]]


# --- Duo keys -----------------------------------------------------------------------------------------------------

def test_duo_keys_reach_the_secret_through_a_custom_resource_only(variant):
    resource = variant.only("Custom::DuoKeys")["Properties"]
    secret = logical_id(variant, "AWS::SecretsManager::Secret")
    assert resource["SecretId"] == ref(secret)
    assert (resource["IntegrationKey"], resource["SecretKey"], resource["ApiHost"]) == (
        ref("DuoIntegrationKey"), ref("DuoSecretKey"), ref("DuoApiHost"))
    # the secret's generation never sees a parameter
    assert "Ref" not in json.dumps(variant.only("AWS::SecretsManager::Secret")["Properties"]["GenerateSecretString"])
    name, function = function_with_source(variant, DUO_KEYS_HANDLER_SOURCE)
    granted = policies_of(variant, function["Properties"]["Role"]["Fn::GetAtt"][0])
    (secret_access,) = [s for s in granted if any(a.startswith("secretsmanager:") for a in actions(s))]
    assert secret_access["Resource"] == ref(secret)
    assert "secretsmanager:PutSecretValue" in actions(secret_access)
    # a plain Lambda-backed resource: the provider framework would log the request, and it carries the skey
    assert resource["ServiceToken"] == {"Fn::GetAtt": [name, "Arn"]}


def test_stack_outputs_name_the_pipeline(variant):
    assert variant.json["Outputs"]["ImagePipelineName"]["Value"] == ref(
        logical_id(variant, "AWS::CodePipeline::Pipeline"))


def test_new_constructs_add_no_unsuppressed_nag_errors(variant):
    assert variant.nag_errors == []


# --- Service Catalog ----------------------------------------------------------------------------------------------

def test_catalog_offers_the_uploaded_templates_as_products(catalog):
    assert catalog.nag_errors == []
    parameters = catalog.json["Parameters"]
    assert re.fullmatch(parameters["NewVpcTemplateUrl"]["AllowedPattern"], "")
    assert not re.fullmatch(parameters["ExistingVpcTemplateUrl"]["AllowedPattern"], "")
    products = catalog.resources("AWS::ServiceCatalog::CloudFormationProduct")
    urls = {json.dumps(p["Properties"]["ProvisioningArtifactParameters"][0]["Info"]["LoadTemplateFromURL"]): p
            for p in products.values()}
    assert set(urls) == {json.dumps(ref("ExistingVpcTemplateUrl")), json.dumps(ref("NewVpcTemplateUrl"))}
    assert "Condition" not in urls[json.dumps(ref("ExistingVpcTemplateUrl"))]
    assert urls[json.dumps(ref("NewVpcTemplateUrl"))]["Condition"] == "HasNewVpcProduct"
    associations = catalog.resources("AWS::ServiceCatalog::PortfolioProductAssociation").values()
    assert {a["Properties"]["ProductId"]["Ref"] for a in associations} == set(products)
    assert catalog.only("AWS::ServiceCatalog::PortfolioPrincipalAssociation")["Condition"] == "HasPrincipal"
    constraints = catalog.resources("AWS::ServiceCatalog::LaunchRoleConstraint").values()
    assert all(c["Properties"]["LocalRoleName"] == ref("LaunchRoleName") for c in constraints)
    assert {c["Condition"] for c in constraints} == {"HasLaunchRole", "NewVpcHasLaunchRole"}


S3_TEMPLATE_URLS = (  # virtual-hosted and path-style, regional, global, legacy s3-REGION, FIPS, dual-stack, GovCloud
    "https://my-bucket.s3.us-gov-west-1.amazonaws.com/duomfa/existing-vpc.template.json",
    "https://my-bucket.s3.eu-central-1.amazonaws.com/existing-vpc.template.json",
    "https://my.bucket.s3.amazonaws.com/a/b/new-vpc.template.json",
    "https://my-bucket.s3-us-west-2.amazonaws.com/existing-vpc.template.json",
    "https://my-bucket.s3-fips.us-gov-east-1.amazonaws.com/existing-vpc.template.json",
    "https://my-bucket.s3.dualstack.ap-southeast-4.amazonaws.com/existing-vpc.template.json",
    "https://s3.us-gov-west-1.amazonaws.com/my-bucket/existing-vpc.template.json",
    "https://s3.amazonaws.com/my-bucket/existing-vpc.template.json",
    "https://s3-fips.us-gov-west-1.amazonaws.com/my-bucket/t.json",
)
NOT_S3_TEMPLATE_URLS = (
    "https://example.com/existing-vpc.template.json", "http://my-bucket.s3.amazonaws.com/t.json",
    "https://my-bucket.s3.amazonaws.com.example.com/t.json", "https://example.com/my-bucket.s3.amazonaws.com/t.json",
    "https://my-bucket.s3.amazonaws.com/", "https://s3.amazonaws.com/my-bucket/", "https://s3.amazonaws.com/t.json",
    "https://my-bucket.s3.amazonaws.com/t.json extra", "https://my-bucket.s3.amazonaws.cn/t.json",
    "s3://my-bucket/existing-vpc.template.json",
)


def test_catalog_takes_templates_only_from_s3_urls(catalog):
    for name in ("ExistingVpcTemplateUrl", "NewVpcTemplateUrl"):
        parameter = catalog.json["Parameters"][name]
        for url in S3_TEMPLATE_URLS:
            assert re.fullmatch(parameter["AllowedPattern"], url), (name, url)
        for url in NOT_S3_TEMPLATE_URLS:
            assert not re.fullmatch(parameter["AllowedPattern"], url), (name, url)
        # the description names the forms it accepts
        assert "https://BUCKET.s3.REGION.amazonaws.com/KEY" in parameter["Description"]
        assert "https://s3.REGION.amazonaws.com/BUCKET/KEY" in parameter["Description"]


def test_catalog_needs_no_asset_and_no_bootstrap(catalog):
    text = json.dumps(catalog.json)
    assert "BootstrapVersion" not in catalog.json.get("Parameters", {}) and "cdk-hnb659fds" not in text
    assert not catalog.resources("AWS::CloudFormation::Stack")  # not a ProductStack asset


def test_pipeline_module_constants_agree_with_the_wait():
    assert image_pipeline.BUILD_TIMEOUT.to_minutes() + image_pipeline.QUEUED_TIMEOUT.to_minutes() < \
        first_image.TOTAL_TIMEOUT.to_minutes() < first_image.CLOUDFORMATION_LIMIT.to_minutes()
