"""Saved analyses in a SQL database through SQLAlchemy Core (SQLite by default).

A save is one INSERT in its own transaction; with SQLite in WAL mode and ``synchronous=FULL`` the row is on
disk before the caller hears 201. Idempotency rides on a unique index, not on a read-then-write: two
concurrent retries race to insert, one wins, and the loser returns the winner's row.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, Row, and_, func, select, true
from sqlalchemy.exc import IntegrityError

from oppscope.analyses.store import (
    AnalysisPage,
    AnalysisQuery,
    AnalysisSummary,
    IdempotencyConflictError,
    NewAnalysis,
    SavedAnalysis,
)
from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import normalize
from oppscope.state.db import iso_utc, utc_now
from oppscope.state.tables import analyses

_FULL = (analyses.c.id, analyses.c.created_at, analyses.c.created_by, analyses.c.rerun_of, analyses.c.document)
_SUMMARY = (
    analyses.c.id,
    analyses.c.created_at,
    analyses.c.customer_name,
    analyses.c.opportunity_name,
    analyses.c.region,
    analyses.c.close_date,
    analyses.c.arr_usd,
    analyses.c.mrr_usd,
    analyses.c.confidence,
    analyses.c.rerun_of,
)


class SqlAnalysisStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, new: NewAnalysis) -> tuple[SavedAnalysis, bool]:
        analysis = new.analysis
        opportunity, predictions = analysis.input, analysis.predictions
        document = analysis.model_dump_json()
        analysis_id, created_at = str(uuid.uuid4()), utc_now()
        row = {
            "id": analysis_id,
            "created_at": created_at,
            "customer_name": opportunity.customer_name,
            "customer_key": normalize(opportunity.customer_name),
            "opportunity_name": opportunity.opportunity_name,
            "region": opportunity.region,
            "close_date": opportunity.close_date.isoformat(),
            "search_text": _search_text(opportunity),
            "arr_usd": predictions.arr.value,
            "mrr_usd": predictions.mrr.value,
            "confidence": analysis.confidence.level,
            "document": document,
            "rerun_of": new.rerun_of,
            "created_by": new.created_by,
            "idempotency_key": new.idempotency_key,
            "request_sha256": new.request_sha256,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(analyses.insert(), row)
        except IntegrityError:
            if new.idempotency_key is None:
                raise
            earlier = self.find_by_idempotency_key(new.created_by, new.idempotency_key)
            if earlier is None:  # the constraint that failed was not ours to explain
                raise
            saved, digest = earlier
            if digest != new.request_sha256:
                raise IdempotencyConflictError(new.idempotency_key, saved.id) from None
            return saved, False
        return SavedAnalysis(analysis_id, created_at, new.created_by, new.rerun_of, document), True

    def find_by_idempotency_key(self, created_by: str, key: str) -> tuple[SavedAnalysis, str | None] | None:
        query = select(*_FULL, analyses.c.request_sha256).where(
            and_(analyses.c.created_by == created_by, analyses.c.idempotency_key == key)
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (_saved(row), row.request_sha256)

    def get(self, analysis_id: str) -> SavedAnalysis | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(*_FULL).where(analyses.c.id == analysis_id)).first()
        return None if row is None else _saved(row)

    def list(self, query: AnalysisQuery) -> AnalysisPage:
        conditions: list[Any] = []
        if query.customer:
            conditions.append(analyses.c.customer_key == normalize(query.customer))
        if query.text:
            for word in query.text.lower().split():
                conditions.append(analyses.c.search_text.contains(word, autoescape=True))
        if query.created_from:
            conditions.append(analyses.c.created_at >= iso_utc(query.created_from))
        if query.created_to:
            conditions.append(analyses.c.created_at < iso_utc(query.created_to))
        where = and_(true(), *conditions)
        page = (
            select(*_SUMMARY)
            .where(where)
            .order_by(analyses.c.created_at.desc(), analyses.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        with self._engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(analyses).where(where)).scalar_one()
            rows = connection.execute(page).all()
        return AnalysisPage(items=[AnalysisSummary.model_validate(row._asdict()) for row in rows], total=int(total))

    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(select(func.count()).select_from(analyses).limit(1))


def _saved(row: Row[*tuple[Any, ...]]) -> SavedAnalysis:
    return SavedAnalysis(row.id, row.created_at, row.created_by, row.rerun_of, row.document)


def _search_text(opportunity: Opportunity) -> str:
    fields = (
        opportunity.customer_name,
        opportunity.opportunity_name,
        opportunity.description,
        opportunity.industry,
        opportunity.partner_name,
        opportunity.region,
    )
    return " ".join(f or "" for f in fields).lower()

