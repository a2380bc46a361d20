"""`duomfa doctor`: the "verify your deployment" step as a command, in the spirit of Duo's connectivity tool. Every
check is a small function returning a Check — ok, warn or fail, what was found, what to do — and none prints a
secret: local ones in doctor.local, AWS ones in doctor.aws, the report here."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from duomfa.doctor.aws import AwsClients, aws_checks, udp_reach
from duomfa.doctor.checks import FAIL, OK, WARN, Check
from duomfa.doctor.local import check_clock, check_port, local_checks

__all__ = ["AwsClients", "Check", "aws_checks", "check_clock", "check_port", "local_checks", "report", "run_doctor",
           "udp_reach"]


# --- the report -----------------------------------------------------------------------------------------------

def report(checks: Sequence[Check], *, as_json: bool, out: TextIO) -> int:
    """Print one line per check (or one JSON object); 1 when any check failed, else 0 (warnings do not fail)."""
    failed = sum(check.status == FAIL for check in checks)
    warnings = sum(check.status == WARN for check in checks)
    if as_json:
        print(json.dumps({"checks": [asdict(check) for check in checks], "failed": failed, "warnings": warnings},
                         indent=2), file=out)
    else:
        width = max(len(check.name) for check in checks)
        for check in checks:
            line = f"{check.status:<5}{check.name:<{width}}  {check.detail}"
            if check.status != OK and check.fix:
                line += f" → {check.fix}"
            print(line, file=out)
        print(f"{len(checks)} check(s): {failed} failed, {warnings} warning(s)", file=out)
    return 1 if failed else 0


def run_doctor(*, config: str | None, stack: str | None, region: str | None, probe: bool, as_json: bool,
               environ: Mapping[str, str], out: TextIO | None = None, aws_clients: AwsClients | None = None) -> int:
    """Local checks (with -c, or when no stack is named) and AWS checks (with --stack); the report's exit code."""
    checks: list[Check] = []
    if config is not None or stack is None:
        checks += asyncio.run(local_checks(Path(config) if config else None, environ, probe=probe))
    if stack is not None:
        try:
            clients = aws_clients or AwsClients.create(region)
        except ImportError:
            checks.append(Check("stack", FAIL, "the AWS checks need boto3", "pip install 'duomfa[aws]'"))
        except Exception as exc:  # NoRegionError and friends
            fix = "give --region or set AWS_REGION" if "region" in str(exc).lower() else "see the error"
            checks.append(Check("stack", FAIL, f"no AWS client: {exc}", fix))
        else:
            checks += aws_checks(stack, clients)
    return report(checks, as_json=as_json, out=out or sys.stdout)
