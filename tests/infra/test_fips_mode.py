"""FipsMode in the templates: one parameter switches the image, the proxies' fips_mode and the FIPS endpoints of
every AWS SDK client in the stack; a rule keeps it to the regions where those endpoints exist, and that list and the
list of services are checked against botocore's endpoint model and the code's own clients."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.loaders import Loader

from duomfa.infra.fips_mode import ENDPOINT_VARIABLE, FIPS_ENDPOINT_REGIONS, SDK_SERVICES

SRC = Path(__file__).resolve().parents[2] / "src" / "duomfa"
ON_OFF = {"Fn::If": ["FipsModeOn", "true", "false"]}
YES_NO = {"Fn::If": ["FipsModeOn", "Yes", "No"]}


def test_every_lambda_function_takes_fips_endpoints_from_the_parameter(variant):
    functions = variant.resources("AWS::Lambda::Function")
    assert len(functions) >= 10  # the control plane, the custom resources and CDK's provider framework
    for name, function in functions.items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        assert variables.get(ENDPOINT_VARIABLE) == ON_OFF, name


def test_the_proxies_run_fips_mode_and_fips_endpoints_from_the_parameter(variant):
    container = variant.only("AWS::ECS::TaskDefinition")["Properties"]["ContainerDefinitions"][0]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["DUOMFA_FIPS_MODE"] == ON_OFF and environment[ENDPOINT_VARIABLE] == ON_OFF


def test_the_build_makes_the_fips_image_and_calls_fips_endpoints(variant):
    project = variant.only("AWS::CodeBuild::Project")["Properties"]["Environment"]
    variables = {v["Name"]: v["Value"] for v in project["EnvironmentVariables"]}
    assert variables["FIPS_IMAGE"] == YES_NO and variables[ENDPOINT_VARIABLE] == ON_OFF
    buildspec = (SRC.parents[1] / "buildspec.yml").read_text(encoding="utf-8")
    assert '"${FIPS_IMAGE:-No}" = "Yes"' in buildspec and "--file Dockerfile.fips" in buildspec


def test_the_first_image_resource_rebuilds_when_fips_mode_turns_on(variant):
    resource = variant.only("Custom::FirstImage")
    assert resource["Properties"]["FipsImage"] == YES_NO
    service = variant.only("AWS::ECS::Service")
    first_image_id = next(iter(variant.resources("Custom::FirstImage")))
    assert first_image_id in service.get("DependsOn", []), "the proxies must wait for the (FIPS) image"


def test_a_rule_allows_fips_mode_only_where_every_service_has_fips_endpoints(variant):
    rule = variant.json["Rules"]["FipsModeRegion"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "FipsMode"}, "Yes"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [list(FIPS_ENDPOINT_REGIONS), {"Ref": "AWS::Region"}]}
    assert "FipsMode No" in assertion["AssertDescription"]


# --- the facts the rule rests on ----------------------------------------------------------------------------------

CLIENT = re.compile(r"""client\(\s*["']([a-z0-9-]+)["']""")
# not run by the stack: the admin's own doctor, and the drill against a local fake of AWS
NOT_IN_THE_STACK = ("doctor", "drill")
# what no client() call in this code names: CDK's provider framework (Node.js) calls Lambda and Step Functions
FRAMEWORK_SERVICES = {"lambda", "stepfunctions"}


def test_the_service_list_is_every_client_the_stack_s_code_creates():
    found = set(FRAMEWORK_SERVICES)
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] in NOT_IN_THE_STACK:
            continue
        found |= set(CLIENT.findall(path.read_text(encoding="utf-8")))
    assert found == set(SDK_SERVICES)


ENDPOINTS = Loader().load_data("endpoints")
# the key of the service in endpoints.json, where it is not the client's name
ENDPOINT_PREFIX = {"ecr": "api.ecr", "stepfunctions": "states"}


def fips_regions_in_the_model(partition: str, service: str) -> set[str]:
    """Regions where endpoints.json gives the service a FIPS endpoint: a `fips` variant, or an old-style
    fips-REGION / REGION-fips entry (GovCloud names its FIPS endpoints so, some on the standard host)."""
    data = next(p for p in ENDPOINTS["partitions"] if p["partition"] == partition)
    endpoints = data["services"].get(ENDPOINT_PREFIX.get(service, service), {}).get("endpoints", {})
    found = set()
    for region, endpoint in endpoints.items():
        if any(variant.get("tags") == ["fips"] for variant in endpoint.get("variants", [])):
            found.add(region)
        if region.startswith("fips-") or region.endswith("-fips"):
            found.add(endpoint.get("credentialScope", {}).get("region") or
                      region.removeprefix("fips-").removesuffix("-fips"))
    return found


def resolved_fips_host(service: str, region: str) -> str:
    session = boto3.session.Session(region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    return session.client(service, config=Config(use_fips_endpoint=True)).meta.endpoint_url


# EC2 in GovCloud: endpoints.json lists no FIPS variant, and the SDK's endpoint rules send a FIPS request to the
# standard host, which AWS operates as its FIPS endpoint there (docs/deploy.md says this was not verified here)
GOVCLOUD_STANDARD_HOST_IS_FIPS = {"ec2"}


@pytest.mark.parametrize("region", FIPS_ENDPOINT_REGIONS)
def test_every_service_has_a_fips_endpoint_in_each_allowed_region(region):
    partition = "aws-us-gov" if region.startswith("us-gov-") else "aws"
    for service in SDK_SERVICES:
        host = resolved_fips_host(service, region)
        if partition == "aws-us-gov" and service in GOVCLOUD_STANDARD_HOST_IS_FIPS:
            assert host == f"https://{service}.{region}.amazonaws.com"
            continue
        assert region in fips_regions_in_the_model(partition, service), (service, region)
        assert "-fips." in host or partition == "aws-us-gov", (service, region, host)


def test_no_other_commercial_region_has_them_all():
    data = next(p for p in ENDPOINTS["partitions"] if p["partition"] == "aws")
    complete = set(data["regions"])
    for service in SDK_SERVICES:
        complete &= fips_regions_in_the_model("aws", service)
    assert complete == {r for r in FIPS_ENDPOINT_REGIONS if not r.startswith("us-gov-")}
