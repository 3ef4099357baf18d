"""Process set-up: keep freed memory for reuse instead of giving it back to the OS.

Each optimizer step allocates and frees about 12 MB of buffers (the kernels' packed
buffers, gradients). glibc's malloc serves blocks over its mmap threshold (128 KB at first)
with fresh pages, so every step paid ~3 000 page faults: 24 % of the course LSTM's step
here (12.7 -> 9.6 ms, docs/performance.md). Raising the threshold and the trim threshold
keeps those blocks in the heap for the next step. Called by the entry points and by each
worker process; a no-op where the C library is not glibc.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Set this process's malloc thresholds; True when they were set."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
