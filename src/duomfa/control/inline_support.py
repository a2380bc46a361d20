"""What every control-plane function shares, in the standard library only: the JSON log line and CloudFormation's
custom-resource response. The CDK app copies this file into each inline Lambda's source at synth
(duomfa.infra.inline_function.inline_source); the functions that run from the image import it."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any, TextIO

from duomfa.emf import COUNT, metrics_block

_log_stream: TextIO | None = None  # None: standard output, which Lambda sends to CloudWatch Logs


def set_log_stream(stream: TextIO | None) -> None:
    """Where the log lines go when this code runs outside Lambda (the drill keeps its stdout for its result)."""
    global _log_stream
    _log_stream = stream


def log(event: str, level: str = "INFO", **fields: Any) -> None:
    """One JSON line — time, level, event, then the fields — as the proxy writes them. Never pass a secret."""
    record = {"time": round(time.time(), 3), "level": level, "event": event, **fields}
    print(json.dumps(record, default=str, separators=(",", ":")), file=_log_stream or sys.stdout, flush=True)


def log_metrics(event: str, namespace: str, metrics: dict[str, float], *, dimensions: dict[str, str] | None = None,
                level: str = "INFO", **fields: Any) -> None:
    """One log line that CloudWatch Logs also turns into metrics (the embedded metric format), so the function needs
    no cloudwatch:PutMetricData: `metrics` as values of NAMESPACE/name, with the given dimensions."""
    dimensions = dimensions or {}
    log(event, level, **fields, **dimensions, **metrics,
        _aws=metrics_block(namespace, dict.fromkeys(metrics, COUNT), list(dimensions)))


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__


def version_with(stages: dict[str, list[str]], stage: str) -> str | None:
    """The secret version ID that carries `stage` (AWSCURRENT, AWSPREVIOUS …), or None."""
    return next((version for version, labels in stages.items() if stage in labels), None)


def send_response(event: dict[str, Any], context: Any, answer: dict[str, Any], *, no_echo: bool = False) -> None:
    """PUT the answer ({Status, PhysicalResourceId, Reason, Data}) to the custom resource's pre-signed URL. The
    reason names the log stream; with no_echo, CloudFormation shows no Data in its events."""
    log_stream = getattr(context, "log_stream_name", "unknown")
    body = json.dumps({
        "Status": answer["Status"],
        "Reason": f"{answer['Reason']} (log stream {log_stream})"[:3000],
        "PhysicalResourceId": answer["PhysicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": no_echo,
        "Data": answer.get("Data") or {},
    }).encode("utf-8")
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - CloudFormation's pre-signed S3 URL
        reply.read()
