"""Keeps the control-plane Lambdas on the image the proxies run: after each successful build, each function's code is
set to the repository's `latest` tag again, before the image it pinned expires (docs/design.md, "Function images").
Inline source (standard library and boto3): it must not depend on the image it refreshes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from duomfa.control.inline_support import error_code, log

CONFLICT_RETRIES = 6  # an update CloudFormation is making to the same function (a stack update) takes seconds
CONFLICT_WAIT_SECONDS = 10.0


def _log(**fields: Any) -> None:
    log("function_images", **fields)


def refresh(lambda_client: Any, function_names: Iterable[str], image_uri: str, *,
            sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """UpdateFunctionCode(ImageUri=image_uri) for each function; {name: what happened}. Raises RuntimeError naming
    the functions that could not be updated, after trying all of them."""
    outcome: dict[str, str] = {}
    for name in function_names:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                answer = lambda_client.update_function_code(FunctionName=name, ImageUri=image_uri)
            except lambda_client.exceptions.ResourceNotFoundException:
                # a new stack's first build succeeds before its functions exist; they are created with this image
                outcome[name] = "skipped: no such function yet"
                break
            except lambda_client.exceptions.ResourceConflictException:
                if attempt == CONFLICT_RETRIES:
                    outcome[name] = "failed: another update of the function did not finish"
                    break
                sleep(CONFLICT_WAIT_SECONDS)
                continue
            except Exception as exc:  # one function's failure must not keep the others on an expiring image
                outcome[name] = f"failed: {error_code(exc)}"
                break
            outcome[name] = f"updated to {answer.get('CodeSha256') or image_uri}"
            break
        _log(function=name, image=image_uri, did=outcome[name])
    failed = sorted(name for name, did in outcome.items() if did.startswith("failed"))
    if failed:
        raise RuntimeError(f"could not move {', '.join(failed)} to {image_uri}: they keep their previous image, "
                           "which expires after ImageRetentionDays")
    return outcome


def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    """EventBridge (image pipeline SUCCEEDED) → refresh. Env: FUNCTIONS (comma-separated names), IMAGE_URI."""
    import boto3

    names = [name.strip() for name in os.environ["FUNCTIONS"].split(",") if name.strip()]
    _log(found=f"image pipeline run {event.get('detail', {}).get('execution-id')} succeeded", did="refreshing",
        functions=names)
    return refresh(boto3.client("lambda"), names, os.environ["IMAGE_URI"])
