"""The Secrets Manager secret the proxies read: Duo keys from the parameters and a generated RADIUS shared secret.

Its JSON is what duomfa.proxy.secrets_source reads: {"ikey", "skey", "api_host", "radius_secret"}; the proxies
read every version stage, and the secret's `duomfa:retired-previous` tag (set by the control plane) with
GetSecretValue and DescribeSecret.

CloudFormation regenerates the whole value (a new radius_secret too) when a Duo parameter changes on a stack update;
until the control plane routes such changes through a rotation, change the Duo keys in the secret itself.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagSuppressions
from constructs import Construct

# Directory Service accepts 8-512 letters, digits, punctuation and space. Of those we leave out the ones that break
# something on the way: space (trimmed by consoles and forms), " and \ (JSON escaping, copy-paste into configs),
# % (configparser interpolation in Duo's authproxy.cfg), ; and # (INI comments), = and : (INI key separators),
# , (comma-separated lists), ' ` $ (shell quoting in scripts and heredocs). The rotation Lambda gets the same set.
RADIUS_SECRET_EXCLUDED_CHARACTERS = " \"\\%;#=:,'`$"
RADIUS_SECRET_LENGTH = 32


class ProxySecret(Construct):
    """The secret, encrypted with the deployment's key."""

    excluded_characters = RADIUS_SECRET_EXCLUDED_CHARACTERS
    length = RADIUS_SECRET_LENGTH

    def __init__(self, scope: Construct, construct_id: str, *, ikey: str, skey: str, api_host: str,
                 key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        template = Stack.of(self).to_json_string({"ikey": ikey, "skey": skey, "api_host": api_host})
        self.secret = secretsmanager.Secret(
            self, "Secret", description="Duo MFA: Duo keys and the RADIUS shared secret of the proxies",
            encryption_key=key, removal_policy=RemovalPolicy.DESTROY,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=template, generate_string_key="radius_secret",
                password_length=RADIUS_SECRET_LENGTH, exclude_characters=RADIUS_SECRET_EXCLUDED_CHARACTERS,
                include_space=False, require_each_included_type=True))
        NagSuppressions.add_resource_suppressions(self.secret, [
            {"id": "AwsSolutions-SMG4", "reason": "rotation is the control plane's (issue 6): a rotation that keeps "
                                                  "the directory and the proxies in step, added with the "
                                                  "ControlPlane construct"},
            {"id": "NIST.800.53.R5-SecretsManagerRotationEnabled",
             "reason": "rotation is the control plane's (issue 6), added with the ControlPlane construct"},
        ])
