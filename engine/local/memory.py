"""How the embedded model uses the process's memory: large blocks given back when freed, and
whether the model file is mapped (mmap) or read into private memory.

glibc's malloc serves a large block (128 KB or more) by a mapping of its own and unmaps it
when freed, but the first such block freed raises that threshold to its size (up to 32 MB):
from then on the kept prompt states (~12 KB a token, 10-20 MB each) and the logits copied
per request come from the heap, and freed, they stay in the process as free heap that is
rarely given back. In the typing storm (bench/storm.py, probed per block) the server's
RSS grew 36 MB over ten blocks: 11 MB were kept states in use, 24 MB free heap (glibc's
mallinfo2: 118 -> 141 MB free). A fixed threshold keeps every large block on its own
mapping, returned to the system when freed: the storm's RSS net of the kept states then
grew 2.1 MB (50.6 MB before; both runs 1,203 requests, load ~2).
"""

from __future__ import annotations

import ctypes
import logging

from engine.settings import MMAP_CHOICES

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK = 256 * 1024  # blocks this large or larger are mapped on their own


def return_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Have malloc map every block of `threshold` bytes or more on its own (fixed, not
    raised by the blocks freed), so freeing one gives its memory back; False where the
    C library has no such setting (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


def decide_mmap(choice: str, preset: str) -> bool:
    """Map the model file? "on"/"off" as said; "auto": on for Cove's own presets (kept
    read-only and replaced only by rename, so the mapped file never changes under the
    server), off for a user's file, which may be rewritten in place: a mapped file cut
    short kills the process (SIGBUS) at the next read of a page that is gone. Measured on
    the 0.5B (bench/mmap.py, 2 loads each way): reading costs ~0.6 s of load and ~0.4 s on
    the cold suggestion, at the same RSS and PSS for one server; mapping's gain is pages
    shared by every server that maps the same file.
    """
    if choice == "on":
        return True
    if choice == "off":
        return False
    if choice != "auto":
        log.warning("model.mmap %r is not one of %s; using auto", choice, ", ".join(MMAP_CHOICES))
    return bool(preset)
