"""What the control-plane Lambdas that run from the image share: settings read from the environment, the time left
before Lambda's own timeout, the Secrets Manager stage lookups, and (from inline_support) the log line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from duomfa import fips
from duomfa.control.inline_support import error_code, log, log_metrics, set_log_stream, version_with

__all__ = ["SettingsError", "check_crypto", "env_int", "env_list", "env_text", "error_code", "log", "log_metrics",
           "read_json_parameter", "seconds_left", "set_log_stream", "version_stages", "version_with"]

LAMBDA_MARGIN_SECONDS = 30.0  # left over for the last log line and the SNS notice when a deadline is hit


_crypto_checked = False


def check_crypto(environ: Mapping[str, str]) -> None:
    """First thing in every handler, once per process: where DUOMFA_FIPS_MODE is true (the FIPS image sets it), the
    proxy's own start check — OpenSSL's FIPS provider enforced, RADIUS's MD5 bound outside it after its self-test —
    and one `crypto` line saying what the function runs on. FipsUnavailable stops the function before it calls
    anything, so a FIPS deployment never quietly runs without its module. Elsewhere: nothing."""
    global _crypto_checked
    if _crypto_checked or not fips.wanted(environ):
        return
    setup = fips.prepare(True, fips.ENVIRONMENT_VARIABLE)
    _crypto_checked = True
    log("crypto", fips_mode=setup.fips_mode, openssl=setup.openssl, fips_provider=setup.fips_provider,
        radius_md5=setup.radius_md5, random_source=setup.random_source)


class SettingsError(ValueError):
    """An environment variable is missing or out of range; the message names it."""


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
    return max(1.0, min(configured, float(remaining_ms()) / 1000 - LAMBDA_MARGIN_SECONDS))


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
    stages: dict[str, list[str]] = secretsmanager.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    return stages
