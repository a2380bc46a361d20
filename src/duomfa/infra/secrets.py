"""The Secrets Manager secret the proxies read: a RADIUS shared secret generated once from a fixed template (so no
parameter change regenerates it), and the Duo keys merged in by the DuoKeys custom resource (docs/design.md,
"The Duo keys")."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnCondition, CustomResource, Duration, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

from duomfa import secret_document
from duomfa.infra.inline_function import CONTROL_SOURCES, inline_function
from duomfa.infra.nag import ROLE_POLICY_REASON, custom_resource_function_reasons

DUO_KEYS_HANDLER_SOURCE = CONTROL_SOURCES / "duo_keys.py"

RADIUS_SECRET_EXCLUDED_CHARACTERS = secret_document.EXCLUDED_CHARACTERS  # the rotation draws from the same alphabet
RADIUS_SECRET_LENGTH = secret_document.SHARED_SECRET_LENGTH
# What the resource policy keeps from everyone but the stack's roles and AdminPrincipals: reading the value and writing
# or promoting a version. Everything else (DescribeSecret, UpdateSecret, RotateSecret, DeleteSecret, the resource
# policy, tags) stays with IAM alone, so CloudFormation and the account's administrators can always update, repair or
# delete the secret and change this policy (docs/deploy.md, "Who can read the secret").
VALUE_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                 "secretsmanager:UpdateSecretVersionStage")


class ProxySecret(Construct):
    """The secret, encrypted with the deployment's key; exposes `secret`, `duo_keys` (the custom resource the proxies
    must start after) and `limit_value_to(roles)`, which denies the value to everyone else."""

    excluded_characters = RADIUS_SECRET_EXCLUDED_CHARACTERS
    length = RADIUS_SECRET_LENGTH

    def __init__(self, scope: Construct, construct_id: str, *, ikey: str, skey: str, api_host: str,
                 key: kms.IKey, admin_principals: str = "", has_admin_principals: CfnCondition | None = None) -> None:
        """`admin_principals`: comma-separated ARNs that may use the value too; with `has_admin_principals`, the
        AdminPrincipals parameter and the condition that it is not empty."""
        super().__init__(scope, construct_id)
        self._admin_principals = admin_principals
        self._has_admin_principals = has_admin_principals
        self.secret = secretsmanager.Secret(
            self, "Secret", description="Duo MFA: Duo keys and the RADIUS shared secret of the proxies",
            encryption_key=key, removal_policy=RemovalPolicy.DESTROY,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}", generate_string_key=secret_document.RADIUS_SECRET,
                password_length=RADIUS_SECRET_LENGTH, exclude_characters=RADIUS_SECRET_EXCLUDED_CHARACTERS,
                include_space=False, require_each_included_type=True))
        # rotated by the control plane (duomfa.infra.secret_rotation: its RotationSchedule)
        self.duo_keys = self._duo_keys(ikey=ikey, skey=skey, api_host=api_host, key=key)

    def _duo_keys(self, *, ikey: str, skey: str, api_host: str, key: kms.IKey) -> CustomResource:
        # a plain Lambda-backed resource, not the provider framework: the framework's functions log the request,
        # and this request carries the secret key
        function, role = inline_function(
            self, "DuoKeysFunction", prefix="DuoKeys", source=DUO_KEYS_HANDLER_SOURCE, key=key,
            timeout=Duration.seconds(60),
            role_description="Duo MFA: writes the Duo keys from the stack parameters into the proxies' secret",
            description="Duo MFA: merges the Duo keys into the proxies' secret, RADIUS secret untouched")
        role.add_to_policy(iam.PolicyStatement(
            actions=["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                     "secretsmanager:UpdateSecretVersionStage"],
            resources=[self.secret.secret_arn]))
        # the key only through Secrets Manager, which asks for a data key to write a version and decrypts one to read
        # it (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html)
        role.add_to_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}}))
        self._duo_keys_role = role
        # The skey travels as the NoEcho parameter and as this resource's property, i.e. in the request
        # CloudFormation sends to the function above and nowhere else: the template shows only {"Ref": ...}, the
        # console and DescribeStackResource do not show custom-resource properties, the handler logs neither the
        # request nor the key and answers with no Data. It is the same path the parameter took into the
        # secret's generation template before, minus the regeneration.
        resource = CustomResource(self, "DuoKeys", service_token=function.function_arn,
                                  resource_type="Custom::DuoKeys",
                                  properties={"SecretId": self.secret.secret_arn, "IntegrationKey": ikey,
                                              "SecretKey": skey, "ApiHost": api_host})
        NagSuppressions.add_resource_suppressions(role, [
            {"id": "NIST.800.53.R5-IAMNoInlinePolicy", "reason": ROLE_POLICY_REASON},
        ], apply_to_children=True)
        NagSuppressions.add_resource_suppressions(function, custom_resource_function_reasons(
            "it only calls the Secrets Manager API"))
        return resource

    def limit_value_to(self, roles: Sequence[iam.IRole]) -> secretsmanager.CfnResourcePolicy:
        """The secret's resource policy: its value (VALUE_ACTIONS) to `roles`, the Duo keys resource's role and the
        AdminPrincipals ARNs only; call once, with every other role of the stack that reads or writes the value.

        aws:PrincipalArn is a role's ARN for all its sessions (a user's ARN for a user), so a listed role keeps the
        value whoever assumes it; anyone else, the account's administrators and its root user included, is denied the
        value but never the management of the secret."""
        arns = [role.role_arn for role in (*roles, self._duo_keys_role)]
        if self._has_admin_principals is None:  # literal ARNs
            allowed: object = arns + [arn for arn in self._admin_principals.split(",") if arn]
        else:
            # ArnNotLike takes one list: AdminPrincipals joined onto the roles' ARNs and split again, or the roles
            # alone while it is empty (an empty string would stand in the list as an ARN)
            allowed = Fn.condition_if(self._has_admin_principals.logical_id,
                                      Fn.split(",", Fn.join(",", [*arns, self._admin_principals])), arns)
        return secretsmanager.CfnResourcePolicy(
            self, "ValueForItsRolesOnly", secret_id=self.secret.secret_arn, block_public_policy=True,
            resource_policy={"Version": "2012-10-17", "Statement": [{
                "Sid": "ValueOnlyForTheStackAndAdminPrincipals", "Effect": "Deny", "Principal": {"AWS": "*"},
                "Action": list(VALUE_ACTIONS), "Resource": "*",
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": allowed}}}]})
