"""The model cache on the local file system: one directory per fitted engine under ``<data_dir>/models``.

A model directory holds the engine as written by ``mapped.save``: its large arrays as ``.npy`` files that every
worker maps read-only (one copy in the page cache, however many workers), the rest as a small pickle. It is
built in a temporary directory, synced and renamed into place, so a reader never sees a partial model, and a
reader already mapping a model that gets replaced or pruned keeps its files until it lets go (POSIX keeps
unlinked files alive while mapped). ``current.json`` names the published model; ``published()`` only
``stat``s it unless it changed, so it can be asked on every request.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from oppscope.analysis.engine import Engine
from oppscope.config import Settings
from oppscope.durable import fsync_path
from oppscope.engines import mapped
from oppscope.engines.interfaces import ModelCache, Published

log = structlog.get_logger(__name__)

POINTER = "current.json"
LOCKS = "locks"
_MODEL_DIR = re.compile(r"^[0-9a-f]{16}$")
_LEGACY = re.compile(r"^engine-[0-9a-f]{16}\.pkl$")  # the single-pickle cache of earlier versions


class FileModelCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._seen: tuple[int, int, int] | None = None
        self._published: Published | None = None

    def _dir(self, model_id: str) -> Path:
        if not _MODEL_DIR.match(model_id):
            raise ValueError(f"not a model id: {model_id!r}")
        return self.root / model_id

    def contains(self, model_id: str) -> bool:
        return (self._dir(model_id) / mapped.PICKLE_NAME).is_file()

    def load(self, model_id: str) -> Engine | None:
        path = self._dir(model_id)
        if not path.is_dir():
            return None
        try:
            engine = mapped.load(path)
        except Exception as exc:  # a cache is only ever a shortcut: anything wrong with it means refit
            log.warning("ignoring unreadable model", model_id=model_id, error=f"{type(exc).__name__}: {exc}"[:300])
            return None
        if not isinstance(engine, Engine) or engine.model_id != model_id:
            log.warning("ignoring a model saved under another id", model_id=model_id)
            return None
        return engine

    def save(self, engine: Engine) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._dir(engine.model_id)
        tmp = self.root / f".tmp-{engine.model_id}-{uuid.uuid4().hex}"
        try:
            mapped.save(engine, tmp)
            for path in [*mapped.files_of(tmp), tmp / mapped.ARRAYS_DIR, tmp]:
                fsync_path(path)
            if target.exists():  # a damaged copy (``load`` refused it): set it aside, readers keep their maps
                aside = self.root / f".old-{engine.model_id}-{uuid.uuid4().hex}"
                target.rename(aside)
                shutil.rmtree(aside, ignore_errors=True)
            tmp.rename(target)
            fsync_path(self.root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextmanager
    def fitting(self, model_id: str) -> Iterator[None]:
        # Lock files are never removed: unlinking one while another process waits on it would admit two fitters.
        locks = self.root / LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{self._dir(model_id).name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def publish(self, published: Published) -> None:
        if not self.contains(published.model_id):
            raise ValueError(f"model {published.model_id} is not saved")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{POINTER}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps({"model_id": published.model_id, "snapshot_id": published.snapshot_id}))
        fsync_path(tmp)
        tmp.replace(self.root / POINTER)
        fsync_path(self.root)

    def published(self) -> Published | None:
        try:
            st = (self.root / POINTER).stat()
        except FileNotFoundError:
            self._seen = self._published = None
            return None
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)  # a publish renames a new file in: a new inode
        if seen != self._seen:
            try:
                data = json.loads((self.root / POINTER).read_text())
                self._published = Published(str(data["model_id"]), str(data["snapshot_id"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable model pointer", error=type(exc).__name__)
                self._published = None
            self._seen = seen
        return self._published

    def prune(self, keep: Collection[str]) -> list[str]:
        removed = []
        for entry in self.root.iterdir() if self.root.is_dir() else ():
            if _MODEL_DIR.match(entry.name) and entry.is_dir() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
            elif _LEGACY.match(entry.name):
                entry.unlink(missing_ok=True)
        return removed



# Backends by the name a setting would choose; the contract suite runs every one.
MODEL_CACHES: dict[str, Callable[[Settings], ModelCache]] = {
    "files": lambda settings: FileModelCache(settings.model_cache_dir),
}


def open_model_cache(settings: Settings) -> ModelCache:
    """The cache ``model_cache_backend`` names (what the wiring builds; also for the CLI and the fit process)."""
    return MODEL_CACHES[settings.model_cache_backend](settings)
