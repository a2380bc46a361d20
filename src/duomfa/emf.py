"""CloudWatch's embedded metric format (EMF): a JSON log line that CloudWatch Logs also turns into metrics, so no
process needs cloudwatch:PutMetricData — and the name of every metric duomfa publishes that way, which the stack's
dashboard and alarms read (a test holds them together). Standard library only: the control plane imports it and
its inline functions copy it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

MAX_VALUES = 100  # values of one metric in one line, and metrics in one line (EMF's limits)
COUNT, MILLISECONDS = "Count", "Milliseconds"


def metrics_block(namespace: str, units: Mapping[str, str], dimensions: Sequence[str] = ()) -> dict[str, Any]:
    """The line's `_aws` member: its top-level fields named in `units` become metrics NAMESPACE/name, with those
    units, under the given dimension fields (none: one series per name in the namespace)."""
    return {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": namespace, "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()]}]}


NAMESPACE_PREFIX = "DuoMfa"  # a stack's namespace is DuoMfa/STACK (duomfa.infra.monitoring.stack_namespace)

# --- the proxy's stats line, once a minute per task, in the stack's namespace (DuoMfa/STACK) ----------------------
# the stack passes the namespace as DUOMFA_METRICS_NAMESPACE; without it the line carries no metrics
DROP_REASONS = (
    "unknown_client", "malformed", "unsupported_code", "bad_message_authenticator", "bad_secret",
    "missing_message_authenticator", "ambiguous_secret", "unverifiable", "unanswerable", "internal_error",
    "shutting_down",
)
# Duo failures in the few kinds an operator acts on differently (the proxy's fault names map onto them)
DUO_ERROR_KINDS = ("timeout", "unreachable", "http_5xx", "refused", "not_duo", "no_keys", "busy")
ACCEPTED, REJECTED, EXEMPT = "accepted", "rejected", "exempt"  # accepted counts exempt and fail-open logins too
FAIL_OPEN, FAIL_CLOSED, FAULTS_AFTER_PREAUTH = "fail_open", "fail_closed", "faults_after_preauth"
PUSH_GUARD, DROPPED, DUO_ERRORS = "push_guard", "dropped", "duo_errors"
DROPPED_BY_REASON = {reason: f"{DROPPED}_{reason}" for reason in DROP_REASONS}
DUO_ERRORS_BY_KIND = {kind: f"{DUO_ERRORS}_{kind}" for kind in DUO_ERROR_KINDS}
PROXY_COUNTS = (ACCEPTED, REJECTED, EXEMPT, FAIL_OPEN, FAIL_CLOSED, FAULTS_AFTER_PREAUTH, PUSH_GUARD,
                DROPPED, *DROPPED_BY_REASON.values(), DUO_ERRORS, *DUO_ERRORS_BY_KIND.values())
PENDING_PUSHES = "pending_pushes"  # each task's pushes and calls waiting for the user at the end of the minute
PROXY_GAUGES = (PENDING_PUSHES,)
LOGIN_LATENCY, DUO_LATENCY = "login_latency_ms", "duo_latency_ms"  # up to MAX_VALUES samples of the minute
PROXY_METRICS: dict[str, str] = {**dict.fromkeys(PROXY_COUNTS, COUNT), **dict.fromkeys(PROXY_GAUGES, COUNT),
                                 LOGIN_LATENCY: MILLISECONDS, DUO_LATENCY: MILLISECONDS}

# --- the control plane's, in the same namespace ------------------------------------------------------------------
DIRECTORY_ID = "DirectoryId"  # the dimension of the directory updater's metrics
RADIUS_IN_SYNC = "RadiusInSync"  # the directory updater, each run: 1 while MFA works as desired or is paused
RADIUS_STATES = ("completed", "creating", "failed", "absent", "differs", "paused")  # Radius_<state>, 1 or 0
RADIUS_STATE_METRICS = {state: f"Radius_{state}" for state in RADIUS_STATES}
# the rotation, once per rotation: 1 when finishSecret completed; 1 when any step failed (with the step's name)
ROTATION_SUCCEEDED, ROTATION_FAILED = "RotationSucceeded", "RotationFailed"
