"""The model cache's contract: what the loading code and the serving processes need from any backend."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection

    from oppscope.analysis.engine import Engine


@dataclass(frozen=True)
class Published:
    """The model every serving process answers with, and the history snapshot it was fitted on."""

    model_id: str
    snapshot_id: str


class ModelCache(Protocol):
    """Fitted engines by model id, shared by every process on the data directory.

    One process fits a model (``fitting``) and saves it; the server publishes it; every worker sees the change
    from ``published`` (cheap enough to ask on each request) and loads it.
    """

    def contains(self, model_id: str) -> bool:
        """Whether a complete saved engine is there (it may still turn out unreadable on ``load``)."""
        ...

    def load(self, model_id: str) -> Engine | None:
        """The saved engine, its large arrays shared with the other processes; None if absent or unreadable."""
        ...

    def save(self, engine: Engine) -> None:
        """Store atomically under ``engine.model_id``: a reader finds the whole engine or none, never a part."""
        ...

    def fitting(self, model_id: str) -> AbstractContextManager[None]:
        """Held while one process fits ``model_id``; the others wait here, then find it saved."""
        ...

    def publish(self, published: Published) -> None:
        """Name the model every serving process must switch to (a saved one)."""
        ...

    def published(self) -> Published | None:
        """The model last published, if any."""
        ...

    def prune(self, keep: Collection[str]) -> list[str]:
        """Remove every saved model not in ``keep``; returns the removed ids."""
        ...
