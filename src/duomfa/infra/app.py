"""The CDK app: both variants (new VPC, existing directory), for the commercial or the GovCloud partition.

`cdk synth` runs this module (cdk.json); `duomfa synth` calls `synth_templates`. Synth needs no network and no
AWS credentials: the stacks are environment-agnostic and use no lookups and no assets.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from aws_cdk import App

from duomfa.infra.catalog import CatalogStack
from duomfa.infra.stacks import ExistingVpcStack, NewVpcStack

PARTITIONS = ("aws", "aws-us-gov")
STACKS = {"new-vpc": "DuoMfaNewVpc", "existing-vpc": "DuoMfaExistingVpc", "catalog": "DuoMfaCatalog"}


def build_app(*, partition: str = "aws", outdir: str | None = None) -> App:
    """Both variants, and the Service Catalog stack that offers them. The templates use ${AWS::Partition}
    throughout; `aws-us-gov` switches Duo defaults to Duo Federal in the parameter descriptions."""
    if partition not in PARTITIONS:
        raise ValueError(f"partition {partition!r}; allowed: {', '.join(PARTITIONS)}")
    # The built-in CloudFormation validation cannot read Rules, so it reports every TaskCpu x TaskMemory pair and
    # every empty-parameter branch that the template's Rules already refuse; cfn-lint runs over the templates in
    # the tests instead (and synth takes half the time without it).
    app = App(outdir=outdir, analytics_reporting=False, builtin_cloud_formation_validation=False)
    federal = partition == "aws-us-gov"
    NewVpcStack(app, STACKS["new-vpc"], federal=federal)
    ExistingVpcStack(app, STACKS["existing-vpc"], federal=federal)
    CatalogStack(app, STACKS["catalog"], federal=federal)
    return app


def synth_templates(out: Path) -> list[Path]:
    """Write OUT/<partition>/<variant>.template.json for both variants (and catalog.template.json) for both
    partitions; return the paths."""
    written: list[Path] = []
    for partition in PARTITIONS:
        with tempfile.TemporaryDirectory(prefix="duomfa-cdk-") as assembly_dir:
            assembly = build_app(partition=partition, outdir=assembly_dir).synth()
            target = out / partition
            target.mkdir(parents=True, exist_ok=True)
            for variant, stack_name in STACKS.items():
                template = assembly.get_stack_by_name(stack_name).template
                path = target / f"{variant}.template.json"
                path.write_text(json.dumps(template, indent=1) + "\n", encoding="utf-8")
                written.append(path)
    return written


def main() -> None:
    build_app().synth()


if __name__ == "__main__":
    main()
