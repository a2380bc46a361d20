"""The inline Lambdas as CloudFormation deploys them: each control-plane file with duomfa.control.inline_support
copied in at synth — one file, the standard library and boto3 only, and it runs."""

from __future__ import annotations

import ast
import json
import sys
import types
import urllib.request

import pytest

from duomfa.infra.inline_function import CONTROL_SOURCES, inline_source

INLINE = {"directory_lookup": ["handler"], "duo_keys": ["handler"], "subnet_cidrs": ["handler"],
          "new_image": ["handler"], "function_images": ["handler"],
          "first_image": ["on_event_handler", "is_complete_handler"]}


def imported_modules(source: str) -> set[str]:
    tree = ast.parse(source)
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return names | {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}


def load(name: str) -> types.ModuleType:
    module = types.ModuleType(f"index_{name}")
    exec(compile(inline_source(CONTROL_SOURCES / f"{name}.py"), "index.py", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.mark.parametrize("name", sorted(INLINE))
def test_an_inline_source_is_one_file_of_the_standard_library_and_boto3(name):
    source = inline_source(CONTROL_SOURCES / f"{name}.py")
    assert imported_modules(source) <= set(sys.stdlib_module_names) | {"boto3", "botocore"}
    module = load(name)
    for handler in INLINE[name]:
        assert callable(getattr(module, handler))


def test_the_copied_support_answers_cloudformation(monkeypatch, capsys):
    sent = []

    class Reply:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def read(self):
            return b""

    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: sent.append(request) or Reply())
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the handler makes its client before it looks at the request
    module = load("subnet_cidrs")
    event = {"RequestType": "Delete", "ResourceProperties": {"SubnetIds": "subnet-1"}, "PhysicalResourceId": "p-1",
             "StackId": "stack", "RequestId": "request-1", "LogicalResourceId": "Cidrs",
             "ResponseURL": "https://cloudformation-custom-resource-response.example/put"}
    module.handler(event, types.SimpleNamespace(log_stream_name="2026/12/06/[$LATEST]abc"))
    (request,) = sent
    body = json.loads(request.data)
    assert (body["Status"], body["PhysicalResourceId"], body["RequestId"]) == ("SUCCESS", "p-1", "request-1")
    assert "2026/12/06/[$LATEST]abc" in body["Reason"]
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["level"], line["event"], line["status"]) == ("INFO", "subnet_cidrs", "SUCCESS") and "time" in line


def test_every_inline_handler_file_is_listed():
    """A new control-plane file that imports inline_support must be listed above (and so checked)."""
    importing = {path.stem for path in CONTROL_SOURCES.glob("*.py")
                 if "from duomfa.control.inline_support import" in path.read_text()}
    assert importing - {"runtime"} <= set(INLINE) | {"image_gate"}
