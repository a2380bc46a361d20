"""One customer-managed KMS key for the whole deployment, with a key policy that names every service using it."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

ENCRYPT_DECRYPT = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
KEY_ADMIN = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
             "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
             "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"]
# Services that encrypt with the key on their own: CloudWatch alarms publishing to the KMS-encrypted SNS topic, and
# EventBridge publishing to it and to the encrypted dead-letter queue. Without this grant their messages are silently
# dropped (the original's alarms never arrived).
TOPIC_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


class Encryption(Construct):
    """The key: rotation on, account root as owner (so IAM policies can grant use), an optional administrator, and
    the service principals that encrypt with it on their own: CloudWatch Logs, CloudWatch alarms, EventBridge.

    Secrets Manager, SNS, SQS, Lambda and S3 use the key on behalf of a caller whose IAM policy grants it, limited by
    kms:ViaService to that service, so they need no statement here; ECR uses a grant it makes on the key.
    """

    def __init__(self, scope: Construct, construct_id: str, *, admin_arn: str, has_admin) -> None:
        super().__init__(scope, construct_id)
        account_root = iam.AccountRootPrincipal()
        statements = [
            iam.PolicyStatement(sid="AccountOwnsTheKey", principals=[account_root], actions=["kms:*"],
                                resources=["*"]),
            iam.PolicyStatement(
                sid="KeyAdministrator", actions=KEY_ADMIN, resources=["*"],
                # with no administrator given, the statement names the account again (a no-op) rather than vanishing,
                # which keeps the policy one static document
                principals=[iam.ArnPrincipal(Fn.condition_if(has_admin.logical_id, admin_arn,
                                                             account_root.arn).to_string())]),
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsLogGroups", actions=ENCRYPT_DECRYPT, resources=["*"],
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"}}),
        ]
        for service in TOPIC_PUBLISHERS:
            statements.append(iam.PolicyStatement(
                sid=f"{service.split('.')[0].capitalize()}PublishesToEncryptedTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"],
                # No aws:SourceAccount / aws:SourceArn condition: AWS documents no source keys on these services' KMS
                # requests (the SNS guide's statement for them has none:
                # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services),
                # and a condition a service does not send would silently stop delivery again. The topic policy
                # and the queue policy carry the conditions (docs/deploy.md, "Unverified facts").
                principals=[iam.ServicePrincipal(service)]))
        self.key = kms.Key(
            self, "Key", description=f"Duo MFA ({Aws.STACK_NAME}): secrets, logs, SNS, ECR",
            enable_key_rotation=True, rotation_period=Duration.days(365), pending_window=Duration.days(30),
            policy=iam.PolicyDocument(statements=statements), removal_policy=RemovalPolicy.RETAIN)
        self.key.add_alias(f"alias/duomfa/{Aws.STACK_NAME}")
