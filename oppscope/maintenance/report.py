"""A checklist's report: one result per item, pass, warn, fail or skipped, each with the reason in words.

An item is a function that returns its result; one that raises is that item's failure (with the error's code and
message), never the end of the checklist, so a broken backend shows up as one failed line among the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from oppscope.errors import OppscopeError


class Status(StrEnum):
    passed = "pass"
    warn = "warn"  # works, but needs a look (e.g. 4xx only, outdated packages)
    failed = "fail"
    skipped = "skipped"  # could not be done here, and the reason says why


@dataclass(frozen=True)
class Outcome:
    """What an item's function returns."""

    status: Status
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    name: str
    title: str  # the seed's wording
    run: Callable[[], Outcome]


@dataclass(frozen=True)
class ItemResult:
    name: str
    title: str
    outcome: Outcome
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.outcome.status.value,
            "detail": self.outcome.detail,
            "duration_ms": self.duration_ms,
            "data": self.outcome.data,
        }


@dataclass(frozen=True)
class ChecklistReport:
    checklist: str
    started_at: datetime
    results: list[ItemResult]

    @property
    def ok(self) -> bool:
        return all(r.outcome.status is not Status.failed for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        counts = {status.value: sum(r.outcome.status is status for r in self.results) for status in Status}
        return {
            "checklist": self.checklist,
            "status": "pass" if self.ok else "fail",
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "counts": counts,
            "items": [r.as_dict() for r in self.results],
        }


def run_checklist(name: str, items: Sequence[Item]) -> ChecklistReport:
    started = datetime.now(UTC)
    results = []
    for item in items:
        clock = time.perf_counter()
        try:
            outcome = item.run()
        except OppscopeError as exc:
            outcome = Outcome(Status.failed, f"{exc.code}: {exc.message}", {"error": exc.body()["error"]})
        except Exception as exc:  # an item's bug or a backend's failure fails the item, not the checklist
            outcome = Outcome(Status.failed, f"{type(exc).__name__}: {exc}"[:500])
        results.append(ItemResult(item.name, item.title, outcome, round((time.perf_counter() - clock) * 1000, 1)))
    return ChecklistReport(name, started, results)
