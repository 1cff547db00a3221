"""What any backend that keeps analyses must do (SQL today, DynamoDB later), and the records it returns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from pydantic import BaseModel

from oppscope.analysis.contracts import Analysis
from oppscope.errors import ErrorKind, OppscopeError


@dataclass(frozen=True)
class SavedAnalysis:
    """A stored analysis. ``document`` is its JSON text as stored, so the API can answer with it unparsed."""

    id: str
    created_at: str  # ISO 8601 UTC
    created_by: str
    rerun_of: str | None
    document: str  # the Analysis JSON, input and provenance included

    @property
    def identity(self) -> dict[str, str | None]:
        """The fields every rendering puts before the analysis itself."""
        return {"id": self.id, "created_at": self.created_at, "rerun_of": self.rerun_of}

    @cached_property
    def analysis(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.document)
        return parsed


class AnalysisSummary(BaseModel):
    """One line of the history list: enough to find an analysis without loading its JSON.

    A pydantic model, not a dataclass like its neighbours, because the API publishes it as is (plus links).
    """

    id: str
    created_at: str
    customer_name: str
    opportunity_name: str
    region: str
    close_date: str
    arr_usd: float
    mrr_usd: float
    confidence: str
    rerun_of: str | None


@dataclass(frozen=True)
class AnalysisQuery:
    customer: str | None = None
    text: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class AnalysisPage:
    items: list[AnalysisSummary]
    total: int


@dataclass(frozen=True)
class NewAnalysis:
    analysis: Analysis
    created_by: str
    rerun_of: str | None = None
    idempotency_key: str | None = None
    request_sha256: str | None = None


class IdempotencyConflictError(OppscopeError):
    """The key was used before for a different request: replaying it would return the wrong analysis."""

    default_kind = ErrorKind.conflict

    def __init__(self, key: str, existing_id: str) -> None:
        self.key, self.existing_id = key, existing_id
        super().__init__(
            "idempotency_key_reused",
            f"idempotency key {key!r} was already used for a different request",
            {"idempotency_key": key, "analysis_id": existing_id},
        )


class AnalysisStore(Protocol):
    def save(self, new: NewAnalysis) -> tuple[SavedAnalysis, bool]:
        """Store ``new``; returns the record and False when an earlier save with its idempotency key wins."""
        ...

    def find_by_idempotency_key(self, created_by: str, key: str) -> tuple[SavedAnalysis, str | None] | None:
        """The analysis saved under this caller's key and the request hash it was saved with."""
        ...

    def get(self, analysis_id: str) -> SavedAnalysis | None: ...

    def list(self, query: AnalysisQuery) -> AnalysisPage: ...

    def ping(self) -> None:
        """Raise if the backend cannot answer (for readiness checks)."""
        ...
