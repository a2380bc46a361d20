"""The weekly image pipeline: source (GitHub through CodeConnections, or CodeCommit) → CodeBuild (build, scan gate,
tag) on a schedule; a notice when a run fails; one new deployment of the proxies after each successful run
(docs/design.md, "The image pipeline")."""

from __future__ import annotations

from typing import cast

from aws_cdk import Aws, CfnCondition, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource
from duomfa.infra.fips_mode import ENDPOINT_VARIABLE
from duomfa.infra.inline_function import CONTROL_SOURCES, inline_function
from duomfa.infra.monitoring import TopicNotice
from duomfa.infra.nag import (
    ANY_RESOURCE,
    BUCKET_READ_WRITE_ACTIONS,
    ROLE_POLICY_REASON,
    arn_pattern,
    arn_wildcard,
    logical_id,
    wildcards,
)

NEW_IMAGE_HANDLER_SOURCE = CONTROL_SOURCES / "new_image.py"
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0  # Ubuntu 22.04, Docker and Python 3 (the buildspec's needs)
# The buildspec's scan gate waits up to 20 minutes; a docker build of the slim image takes a few. Together with the
# queue timeout this stays well inside the first-image wait (first_image.TOTAL_TIMEOUT, under CloudFormation's hour).
BUILD_TIMEOUT = Duration.minutes(30)
QUEUED_TIMEOUT = Duration.minutes(10)
ARTIFACT_EXPIRY = Duration.days(30)
SOURCE_ARTIFACT = "Source"
BUILD_ARTIFACT = "ImageDefinitions"
CODECOMMIT_READ = ["codecommit:GetBranch", "codecommit:GetCommit", "codecommit:GetRepository",
                   "codecommit:UploadArchive", "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive"]
# the service prefix depends on when the connection was made (codestar-connections: before 2024, codeconnections: since)
CONNECTION_PREFIXES = ("codestar-connections", "codeconnections")


