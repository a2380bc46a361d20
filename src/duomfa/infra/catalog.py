"""A small stack for catalog administrators: a Service Catalog portfolio whose products are the very templates
`duomfa synth` writes, uploaded to S3 — so it synthesizes offline and deploys without a bootstrapped asset bucket
(docs/design.md, "The Service Catalog stack")."""

from __future__ import annotations

from aws_cdk import CfnCondition, CfnParameter, DefaultStackSynthesizer, Fn, Stack
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from duomfa import __version__

# An S3 object URL, and nothing else, for Service Catalog to load the template from: virtual-hosted
# (https://BUCKET.s3.REGION.amazonaws.com/KEY) or path-style (https://s3.REGION.amazonaws.com/BUCKET/KEY), each also
# without the region or with the legacy s3-REGION form, and with s3-fips or .dualstack (GovCloud included)
S3_REGION = r"[a-z]{2}(-gov)?-[a-z]+-\d"
S3_HOST = rf"s3(-fips)?(\.dualstack)?([.-]{S3_REGION})?\.amazonaws\.com"
S3_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
TEMPLATE_URL = rf"https://({S3_BUCKET}\.{S3_HOST}/|{S3_HOST}/{S3_BUCKET}/)[^\s]+"
URL_FORMS = ("https://BUCKET.s3.REGION.amazonaws.com/KEY or https://s3.REGION.amazonaws.com/BUCKET/KEY (also "
             "s3.amazonaws.com, s3-REGION, s3-fips, dualstack; us-gov regions too)")
PRODUCT_OWNER = "duomfa"
SUPPORT = "Deployment guide: docs/deploy.md in the duomfa source; Duo: duo.com/support"


class CatalogStack(Stack):
    """Portfolio, one product per variant, and optionally a principal with access and a launch role."""

    def __init__(self, scope: Construct, construct_id: str, *, federal: bool = False) -> None:
        super().__init__(scope, construct_id,
                         synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
                         description="Duo MFA for AWS Directory Service: Service Catalog portfolio and products "
                                     "(duomfa)")
        existing_url = CfnParameter(
            self, "ExistingVpcTemplateUrl", type="String", allowed_pattern=f"^{TEMPLATE_URL}$",
            description="S3 URL of existing-vpc.template.json (from `duomfa synth`) in a bucket you can read: "
                        f"{URL_FORMS}",
            constraint_description="an https:// S3 object URL")
        new_vpc_url = CfnParameter(
            self, "NewVpcTemplateUrl", type="String", default="", allowed_pattern=f"^({TEMPLATE_URL})?$",
            description="Optional: S3 URL of new-vpc.template.json, for a second product that also creates a VPC "
                        f"and an AWS Managed Microsoft AD: {URL_FORMS}",
            constraint_description="empty or an https:// S3 object URL")
        version = CfnParameter(
            self, "ProductVersion", type="String", default=__version__, allowed_pattern=r"^[\w.+-]{1,100}$",
            description="Version name of the product (a new name on update adds a version to the products)",
            constraint_description="1 to 100 letters, digits, . + - or _")
        principal = CfnParameter(
            self, "PrincipalArn", type="String", default="",
            allowed_pattern=r"^(arn:aws[a-z-]*:iam::\d{12}:(role|user|group)/[\w+=,.@/-]+)?$",
            description="Optional: IAM role, user or group that may launch the products",
            constraint_description="empty, or an IAM role, user or group ARN")
        launch_role = CfnParameter(
            self, "LaunchRoleName", type="String", default="", allowed_pattern=r"^([\w+=,.@-]{1,64})?$",
            description="Optional: name of an IAM role (same name in each account) that Service Catalog launches "
                        "the products with; empty: end users need the permissions to create every resource",
            constraint_description="empty or an IAM role name")
        with_new_vpc = CfnCondition(self, "HasNewVpcProduct",
                                    expression=Fn.condition_not(Fn.condition_equals(new_vpc_url.value_as_string, "")))
        with_principal = CfnCondition(self, "HasPrincipal",
                                      expression=Fn.condition_not(Fn.condition_equals(principal.value_as_string, "")))
        with_launch_role = CfnCondition(
            self, "HasLaunchRole", expression=Fn.condition_not(Fn.condition_equals(launch_role.value_as_string, "")))

        host = "duofederal.com (Duo Federal)" if federal else "duosecurity.com"
        self.portfolio = servicecatalog.CfnPortfolio(
            self, "Portfolio", display_name="Duo MFA for AWS Directory Service", provider_name=PRODUCT_OWNER,
            description="Duo RADIUS proxies on ECS Fargate that add Duo MFA to AWS Managed Microsoft AD or AD "
                        "Connector logins (WorkSpaces, console, IAM Identity Center, Client VPN)")
        self.products: dict[str, servicecatalog.CfnCloudFormationProduct] = {}
        for variant, url, name, what, condition in (
                ("ExistingVpc", existing_url, "existing directory", "for an existing directory, in its VPC", None),
                ("NewVpc", new_vpc_url, "new VPC and directory", "with a new VPC and a new AWS Managed Microsoft AD",
                 with_new_vpc)):
            product = servicecatalog.CfnCloudFormationProduct(
                self, f"{variant}Product", name=f"Duo MFA for AWS Directory Service: {name}",
                owner=PRODUCT_OWNER, distributor=PRODUCT_OWNER, support_description=SUPPORT,
                description=f"Duo MFA proxies {what}; needs a Duo RADIUS or Auth API application on {host}",
                provisioning_artifact_parameters=[servicecatalog.CfnCloudFormationProduct.ProvisioningArtifactPropertiesProperty(
                    name=version.value_as_string, info={"LoadTemplateFromURL": url.value_as_string},
                    description="templates written by `duomfa synth`", type="CLOUD_FORMATION_TEMPLATE")])
            association = servicecatalog.CfnPortfolioProductAssociation(
                self, f"{variant}InPortfolio", portfolio_id=self.portfolio.ref, product_id=product.ref)
            constraint = servicecatalog.CfnLaunchRoleConstraint(
                self, f"{variant}LaunchRole", portfolio_id=self.portfolio.ref, product_id=product.ref,
                local_role_name=launch_role.value_as_string,
                description="Service Catalog creates the stack with this role")
            constraint.node.add_dependency(association)  # a constraint needs the product in the portfolio
            constraint.cfn_options.condition = with_launch_role
            if condition is not None:
                for resource in (product, association):
                    resource.cfn_options.condition = condition
                # CfnCondition is an ICfnConditionExpression; its type stub lacks one member
                both = Fn.condition_and(with_launch_role, condition)  # type: ignore[arg-type]
                constraint.cfn_options.condition = CfnCondition(self, f"{variant}HasLaunchRole", expression=both)
            self.products[variant] = product
        access = servicecatalog.CfnPortfolioPrincipalAssociation(
            self, "PrincipalAccess", portfolio_id=self.portfolio.ref, principal_arn=principal.value_as_string,
            principal_type="IAM")
        access.cfn_options.condition = with_principal
