"""`duomfa synth` and `cdk synth`: both variants for both partitions, offline, clean under cfn-lint, within
CloudFormation's size limits, with no hard-coded partition."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from duomfa.cli import DIRECT_UPLOAD_LIMIT, main

REPO = Path(__file__).resolve().parents[2]
S3_TEMPLATE_LIMIT = 1_000_000  # bytes, for a template CloudFormation reads from S3 (the console uploads there)
LINT_REGIONS = {"aws": ["us-east-1", "us-west-2"], "aws-us-gov": ["us-gov-west-1", "us-gov-east-1"]}
# no credentials and no network: synth must not need them
OFFLINE = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY":
           "http://127.0.0.1:9", "NO_PROXY": ""}


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("templates")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in OFFLINE.items():
            patch.setenv(name, value)
        assert main(["synth", "--out", str(out)]) == 0
    return {f"{p.parent.name}/{p.stem.removesuffix('.template')}": p for p in sorted(out.glob("*/*.template.json"))}


def test_synth_writes_both_variants_and_the_catalog_for_both_partitions(templates):
    assert set(templates) == {f"{partition}/{variant}" for partition in ("aws", "aws-us-gov")
                              for variant in ("new-vpc", "existing-vpc", "catalog")}


def test_no_template_hard_codes_a_partition(templates):
    for name, path in templates.items():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"arn:aws[-a-z]*:", text), name
        if not name.endswith("/catalog"):  # the catalog stack makes no ARNs at all
            assert '"Ref": "AWS::Partition"' in text, name


@pytest.mark.parametrize("partition", sorted(LINT_REGIONS))
def test_cfn_lint_finds_no_errors(templates, partition):
    paths = [str(p) for name, p in templates.items() if name.startswith(f"{partition}/")]
    # cfn-lint 1.x has no `python -m cfnlint` (no __main__): that ran nothing and exited 1; this is its cfn-lint script
    result = subprocess.run([sys.executable, "-m", "cfnlint.runner.cli", "--format", "parseable", "--regions",
                             *LINT_REGIONS[partition], "--", *paths], capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stdout.splitlines() if re.search(r":E\d{4}:", line)]
    # exit code bits: 2 errors, 4 warnings, 8 informational; 1 means cfn-lint itself failed
    assert errors == [] and result.returncode & 3 == 0, result.stdout + result.stderr
    assert "No module named" not in result.stderr


def test_templates_fit_cloudformation_s_limits(templates):
    for name, path in templates.items():
        # the written (indented) variant templates exceed the 51,200-byte request-body limit, so they deploy through
        # S3 (the console's upload does that; the CLI says so); S3-read templates may have up to 1 MB. The catalog
        # template is small enough to paste.
        if name.endswith("/catalog"):
            assert path.stat().st_size < DIRECT_UPLOAD_LIMIT, name
        else:
            assert DIRECT_UPLOAD_LIMIT < path.stat().st_size < S3_TEMPLATE_LIMIT, name
        template = json.loads(path.read_text(encoding="utf-8"))
        assert len(template["Resources"]) <= 500 and len(template["Parameters"]) <= 200
        assert len(template.get("Outputs", {})) <= 200


def test_templates_need_no_bootstrap_and_no_assets(templates):
    for name, path in templates.items():
        template = json.loads(path.read_text(encoding="utf-8"))
        assert "BootstrapVersion" not in template["Parameters"], name
        assert "CheckBootstrapVersion" not in template.get("Rules", {}), name
        assert "AssetParameters" not in path.read_text(encoding="utf-8"), name
        assert "cdk-hnb659fds-assets" not in path.read_text(encoding="utf-8"), name


def test_both_partitions_keep_the_least_privilege_statements(templates):
    """The assertions tests read the commercial synth; the written templates of both partitions carry the same
    statements (tests/infra/test_least_privilege.py)."""
    for name, path in templates.items():
        if name.endswith("/catalog"):
            continue
        resources = json.loads(path.read_text(encoding="utf-8"))["Resources"].values()
        by_type: dict[str, list[dict]] = {}
        for resource in resources:
            by_type.setdefault(resource["Type"], []).append(resource.get("Properties", {}))
        (topic_policy,) = by_type["AWS::SNS::TopicPolicy"]
        assert all("Condition" in st for st in topic_policy["PolicyDocument"]["Statement"]), name
        (key,) = by_type["AWS::KMS::Key"]
        services = [st["Principal"]["Service"] for st in key["KeyPolicy"]["Statement"] if "Service" in st["Principal"]]
        assert services.count("events.amazonaws.com") == services.count("cloudwatch.amazonaws.com") == 1, name
        (secret_policy,) = by_type["AWS::SecretsManager::ResourcePolicy"]
        assert [st["Effect"] for st in secret_policy["ResourcePolicy"]["Statement"]] == ["Deny"], name
        for policy in by_type["AWS::IAM::Policy"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement.get("Action", [])
                if any(action.startswith("kms:") for action in (actions if isinstance(actions, list) else [actions])):
                    assert "kms:ViaService" in statement["Condition"]["StringEquals"], (name, statement)


def test_both_partitions_have_the_same_dashboard_and_saved_queries(templates):
    """The dashboard and query assertions read the commercial synth (tests/infra/test_dashboard.py); the written
    templates of both partitions carry the same resources (and cfn-lint finds both types in the GovCloud regions)."""
    for variant in ("new-vpc", "existing-vpc"):
        observed = {}
        for partition in ("aws", "aws-us-gov"):
            resources = json.loads(templates[f"{partition}/{variant}"].read_text(encoding="utf-8"))["Resources"]
            observed[partition] = {name: resource for name, resource in resources.items()
                                   if resource["Type"] in ("AWS::CloudWatch::Dashboard", "AWS::Logs::QueryDefinition")}
        assert sorted(r["Type"] for r in observed["aws"].values()).count("AWS::Logs::QueryDefinition") == 5
        assert observed["aws"] == observed["aws-us-gov"], variant


def test_govcloud_templates_suggest_duo_federal(templates):
    gov = json.loads(templates["aws-us-gov/existing-vpc"].read_text(encoding="utf-8"))
    assert "e.g. api-XXXXXXXX.duofederal.com" in gov["Parameters"]["DuoApiHost"]["Description"]


def test_cdk_json_app_synthesizes_offline(tmp_path):
    command = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))["app"].split()
    assert command[:3] == ["python", "-m", "duomfa.infra.app"]
    environment = {**os.environ, **OFFLINE, "CDK_OUTDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, *command[1:]], env=environment, capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "DuoMfaNewVpc.template.json").exists()
    assert (tmp_path / "DuoMfaExistingVpc.template.json").exists()
    assert (tmp_path / "DuoMfaCatalog.template.json").exists()


def test_fips_mode_defaults_on_in_govcloud_only(templates):
    for name, path in templates.items():
        if name.endswith("catalog"):
            continue
        parameter = json.loads(path.read_text(encoding="utf-8"))["Parameters"]["FipsMode"]
        assert parameter["AllowedValues"] == ["No", "Yes"]
        assert parameter["Default"] == ("Yes" if name.startswith("aws-us-gov/") else "No"), name
