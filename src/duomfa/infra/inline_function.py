"""Small Python Lambdas whose code is one file of duomfa.control embedded in the template (no asset bucket, so the
templates deploy from the console), each with its own role and a KMS-encrypted log group."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from duomfa.infra.escape_hatch import cfn_resource

CONTROL_SOURCES = Path(__file__).resolve().parent.parent / "control"  # referred to by path, never imported
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14  # the handlers need only 3.9+; cdk-nag wants the newest
PACKAGE = CONTROL_SOURCES.parent
# the standard-library modules an inline handler may import: their code is copied in place of the import at synth
INLINABLE = {"duomfa.control.inline_support": CONTROL_SOURCES / "inline_support.py",
             "duomfa.secret_document": PACKAGE / "secret_document.py",
             "duomfa.emf": PACKAGE / "emf.py"}
INLINABLE_IMPORT = re.compile(r"^from (duomfa[\w.]*) import [\w, ()]+\n", re.MULTILINE)
FUTURE_IMPORT = "from __future__ import annotations\n"


def inline_source(source: Path) -> str:
    """A control-plane file as one self-contained index.py: each import of an INLINABLE module replaced by that
    module's code (and its own such imports by theirs, each module once), so the inline handlers share one writer of
    the log line, the CloudFormation response and the secret's contract with the rest of duomfa."""
    copied_already: set[str] = set()

    def inlined(text: str, name: str) -> str:
        def copied(match: re.Match[str]) -> str:
            module = match.group(1)
            if module not in INLINABLE:
                raise ValueError(f"{name} imports {module}, which cannot be inlined")
            if module in copied_already:
                return ""
            copied_already.add(module)
            text = INLINABLE[module].read_text(encoding="utf-8")
            body = text[text.index(FUTURE_IMPORT) + len(FUTURE_IMPORT):]  # after its docstring and future import
            return f"# --- {module}, copied at synth ---{inlined(body, module)}# --- end of {module} ---\n"

        return INLINABLE_IMPORT.sub(copied, text)

    return inlined(source.read_text(encoding="utf-8"), source.name)


def inline_function(scope: Construct, function_id: str, *, source: Path, description: str, role_description: str,
                    key: kms.IKey, timeout: Duration, prefix: str = "", log_retention_days: Any = None,
                    **function_options: Any) -> tuple[lambda_.Function, iam.Role]:
    """The function running `source` (a file of duomfa.control) as index.py, its role (the caller adds its
    statements) and its log group (`<prefix>Logs`, retention from the LogRetentionDays parameter when given, else a
    year)."""
    log_group = logs.LogGroup(scope, f"{prefix}Logs", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR,
                              removal_policy=RemovalPolicy.DESTROY)
    if log_retention_days is not None:
        cfn_resource(log_group).add_property_override("RetentionInDays", log_retention_days)
    role = iam.Role(scope, f"{prefix}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                    description=role_description)
    log_group.grant_write(role)
    function = lambda_.Function(
        scope, function_id, runtime=LAMBDA_RUNTIME, handler="index.handler",
        code=lambda_.Code.from_inline(inline_source(source)),
        timeout=timeout, memory_size=128, role=role, log_group=log_group, description=description,
        **function_options)
    return function, role
