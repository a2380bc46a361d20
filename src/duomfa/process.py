"""Process-wide settings for the long-running servers (proxy, MFA service): many pending pushes mean many open
connections and many long-lived objects."""

from __future__ import annotations

import contextlib
import gc

GC_YOUNG_THRESHOLD = 20_000  # CPython's default is 700


def tune_garbage_collector() -> None:
    """Thousands of pending pushes are thousands of long-lived objects, and CPython's collector walks them often;
    its pauses land on other users' logins. Everything loaded at start is frozen out of collection, and the young
    generation is collected less often (each collection of it stays short)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)


def raise_open_file_limit() -> None:
    """Each pending push holds a connection to Duo; the usual soft limit of 1,024 descriptors is too few."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
