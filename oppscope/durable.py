"""Writes that survive a crash: fsync of a path, and "write a temp file, fsync, rename" itself.

A rename is only durable once the directory holding it is synced too, and ``os.fsync`` needs a descriptor, so
files and directories are opened the same way. One helper, below every domain, so the history, the model cache,
the configuration and the backups cannot drift apart on how they make a write survive a crash.
"""

from __future__ import annotations

import os
import tempfile
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


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that a reader or a crash sees the old content or the new, never a mix.

    The temporary file is ``.<name>.<random>.tmp`` beside it (a leftover of a crash is recognisable by that
    shape), private (0600) unless ``mode`` says otherwise; the directory is synced after the rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
