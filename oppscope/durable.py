"""fsync of a path, file or directory: what every "write a temp file, fsync, rename" in oppscope relies on.

A rename is only durable once the directory holding it is synced too, and ``os.fsync`` needs a descriptor, so
files and directories are opened the same way. One helper, below every domain, so the history, the model cache,
the configuration and the backups cannot drift apart on how they make a write survive a crash.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync of a file or a directory (a directory's entries: what a rename changed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Every file and directory under ``root`` (``root`` included) on disk before the rename that publishes it."""
    for path in [*sorted(root.rglob("*")), root]:
        fsync_path(path)
