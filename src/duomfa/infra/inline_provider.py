"""custom_resources.Provider without an asset: its framework Lambdas get their Node.js code inline, taken from the
installed aws-cdk-lib, so the templates deploy into accounts that were never CDK-bootstrapped."""

from __future__ import annotations

import functools
import importlib
import json
import re
import tarfile
from pathlib import Path

from aws_cdk import CfnResource
from aws_cdk import custom_resources as cr

from duomfa.infra.escape_hatch import cfn_resource

RUNTIME_DIR = "package/custom-resources/lib/provider-framework/runtime/"
ENTRY_POINTS = ("onEvent", "isComplete", "onTimeout")  # the framework's handler names (runtime/consts.js)
# A require() of one of the bundled files, e.g. require("./cfn-response"); anything else (https, url, the AWS SDK
# that the Node.js Lambda runtime provides) goes to Node's own require.
LOCAL_REQUIRE = re.compile(r'require\("(\./[\w.-]+)"\)')


def _jsii_tarball() -> Path:
    location = importlib.import_module("aws_cdk._jsii").__file__
    found = sorted(Path(location).parent.glob("aws-cdk-lib@*.jsii.tgz")) if location else []
    if not found:
        raise FileNotFoundError("aws-cdk-lib's jsii tarball is not installed next to aws_cdk._jsii")
    return found[-1]


@functools.cache
def framework_source() -> str:
    """The provider framework's runtime as one CommonJS file exporting onEvent, isComplete and onTimeout."""
    modules: dict[str, str] = {}
    with tarfile.open(_jsii_tarball(), "r:gz") as tarball:
        for member in tarball:
            if member.isfile() and member.name.startswith(RUNTIME_DIR) and member.name.endswith(".js"):
                name = "./" + member.name[len(RUNTIME_DIR):-3]
                extracted = tarball.extractfile(member)
                if "/" not in name[2:] and extracted is not None:
                    modules[name] = extracted.read().decode("utf-8")
    if "./framework" not in modules:
        raise FileNotFoundError(f"no provider framework runtime in {_jsii_tarball().name}")
    for name, source in modules.items():
        for wanted in LOCAL_REQUIRE.findall(source):
            if wanted not in modules:
                raise FileNotFoundError(f"{name} requires {wanted}, which is not in the framework runtime")
    table = ",\n".join(f"{json.dumps(name)}: function (exports, require, module) {{\n{source}\n}}"
                       for name, source in sorted(modules.items()))
    return (
        "// AWS CDK custom-resource provider framework runtime (aws-cdk-lib, Apache-2.0), files joined for inline "
        "deployment\n"
        f"const bundled = {{\n{table}\n}};\n"
        "const loaded = {};\n"
        "function load(name) {\n"
        "  if (!(name in bundled)) return require(name);\n"
        "  if (!(name in loaded)) {\n"
        "    const module = { exports: {} };\n"
        "    loaded[name] = module;\n"
        "    bundled[name].call(module.exports, module.exports, load, module);\n"
        "  }\n"
        "  return loaded[name].exports;\n"
        "}\n"
        'module.exports = load("./framework");\n'
    )


def inline_framework_code(provider: cr.Provider) -> list[CfnResource]:
    """Replace the asset code of the provider's framework functions with the inline bundle; returns them."""
    functions: list[CfnResource] = []
    for entry_point in ENTRY_POINTS:
        child = provider.node.try_find_child(f"framework-{entry_point}")
        if child is None:
            continue  # no is-complete handler: no isComplete / onTimeout functions
        function = cfn_resource(child)
        function.add_property_override("Code", {"ZipFile": framework_source()})
        function.add_property_deletion_override("Code.S3Bucket")
        function.add_property_deletion_override("Code.S3Key")
        function.add_property_override("Handler", f"index.{entry_point}")
        for key in ("aws:asset:path", "aws:asset:is-bundled", "aws:asset:property"):
            function.add_deletion_override(f"Metadata.{key}")
        functions.append(function)
    return functions
