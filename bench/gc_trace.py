"""Run a `duomfa` command with a hook that logs the interpreter's garbage collections, one JSON line each, for the
benchmarks to line up with latency (bench/run.py --gc-trace). A collection stops the event loop while it runs.

    .venv/bin/python bench/gc_trace.py --log /tmp/gc.jsonl --min-ms 1 proxy -c proxy.cfg
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", required=True, help="file for the JSON lines")
    parser.add_argument("--min-ms", type=float, default=1.0, help="log collections at least this long (default 1)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the duomfa command and its arguments")
    args = parser.parse_args()
    out = open(args.log, "w", buffering=1)  # noqa: SIM115 (open for the life of the process)
    started = [0.0]

    def hook(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        milliseconds = (time.perf_counter() - started[0]) * 1000
        if milliseconds >= args.min_ms:
            out.write(json.dumps({"time": round(time.time(), 3), "generation": info["generation"],
                                  "ms": round(milliseconds, 1), "collected": info["collected"]}) + "\n")

    gc.callbacks.append(hook)
    from duomfa.cli import main as duomfa

    return duomfa(args.command)


if __name__ == "__main__":
    sys.exit(main())
