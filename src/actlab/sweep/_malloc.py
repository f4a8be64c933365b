"""Keep freed memory for reuse in sweep workers (glibc only; elsewhere a no-op).

Batched ensemble tensors are hundreds of KiB to a few MiB. glibc serves such blocks with mmap and
returns them to the OS on free, so every training step pays page faults for fresh pages: on this
project's 2-core machine that doubled an ensemble's run time. PyTorch's CPU performance guide
recommends a caching allocator (jemalloc/tcmalloc) for the same reason; raising glibc's mmap and
trim thresholds gets the same effect in-process: memory freed by one step is reused by the next.
The cost is that a worker keeps its peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def tune_malloc(threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap/trim thresholds once per process; True if applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # glibc caps M_MMAP_THRESHOLD at 32 MiB (HEAP_MAX/2 on 64-bit); larger blocks still use mmap.
    ok = mallopt(_M_MMAP_THRESHOLD, min(threshold, 32 << 20)) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, threshold) == 1 and ok
    _done = ok
    return ok