class ImagePipeline(Construct):
    """Exposes `pipeline_name`, `pipeline_arn`, `project`, `artifact_bucket`, `build_timeout`, `queued_timeout`,
    `deploy_new_images_to(cluster, service)` once the service exists, and then
    `also_run_after_each_new_image(target)`."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, repository: ecr.IRepository,
                 topic: sns.ITopic, use_codecommit: CfnCondition, codecommit_repository: str, github_owner: str,
                 github_repository: str, branch: str, connection_arn: str, schedule: str,
                 log_retention_days: float, scan_gate: str = "FixableCriticalHigh", fips_image: str = "No",
                 fips_endpoints: str = "false") -> None:
        """`fips_image`: "Yes" builds the FIPS image (Dockerfile.fips); `fips_endpoints`: "true" sends the build's
        AWS calls to FIPS endpoints."""
        super().__init__(scope, construct_id)
        self.key = key
        self.log_retention_days = log_retention_days
        self.build_timeout = BUILD_TIMEOUT
        self.queued_timeout = QUEUED_TIMEOUT

        self.artifact_bucket = s3.Bucket(
            self, "Artifacts", encryption=s3.BucketEncryption.KMS, encryption_key=key, bucket_key_enabled=True,
            versioned=True, enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(expiration=ARTIFACT_EXPIRY, noncurrent_version_expiration=ARTIFACT_EXPIRY,
                                              abort_incomplete_multipart_upload_after=Duration.days(1))])
        NagSuppressions.add_resource_suppressions(self.artifact_bucket, [
            {"id": "AwsSolutions-S1", "reason": "holds only the pipeline's transient source zips and "
                                                "imagedefinitions.json (expired after 30 days), written and read "
                                                "only by the pipeline's and the build's roles; their object reads "
                                                "and writes are CloudTrail data events, which a trail records only "
                                                "where the account turns them on. Access logs would need a second "
                                                "bucket for artifacts the next run replaces"},
            {"id": "NIST.800.53.R5-S3BucketLoggingEnabled", "reason": "see AwsSolutions-S1: transient build "
                                                                      "artifacts, expired after 30 days"},
            {"id": "NIST.800.53.R5-S3BucketReplicationEnabled", "reason": "transient build artifacts, rebuilt from "
                                                                          "the source repository by the next run"},
        ], apply_to_children=True)

        # the same bucket by reference: a grant on it names only S3 actions (one on the bucket itself also grants the
        # key, without a kms:ViaService condition); _allow_artifacts adds the key through S3
        self._artifact_objects = s3.Bucket.from_bucket_attributes(
            self, "ArtifactsByReference", bucket_arn=self.artifact_bucket.bucket_arn,
            bucket_name=self.artifact_bucket.bucket_name)

        build_logs = logs.LogGroup(self, "BuildLogs", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR,
                                   removal_policy=RemovalPolicy.RETAIN)
        cfn_resource(build_logs).add_property_override("RetentionInDays", log_retention_days)
        self.project = codebuild.PipelineProject(
            self, "Build", description="Duo MFA: builds the proxy image, gates it on the ECR scan, tags it latest",
            # no build_spec: CodeBuild reads buildspec.yml from the source, so the image and its build change together
            environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, compute_type=codebuild.ComputeType.SMALL,
                                                   privileged=True),  # docker build needs the daemon
            # CodeBuild sets AWS_REGION itself; the buildspec needs where to push and which findings refuse an image
            environment_variables={
                "REPOSITORY_URI": codebuild.BuildEnvironmentVariable(value=repository.repository_uri),
                "SCAN_GATE": codebuild.BuildEnvironmentVariable(value=scan_gate),
                # Yes: Dockerfile.fips on top, checked in the image before any push; the gate's calls go to FIPS
                # endpoints then too
                "FIPS_IMAGE": codebuild.BuildEnvironmentVariable(value=fips_image),
                ENDPOINT_VARIABLE: codebuild.BuildEnvironmentVariable(value=fips_endpoints)},
            timeout=BUILD_TIMEOUT, queued_timeout=QUEUED_TIMEOUT,
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)))
        # The key encrypts the build's output artifacts, which CodeBuild writes to the artifact bucket through S3 (by
        # default CodeBuild uses alias/aws/s3, a key only S3 can use). Set on the CloudFormation resource: the L2's
        # encryption_key would also grant the build role the key without a kms:ViaService condition.
        cast(codebuild.CfnProject, cfn_resource(self.project)).encryption_key = key.key_arn
        self._allow_artifacts(self.project)
        repository.grant_pull_push(self.project)
        self.project.add_to_role_policy(iam.PolicyStatement(actions=["ecr:DescribeImageScanFindings"],
                                                            resources=[repository.repository_arn]))
        # the scan gate (duomfa.control.image_gate, docs/scan-gate.md): the pushed manifest's type, a basic scan
        # started when none runs, and how the registry scans — and, under enhanced scanning, Inspector's findings
        self.project.add_to_role_policy(iam.PolicyStatement(actions=["ecr:DescribeImages", "ecr:StartImageScan"],
                                                            resources=[repository.repository_arn]))
        self.project.add_to_role_policy(iam.PolicyStatement(
            actions=["ecr:GetRegistryScanningConfiguration", "inspector2:ListFindings", "inspector2:ListCoverage"],
            resources=["*"]))
        NagSuppressions.add_resource_suppressions(self.project, [
            {"id": "AwsSolutions-CB3", "reason": "privileged mode runs the Docker daemon that builds the image; the "
                                                 "build runs only the repository's own buildspec"},
            wildcards("ecr:GetAuthorizationToken, ecr:GetRegistryScanningConfiguration, inspector2:ListFindings and "
                      "inspector2:ListCoverage support only '*'; the other wildcards are CDK's grants: the S3 read "
                      "and write action groups on the artifact bucket's objects, the project's default log group's "
                      "streams and its report groups (named after the project)",
                      [ANY_RESOURCE, *BUCKET_READ_WRITE_ACTIONS, arn_wildcard(self.artifact_bucket, "/*"),
                       arn_pattern("codebuild", f"report-group/<{logical_id(self.project)}>-*"),
                       arn_pattern("logs", f"log-group:/aws/codebuild/<{logical_id(self.project)}>:*")]),
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)

        self.pipeline_role = iam.Role(self, "PipelineRole",
                                      assumed_by=iam.ServicePrincipal("codepipeline.amazonaws.com"),
                                      description="Duo MFA image pipeline: source, build, artifacts")
        self._allow_artifacts(self.pipeline_role)
        self.pipeline_role.add_to_policy(iam.PolicyStatement(
            actions=["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
            resources=[self.project.project_arn]))
        codecommit_arn = f"arn:{Aws.PARTITION}:codecommit:{Aws.REGION}:{Aws.ACCOUNT_ID}:{codecommit_repository}"
        # only the chosen source's statements: an empty ConnectionArn would not be a valid policy resource
        read_codecommit = {"Effect": "Allow", "Action": CODECOMMIT_READ, "Resource": codecommit_arn}
        legacy_prefix, current_prefix = connection_statements(connection_arn, f"{github_owner}/{github_repository}")
        source_access = iam.CfnPolicy(self, "SourceAccess", policy_name="source", roles=[self.pipeline_role.role_name],
                                      policy_document={"Version": "2012-10-17", "Statement": [
                                          Fn.condition_if(use_codecommit.logical_id, read_codecommit, legacy_prefix),
                                          Fn.condition_if(use_codecommit.logical_id, Aws.NO_VALUE, current_prefix)]})
        NagSuppressions.add_resource_suppressions(self.pipeline_role, [
            wildcards("CDK's grant on the artifact bucket: the S3 read and write action groups on its objects "
                      "(bucket/*)",
                      [*BUCKET_READ_WRITE_ACTIONS, arn_wildcard(self.artifact_bucket, "/*")]),
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(source_access, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": "owned by the pipeline role alone; the chosen "
                                                                 "source only: the one CodeCommit repository, or "
                                                                 "the one connection for the one repository"},
        ])

        codeconnections_source = {"Name": "Source", "Actions": [{
            "Name": "GitHub", "RunOrder": 1,
            "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "CodeStarSourceConnection",
                             "Version": "1"},
            # DetectChanges off: the schedule (and the first-image wait) start runs, not every push
            "Configuration": {"ConnectionArn": connection_arn,
                              "FullRepositoryId": f"{github_owner}/{github_repository}", "BranchName": branch,
                              "DetectChanges": "false", "OutputArtifactFormat": "CODE_ZIP"},
            "OutputArtifacts": [{"Name": SOURCE_ARTIFACT}]}]}
        codecommit_source = {"Name": "Source", "Actions": [{
            "Name": "CodeCommit", "RunOrder": 1,
            "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "CodeCommit", "Version": "1"},
            "Configuration": {"RepositoryName": codecommit_repository, "BranchName": branch,
                              "PollForSourceChanges": "false", "OutputArtifactFormat": "CODE_ZIP"},
            "OutputArtifacts": [{"Name": SOURCE_ARTIFACT}]}]}
        pipeline_l1 = codepipeline.CfnPipeline
        build = pipeline_l1.StageDeclarationProperty(name="Build", actions=[pipeline_l1.ActionDeclarationProperty(
            name="Image", run_order=1,
            action_type_id=pipeline_l1.ActionTypeIdProperty(category="Build", owner="AWS", provider="CodeBuild",
                                                            version="1"),
            configuration={"ProjectName": self.project.project_name},
            input_artifacts=[pipeline_l1.InputArtifactProperty(name=SOURCE_ARTIFACT)],
            output_artifacts=[pipeline_l1.OutputArtifactProperty(name=BUILD_ARTIFACT)])])
        self.pipeline = codepipeline.CfnPipeline(
            self, "Pipeline", role_arn=self.pipeline_role.role_arn, pipeline_type="V2", execution_mode="SUPERSEDED",
            restart_execution_on_update=False,
            artifact_store=codepipeline.CfnPipeline.ArtifactStoreProperty(
                type="S3", location=self.artifact_bucket.bucket_name,
                encryption_key=codepipeline.CfnPipeline.EncryptionKeyProperty(id=key.key_arn, type="KMS")),
            # the source stage is raw CloudFormation: the chosen source is an Fn::If over two whole stages
            stages=[Fn.condition_if(use_codecommit.logical_id, codecommit_source, codeconnections_source), build])
        # a new pipeline starts a run at once: its role, and the build's, must already hold every permission
        self.pipeline.node.add_dependency(self.pipeline_role)
        self.pipeline.node.add_dependency(source_access)
        self.pipeline.node.add_dependency(self.project)
        self.pipeline_name = self.pipeline.ref
        self.pipeline_arn = Stack.of(self).format_arn(service="codepipeline", resource=self.pipeline.ref)
        imported = codepipeline.Pipeline.from_pipeline_arn(self, "Imported", self.pipeline_arn)

        schedule_rule = events.Rule(self, "Schedule", schedule=events.Schedule.expression(schedule),
                                    description="Duo MFA: rebuild the proxy image (RebuildSchedule)")
        schedule_rule.add_target(targets.CodePipeline(imported))

        failed = events.Rule(self, "Failed", description="Duo MFA: tell the admins when an image pipeline run fails",
                             event_pattern=events.EventPattern(
                                 source=["aws.codepipeline"],
                                 detail_type=["CodePipeline Pipeline Execution State Change"],
                                 detail={"state": ["FAILED"], "pipeline": [self.pipeline_name]}))
        failed.add_target(TopicNotice(topic, message=events.RuleTargetInput.from_text(
            f"Duo MFA: image pipeline {events.EventField.from_path('$.detail.pipeline')} run "
            f"{events.EventField.from_path('$.detail.execution-id')} failed in {Aws.REGION}. The proxies keep "
            "running the previous image. The CodePipeline console shows the failed stage; a refused image means "
            "the ECR scan found findings the ScanGate parameter blocks (the build log lists them; docs/scan-gate.md "
            "says what each setting blocks).")))
        self.rules = {"schedule": schedule_rule, "failed": failed}

        # the schedule's role (StartPipelineExecution on this pipeline) belongs to the imported pipeline's construct
        NagSuppressions.add_resource_suppressions(imported, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)

    def _allow_artifacts(self, grantee: iam.IGrantable) -> None:
        """Read and write the artifact bucket's objects, with the key through S3 only: SSE-KMS needs
        kms:GenerateDataKey to write and kms:Decrypt to read
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html)."""
        self._artifact_objects.grant_read_write(grantee)
        grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[self.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}}))

    def also_run_after_each_new_image(self, target: events.IRuleTarget) -> None:
        """`target` runs after each successful run too, as the deployment of the new image does."""
        if "succeeded" not in self.rules:
            raise RuntimeError("deploy_new_images_to makes the rule on successful runs: call it first")
        self.rules["succeeded"].add_target(target)

    def deploy_new_images_to(self, cluster: ecs.ICluster, service: ecs.FargateService) -> lambda_.Function:
        """After each successful run, one forced deployment of `service` (see the module's docstring)."""
        function, role = inline_function(
            self, "Deploy", prefix="Deploy", source=NEW_IMAGE_HANDLER_SOURCE, key=self.key,
            timeout=Duration.seconds(30), log_retention_days=self.log_retention_days,
            role_description="Duo MFA: one new deployment of the proxies after each new image",
            description="Duo MFA: moves the proxies to the image the pipeline just built",
            environment={"CLUSTER": cluster.cluster_name, "SERVICE": service.service_name},
            environment_encryption=self.key)
        role.add_to_policy(iam.PolicyStatement(actions=["ecs:DescribeServices", "ecs:UpdateService"],
                                               resources=[service.service_arn]))
        succeeded = events.Rule(self, "Succeeded", description="Duo MFA: deploy each new proxy image once",
                                event_pattern=events.EventPattern(
                                    source=["aws.codepipeline"],
                                    detail_type=["CodePipeline Pipeline Execution State Change"],
                                    detail={"state": ["SUCCEEDED"], "pipeline": [self.pipeline_name]}))
        succeeded.add_target(targets.LambdaFunction(function, retry_attempts=2, max_event_age=Duration.hours(1)))
        self.rules["succeeded"] = succeeded
        NagSuppressions.add_resource_suppressions(role, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(function, [
            {"id": "NIST.800.53.R5-LambdaInsideVPC", "reason": "it only calls the ECS API"},
            {"id": "NIST.800.53.R5-LambdaDLQ", "reason": "EventBridge retries it; a missed deployment is made up "
                                                         "by the next weekly run, and a failure is in its log"},
            {"id": "NIST.800.53.R5-LambdaConcurrency", "reason": "runs once a week; reserving concurrency fails "
                                                                "in accounts with the minimum quota"},
        ])
        return function


def connection_statements(connection_arn: str, full_repository_id: str) -> list[dict]:
    """UseConnection on the one connection, for the one repository, under each service prefix with that prefix's own
    condition key:
    https://docs.aws.amazon.com/dtconsole/latest/userguide/security-iam.html#permissions-reference-connections-use
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodestarconnections.html
    IfExists: the key is "supported only when the connection is being used to access a specific repository", and a
    check without it must not fail the source stage (docs/deploy.md, "Unverified facts")."""
    return [{"Effect": "Allow", "Action": f"{prefix}:UseConnection", "Resource": connection_arn,
             "Condition": {"StringEqualsIfExists": {f"{prefix}:FullRepositoryId": full_repository_id}}}
            for prefix in CONNECTION_PREFIXES]
