"""The packaged static files and their cache-busting URLs; a leaf module, so any view can use it."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static"


@cache
def asset(path: str) -> str:
    """A static file's URL with a content hash, so a new release is never served a stale cached copy."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PREFIX}/{path}?v={digest}"
