"""What the control-plane Lambdas share: one JSON log line per decision, settings read from the environment, the
time left before Lambda's own timeout, and the Secrets Manager stage lookups. Standard library only."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

LAMBDA_MARGIN_SECONDS = 30.0  # left over for the last log line and the SNS notice when a deadline is hit


class SettingsError(ValueError):
    """An environment variable is missing or out of range; the message names it."""


_log_stream: TextIO | None = None  # None: standard output, which Lambda sends to CloudWatch Logs


def set_log_stream(stream: TextIO | None) -> None:
    """Where the log lines go when this code runs outside Lambda (the drill keeps its stdout for its result)."""
    global _log_stream
    _log_stream = stream


def log(event: str, level: str = "INFO", **fields: Any) -> None:
    """One JSON line on stdout (CloudWatch Logs keeps it as one event). Never pass a secret."""
    record = {"time": round(time.time(), 3), "level": level, "event": event, **fields}
    print(json.dumps(record, default=str, separators=(",", ":")), file=_log_stream or sys.stdout, flush=True)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__


def env_text(environ: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise SettingsError(f"environment variable {name} is required")
    return default


def env_int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} = {text!r} is not a whole number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} = {value} is outside {low}–{high}")
    return value


def env_list(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in environ.get(name, "").split(",") if item.strip())


def seconds_left(configured: float, context: Any) -> float:
    """The configured deadline, shortened so the function ends before Lambda's timeout stops it mid-step."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return configured
    return max(1.0, min(configured, remaining_ms() / 1000 - LAMBDA_MARGIN_SECONDS))


def read_json_parameter(ssm: Any, name: str) -> Any:
    """An SSM parameter's value parsed as JSON, or None when it is missing or not JSON (such as a stack's seed)."""
    try:
        text = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def version_stages(secretsmanager: Any, secret_id: str) -> dict[str, list[str]]:
    return secretsmanager.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})


def version_with(stages: Mapping[str, list[str]], stage: str) -> str | None:
    """The version ID that carries `stage` (AWSCURRENT, AWSPREVIOUS …), or None."""
    return next((version for version, labels in stages.items() if stage in labels), None)
