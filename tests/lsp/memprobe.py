"""`python -X tracemalloc=8 -m tests.lsp.memprobe DIR serve ...`: `cove serve` that writes a
memory probe into DIR each time it gets SIGUSR1 (the typing storm sends one per block).

Each probe is `probe-N.pickle`: a tracemalloc snapshot (what Python holds, numpy arrays
included: numpy reports its buffers to tracemalloc), glibc's `mallinfo2` (heap in use,
free but kept, mmapped) and /proc/self/smaps_rollup and status lines. Comparing two probes
says where RSS went: Python objects, memory malloc keeps but nobody uses (fragmentation),
llama.cpp's own allocations (anonymous, not Python), or pages of the mapped model file.
A test-side tool: nothing of it is in the server.
"""

from __future__ import annotations

import ctypes
import pickle
import signal
import sys
import tracemalloc
from pathlib import Path


class MallInfo2(ctypes.Structure):
    """The struct mallinfo2 of glibc (all size_t)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",  # non-mmapped space allocated from the system (brk heap + arenas)
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",  # space in mmapped regions
            "usmblks",
            "fsmblks",
            "uordblks",  # total allocated (in use) space
            "fordblks",  # total free space kept by malloc
            "keepcost",
        )
    ]


def mallinfo() -> dict[str, int]:
    """The heap figures of glibc in bytes (empty where glibc lacks mallinfo2)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {name: int(getattr(info, name)) for name, _ in MallInfo2._fields_}


def proc_kb(name: str) -> dict[str, int]:
    """The kB lines of /proc/self/<name> (status, smaps_rollup)."""
    found = {}
    try:
        text = Path(f"/proc/self/{name}").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            found[key.strip()] = int(value.split()[0])
    return found


def install(folder: Path) -> None:
    """Write a probe into `folder` on every SIGUSR1."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0

    def probe(_signum, _frame) -> None:
        nonlocal count
        count += 1
        snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        record = {
            "snapshot": snapshot,
            "traced": tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else None,
            "mallinfo": mallinfo(),
            "rollup": proc_kb("smaps_rollup"),
            "status": proc_kb("status"),
        }
        path = folder / f"probe-{count}.pickle"
        partial = path.with_suffix(".part")
        partial.write_bytes(pickle.dumps(record))
        partial.rename(path)  # whole, or not there: the storm waits for the name

    signal.signal(signal.SIGUSR1, probe)


def compare(first: Path, last: Path, top: int = 15) -> str:
    """What grew between two probes: /proc figures, malloc's heap, Python's top lines."""
    a, b = (pickle.loads(path.read_bytes()) for path in (first, last))
    lines = []
    for source in ("status", "rollup"):
        keys = ("VmRSS", "RssAnon", "RssFile", "Rss", "Pss", "Pss_Anon", "Pss_File", "Anonymous")
        for key in keys:
            if key in a[source] and key in b[source]:
                grown = (b[source][key] - a[source][key]) / 1024
                lines.append(
                    f"{source}.{key}: {a[source][key] / 1024:.1f} -> "
                    f"{b[source][key] / 1024:.1f} MB ({grown:+.1f})"
                )
    for key in ("arena", "uordblks", "fordblks", "hblkhd", "keepcost"):
        if key in a["mallinfo"]:
            before, after = a["mallinfo"][key] / 2**20, b["mallinfo"][key] / 2**20
            lines.append(f"mallinfo.{key}: {before:.1f} -> {after:.1f} MB ({after - before:+.1f})")
    if a["snapshot"] is not None and b["snapshot"] is not None:
        traced = [t[0] / 2**20 for t in (a["traced"], b["traced"])]
        lines.append(f"traced by Python: {traced[0]:.1f} -> {traced[1]:.1f} MB")
        for stat in b["snapshot"].compare_to(a["snapshot"], "lineno")[:top]:
            lines.append(
                f"  {stat.size_diff / 1024:+9.1f} kB {stat.count_diff:+7d}  "
                f"{stat.traceback.format()[0].strip()}"
            )
    return "\n".join(lines)


def main() -> int:
    """Install the probe, then run the `cove` command line on the remaining arguments
    (`--compare FIRST LAST`: print what grew between two probes instead).
    """
    if sys.argv[1] == "--compare":
        print(compare(Path(sys.argv[2]), Path(sys.argv[3])))
        return 0
    install(Path(sys.argv[1]))
    from lsp.cli import main as cove

    return cove(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
