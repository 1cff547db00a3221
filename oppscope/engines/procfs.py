"""What Linux's /proc says about the processes that share a model: their memory and the model files they map.

Per-worker memory is what sharing a model is for, and RSS alone cannot show it (it counts shared pages in full
in every process): PSS divides shared pages among the processes that map them, USS counts only pages no other
process maps, and the anonymous memory is the heap, which mapping cannot share.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def memory_mb(pid: int) -> dict[str, int]:
    """RSS, PSS, USS and anonymous memory of ``pid`` in MB, from ``smaps_rollup``."""
    kb: dict[str, int] = {}
    for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        kb[name] = int(value.split()[0])
    mb = {
        "rss_mb": kb["Rss"],
        "pss_mb": kb["Pss"],
        "uss_mb": kb["Private_Clean"] + kb["Private_Dirty"],
        "anon_mb": kb["Anonymous"],
    }
    return {name: round(value / 1024) for name, value in mb.items()}


def peak_rss_mb(pid: int) -> int:
    """The process's highest RSS since it started its program (``VmHWM``), in MB.

    Not ``ru_maxrss`` from ``wait4``: Linux carries the parent's high-water mark over to a child it forks, so a
    child started by a large process reports that process's peak (a benchmark holding a million generated rows
    made a fit look like 9.5 GB).
    """
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    raise ValueError(f"no VmHWM for process {pid}")


def children(parent: int) -> list[int]:
    """The direct child processes of ``parent`` (for a server: its workers), multiprocessing's helpers left out."""
    found = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        if ppid == parent and b"resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return sorted(found)


def mapped_models(pid: int, cache_root: Path) -> set[str]:
    """The model directories under ``cache_root`` with files that ``pid`` has memory-mapped."""
    root = f"{cache_root.resolve()}/"
    lines = (PROC / str(pid) / "maps").read_text().splitlines()
    return {line.split(root, 1)[1].split("/", 1)[0] for line in lines if root in line}
