"""Keeping freed buffers in the process while a volume is converted (glibc only; elsewhere a no-op).

Every encoded chunk is a new bytes object of tens of MB. glibc hands blocks that large straight back to
the kernel when they are freed, so the next chunk touches fresh pages again, and first-touch page
faults cost more than the compression itself on virtual machines that return freed memory to their host.
Raising the mmap and trim thresholds for the duration of a conversion lets the next chunk reuse the pages
of the previous one; peak memory does not change (the same number of chunks is alive at any time).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 512 * 1024 * 1024
GLIBC_DEFAULT = 128 * 1024


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt  # noqa: B018 - musl and others lack it
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def reuse_freed_memory() -> Iterator[None]:
    """Within the block, large freed blocks stay in the heap for reuse; on exit they are released."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)
    libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT)
        libc.mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT)
        libc.malloc_trim(0)
