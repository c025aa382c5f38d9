"""Keep freed large blocks of memory in the process, so that the next tensor of that size reuses them.

An SVI update allocates and frees the same large tensors every time: sampled weight matrices and
their noise, the KL terms, gradients, optimizer temporaries. glibc's allocator hands a freed block
above its mmap threshold (128 KiB at first, raised by itself up to 32 MiB) back to the operating
system, and trims the top of its heap above 128 KiB; the next tensor of that size then gets fresh
pages, and writing them costs a page fault per 4 KiB. On a 2-core Linux virtual machine that
made a word-PTB W+G+N update on the CPU about twice as slow
(``python -m benchmarks.run allocator``).

:func:`keep_freed_memory` raises both thresholds to 1 GiB with ``mallopt``: blocks up to that size
come from the heap and stay there after they are freed, at the price of a process that does not
shrink between updates (its peak memory stays reserved). The ``probgates`` command calls it at
start; set ``PROBGATES_MALLOC=system`` to keep the C library's defaults. Where the C library is
not glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: ``mallopt`` parameters of glibc's ``<malloc.h>``.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: The block size up to which freed memory stays in the process.
KEEP_BELOW = 1 << 30
#: Environment variable: ``system`` leaves the C library's allocator settings alone.
ENV_VAR = "PROBGATES_MALLOC"


def _glibc():
    if os.name != "posix":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None  # only glibc has it


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB; True if they were set.

    Returns False without changing anything when ``PROBGATES_MALLOC=system`` is set or the C
    library is not glibc.
    """
    if os.environ.get(ENV_VAR, "").strip().lower() == "system":
        return False
    libc = _glibc()
    if libc is None:
        return False
    mmap_set = libc.mallopt(M_MMAP_THRESHOLD, KEEP_BELOW)
    trim_set = libc.mallopt(M_TRIM_THRESHOLD, KEEP_BELOW)
    return bool(mmap_set and trim_set)
