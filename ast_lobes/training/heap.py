"""Freed memory kept in the training process for the next step.

A training step on a CPU allocates and frees the same large tensors
(activations, gradients, fbank batches) every time. With glibc's
defaults, the heap is trimmed whenever its free top grows past a
threshold that follows the largest freed block, and blocks above a
moving threshold are mapped and unmapped one by one: each step then asks
the system for the same memory again, page by page (minor page faults,
the system zeroing every page). Fixing the two thresholds keeps the
freed memory in the process for the next step: the same computation,
fewer page faults; on the AudioFolder CPU preset 12 to 18 % less CPU
time (``benchmarks/audiofolder/LOG.md``, 15). The process's resident
memory then stays near its peak until it ends.

Authors
 * AST-SpeechBrain contributors 2026
"""

import ctypes
import logging
import os
import platform

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
# glibc's own settings of the same thresholds: a user's choice, kept
ENVIRONMENT_KEYS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
# glibc refuses a mapping threshold above half its largest heap (32 MiB)
MMAP_THRESHOLD_MIB = 32
TRIM_THRESHOLD_MIB = 1024

_applied = None


def keep_freed_memory(trim_threshold_mib=TRIM_THRESHOLD_MIB,
                      mmap_threshold_mib=MMAP_THRESHOLD_MIB):  # fmt: skip
    """Keeps up to ``trim_threshold_mib`` of freed memory in this process
    (glibc's ``M_TRIM_THRESHOLD``) and serves blocks up to
    ``mmap_threshold_mib`` from the heap (``M_MMAP_THRESHOLD``), once per
    process; nothing is changed where the C library is not glibc or the
    environment sets either threshold itself (``MALLOC_TRIM_THRESHOLD_``,
    ``MALLOC_MMAP_THRESHOLD_``, or ``glibc.malloc`` in
    ``GLIBC_TUNABLES``).

    Arguments
    ---------
    trim_threshold_mib : int
        Free memory at the heap's top kept before any is returned.
    mmap_threshold_mib : int
        Blocks of at least this size are mapped apart (at most 32).

    Returns
    -------
    str
        What was done, one line for the log (the same line on later
        calls).

    Example
    -------
    >>> line = keep_freed_memory()
    >>> line.startswith("freed memory")
    True
    """
    global _applied
    if _applied is None:
        _applied = apply_thresholds(trim_threshold_mib, mmap_threshold_mib)
    return _applied


def apply_thresholds(trim_threshold_mib, mmap_threshold_mib):
    """``keep_freed_memory``'s work, each call: the log line."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    set_by_user = [key for key in ENVIRONMENT_KEYS if key in os.environ]
    if "glibc.malloc" in tunables:
        set_by_user.append("GLIBC_TUNABLES")
    if set_by_user:
        return (
            "freed memory: glibc's thresholds as the environment sets them "
            f"({', '.join(set_by_user)})"
        )
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "freed memory: the C library's own policy (not glibc)"
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return "freed memory: the C library's own policy (no mallopt)"
    mmap_ok = mallopt(M_MMAP_THRESHOLD, int(mmap_threshold_mib * MIB))
    trim_ok = mallopt(M_TRIM_THRESHOLD, int(trim_threshold_mib * MIB))
    if not (mmap_ok and trim_ok):
        return "freed memory: glibc refused the thresholds; its own policy"
    return (
        f"freed memory kept for the next steps: up to {trim_threshold_mib} "
        f"MiB, blocks under {mmap_threshold_mib} MiB from the heap (glibc)"
    )
