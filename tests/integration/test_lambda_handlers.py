"""The control-plane Lambdas run `python -m awslambdaric MODULE.FUNCTION` in the proxy image: every handler path in
the synthesized template's ImageConfig must resolve to a callable in the installed package, the way the runtime
interface client resolves it, so that renaming a handler cannot break the deployed functions silently. And the image
installs the runtime interface client (the `lambda` extra) at all."""

from __future__ import annotations

import importlib
import os
import re
import tomllib
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")  # before aws_cdk starts node

import pytest  # noqa: E402
from aws_cdk import App  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from duomfa.infra.control_plane import LAMBDA_ENTRYPOINT  # noqa: E402
from duomfa.infra.stacks import ExistingVpcStack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image_functions() -> dict[str, dict]:
    app = App(analytics_reporting=False, builtin_cloud_formation_validation=False)
    template = Template.from_stack(ExistingVpcStack(app, "DuoMfaHandlers")).to_json()
    return {name: resource["Properties"] for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("PackageType") == "Image"}


def test_every_image_function_s_handler_resolves_to_a_callable(image_functions):
    assert len(image_functions) == 4
    for name, properties in image_functions.items():
        assert properties["ImageConfig"]["EntryPoint"] == LAMBDA_ENTRYPOINT == ["python", "-m", "awslambdaric"]
        (path,) = properties["ImageConfig"]["Command"]
        module_name, _, attribute = path.rpartition(".")  # awslambdaric: handler.rsplit(".", 1), import_module
        handler = getattr(importlib.import_module(module_name.replace("/", ".")), attribute, None)
        assert callable(handler), f"{name}: {path} does not resolve in the installed duomfa"
        assert handler.__code__.co_argcount >= 2, f"{name}: {path} does not take (event, context)"


def test_the_image_installs_the_lambda_runtime_interface_client():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert any(requirement.startswith("awslambdaric==") for requirement in extras["lambda"])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (installed,) = re.findall(r'pip wheel [^\n]*"\.\[([a-z,]+)\]"', dockerfile)
    assert "lambda" in installed.split(",") and "aws" in installed.split(",")
