"""Backtest: train on the past, predict the latest projects, and compare with simple baselines.

The split is by close date, as in real use. The engine under test is fitted on the older part only (and
calibrates itself inside that part), then every held-out project is restated as the opportunity a seller
would have typed, once per input pattern (only the required fields; the customer's profile; everything),
and analyzed through the public ``Engine.analyze`` path. Every pattern is scored against simple baselines,
the original system's retrieval and a plain scikit-learn reference fitted on the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from oppscope.analysis.contracts import Opportunity
from oppscope.analysis.dataset import History, normalize
from oppscope.analysis.engine import Engine, EngineConfig
from oppscope.analysis.original_sql import relevance_sql_duckdb
from oppscope.analysis.patterns import PATTERNS, restate
from oppscope.analysis.reference import reference_inputs, reference_predict
from oppscope.analysis.resolve import history_row_as_opportunity
from oppscope.history.schema import OTHER_SERVICES
from oppscope.history.store import HistoryError

MAX_QUERIES = 1500
MIN_TEST_FRACTION, MAX_TEST_FRACTION = 0.05, 0.5
MIN_TRAIN_ROWS, MIN_TEST_ROWS = 50, 10
MAX_SQL_QUERIES = 150  # per pattern
MIN_SEGMENT_ROWS = 5
MIN_KIND_ROWS = 30  # kinds of input with fewer held-out projects are kept in the report, not printed
KIND_FIELDS = {"segment": "customer_segment"}  # a kind told by an optional field is reported where it is stated


class MethodScore(BaseModel):
    method: str
    arr_mdape: float
    mrr_mdape: float | None = None
    ttl_mae_months: float | None = None
    duration_mae_months: float | None = None
    arr_interval_coverage: float | None = None
    ttl_interval_coverage: float | None = None
    top_services_precision: float | None = None
    queries: int


class LevelScore(BaseModel):
    level: str
    count: int
    arr_mdape: float | None
    ttl_mae_months: float | None
    arr_interval_coverage: float | None = None
    ttl_interval_coverage: float | None = None


class KindScore(BaseModel):
    """oppscope's ARR error and coverage on one kind of input: the held-out projects sharing a stated value."""

    kind: str  # "customer" (new or returning) or a field the pattern states ("segment")
    value: str
    count: int
    arr_mdape: float
    arr_interval_coverage: float


class PatternReport(BaseModel):
    """Every method's scores on the held-out projects restated in one input pattern."""

    pattern: str
    fields: list[str]  # the optional fields this pattern states
    methods: list[MethodScore]
    by_confidence: list[LevelScore]
    # An interval must cover its share for every kind of input, not only on average over all of them.
    by_kind: list[KindScore] = []

    def ratio(self, metric: str, other: MethodScore | None) -> float | None:
        """oppscope's ``metric`` as a multiple of ``other``'s (below 1: oppscope errs less)."""
        ours = getattr(self.methods[0], metric)
        theirs = getattr(other, metric) if other is not None else None
        if ours is None or theirs is None or not math.isfinite(ours) or not theirs > 0:
            return None
        return float(ours / theirs)

    @property
    def reference(self) -> MethodScore:
        return self.methods[1]


class BacktestReport(BaseModel):
    train_rows: int
    test_rows: int
    evaluated: int
    split_close_date: str
    interval_level: float
    methods: list[MethodScore]  # the fully stated pattern's (as before patterns were reported)
    by_confidence: list[LevelScore]
    best_achievable: MethodScore | None
    patterns: list[PatternReport] = []
    usual_fields: list[str] = []  # optional fields the training history states for most projects
    pattern_counts: dict[str, int] | None = None  # saved analyses' inputs per pattern, when there are any

    def render_text(self) -> str:
        lines = [
            f"Backtest: trained on {self.train_rows} projects closed before {self.split_close_date}, "
            f"tested on {self.evaluated} of the {self.test_rows} later ones, each restated in every input pattern.",
        ]
        for report in self.patterns:
            stated = ", ".join(report.fields) if report.fields else "none"
            lines += [
                "",
                f"pattern '{report.pattern}' (optional fields stated: {stated})",
                f"{'method':<34}{'ARR MdAPE':>10}{'MRR MdAPE':>10}{'TTL MAE':>9}{'DUR MAE':>9}{'ARR cov':>9}"
                f"{'TTL cov':>9}{'svc prec':>9}{'n':>6}",
            ]
            rows = [*report.methods, *([self.best_achievable] if self.best_achievable else [])]
            for m in rows:
                lines.append(
                    f"{m.method:<34}{_pct(m.arr_mdape):>10}{_pct(m.mrr_mdape):>10}{_num(m.ttl_mae_months):>9}"
                    f"{_num(m.duration_mae_months):>9}{_pct(m.arr_interval_coverage):>9}"
                    f"{_pct(m.ttl_interval_coverage):>9}{_pct(m.top_services_precision):>9}{m.queries:>6}"
                )
            best = self.best_achievable
            lines.append(
                f"  oppscope / reference: ARR MdAPE {_times(report.ratio('arr_mdape', report.reference))}, "
                f"TTL MAE {_times(report.ratio('ttl_mae_months', report.reference))}; "
                f"oppscope / best achievable: ARR MdAPE {_times(report.ratio('arr_mdape', best))}, "
                f"TTL MAE {_times(report.ratio('ttl_mae_months', best))}"
            )
            lines.append(f"  {'confidence':<10}{'n':>6}{'ARR MdAPE':>11}{'TTL MAE':>9}{'ARR cov':>9}{'TTL cov':>9}")
            for lv in report.by_confidence:
                lines.append(
                    f"  {lv.level:<10}{lv.count:>6}{_pct(lv.arr_mdape):>11}{_num(lv.ttl_mae_months):>9}"
                    f"{_pct(lv.arr_interval_coverage):>9}{_pct(lv.ttl_interval_coverage):>9}"
                )
            kinds = [k for k in report.by_kind if k.count >= MIN_KIND_ROWS]
            for kind in dict.fromkeys(k.kind for k in kinds):
                parts = ", ".join(
                    f"{k.value} {_pct(k.arr_interval_coverage)} ({k.count})" for k in kinds if k.kind == kind
                )
                lines.append(f"  ARR cov by {kind}: {parts}")
        if self.pattern_counts is not None:
            total = sum(self.pattern_counts.values())
            shares = ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in self.pattern_counts.items() if total)
            lines += ["", f"saved analyses by input pattern: {shares or 'none saved'}"]
        lines.append(
            f"(intervals at {self.interval_level:.0%}; TTL = time to launch, DUR = project duration, in months; "
            "a confidence level with n = 0 is not given on that pattern: on the engine's own validation projects "
            "its ARR errors could not be told apart from the next lower level's)"
        )
        return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.1%}"


def _times(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _num(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2f}"


def mdape(pred: np.ndarray, actual: np.ndarray) -> float:
    ok = np.isfinite(pred) & np.isfinite(actual) & (actual > 0)
    return float(np.median(np.abs(pred[ok] - actual[ok]) / actual[ok])) if ok.any() else math.nan


def mae(pred: np.ndarray, actual: np.ndarray) -> float:
    ok = np.isfinite(pred) & np.isfinite(actual)
    return float(np.mean(np.abs(pred[ok] - actual[ok]))) if ok.any() else math.nan


def coverage(low: np.ndarray, high: np.ndarray, actual: np.ndarray) -> float:
    ok = np.isfinite(actual) & np.isfinite(low) & np.isfinite(high)
    return float(np.mean((low[ok] <= actual[ok]) & (actual[ok] <= high[ok]))) if ok.any() else math.nan


@dataclass(frozen=True)
class Truth:
    """Noise-free medians per opportunity id, when the history came from the sample generator."""

    log_arr: dict[str, float]
    ttl: dict[str, float]
    duration: dict[str, float]


def outcomes(history: History) -> dict[str, np.ndarray]:
    """What actually happened, per row (NaN where unknown; money only where the project had costs)."""
    money = history.arr > 0
    return {
        "arr": np.where(money, history.arr, np.nan),
        "mrr": np.where(money, history.mrr, np.nan),
        "ttl": history.ttl_months,
        "duration": history.duration_months,
    }


def score(method: str, pred: dict[str, np.ndarray], actual: dict[str, np.ndarray], **extra: float) -> MethodScore:
    """One method's point errors on the outcomes it predicts (a missing outcome is reported as '-')."""

    def err(name: str, measure: Callable[[np.ndarray, np.ndarray], float]) -> float | None:
        return measure(pred[name], actual[name]) if name in pred else None

    return MethodScore(
        method=method,
        arr_mdape=mdape(pred["arr"], actual["arr"]),
        mrr_mdape=err("mrr", mdape),
        ttl_mae_months=err("ttl", mae),
        duration_mae_months=err("duration", mae),
        queries=len(actual["arr"]),
        **extra,
    )


SqlRunner = Callable[[str], list[tuple[object, ...]]]


def backtest(
    history: History,
    config: EngineConfig,
    *,
    test_fraction: float = 0.2,
    sql: SqlRunner | None = None,
    truth: Truth | None = None,
    max_queries: int = MAX_QUERIES,
) -> BacktestReport:
    if not MIN_TEST_FRACTION <= test_fraction <= MAX_TEST_FRACTION:
        raise ValueError(f"test_fraction must be between {MIN_TEST_FRACTION} and {MAX_TEST_FRACTION}")
    cut = int(history.n * (1 - test_fraction))
    position = np.arange(history.n)
    train, test = history.subset(position < cut), history.subset(position >= cut)
    if train.n < MIN_TRAIN_ROWS or test.n < MIN_TEST_ROWS:
        raise HistoryError(
            "history_too_small",
            f"A backtest needs at least {MIN_TRAIN_ROWS} older and {MIN_TEST_ROWS} newer projects",
            {"rows": history.n, "test_fraction": test_fraction},
        )
    engine = Engine.fit(train, "backtest-train", config)
    rows = np.arange(0, test.n, max(1, test.n // max_queries))
    actual = {k: values[rows] for k, values in outcomes(test).items()}
    stated = [history_row_as_opportunity(test, int(i)) for i in rows]
    train_stated = [history_row_as_opportunity(train, i) for i in range(train.n)]
    best = None
    if truth is not None:
        ids = [str(x) for x in test.opportunity_id[rows]]
        if all(i in truth.log_arr for i in ids):
            medians = {
                "arr": np.exp([truth.log_arr[i] for i in ids]),
                "ttl": np.array([truth.ttl[i] for i in ids]),
                "duration": np.array([truth.duration[i] for i in ids]),
            }
            best = score("best achievable (generator truth)", medians, actual)
    reports = []
    kinds = _kinds(train, test, rows)
    for pattern in PATTERNS:
        queries = [restate(o, pattern) for o in stated]
        stated_kinds = {k: v for k, v in kinds.items() if k not in KIND_FIELDS or KIND_FIELDS[k] in pattern.fields}
        ours, by_level, by_kind = _engine_scores(engine, queries, test, rows, actual, stated_kinds)
        methods = [ours, _reference(train, [restate(o, pattern) for o in train_stated], queries, actual)]
        methods += _baselines(train, test, rows, actual, by_segment="customer_segment" in pattern.fields)
        if sql is not None:
            step = max(1, len(rows) // MAX_SQL_QUERIES)
            methods.append(_original_method(queries[::step], test.arr[rows][::step], int(test.close_ts[0]), sql))
        reports.append(PatternReport(pattern=pattern.name, fields=sorted(pattern.fields), methods=methods,
                                     by_confidence=by_level, by_kind=by_kind))
    full = reports[-1]
    return BacktestReport(
        train_rows=train.n,
        test_rows=test.n,
        evaluated=len(rows),
        split_close_date=str(np.datetime64(int(test.close_ts[0]), "s").astype("datetime64[D]")),
        interval_level=config.interval_level,
        methods=full.methods,
        by_confidence=full.by_confidence,
        best_achievable=best,
        patterns=reports,
        usual_fields=sorted(engine.core.usual),
    )


def _kinds(train: History, test: History, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per kind of input, each held-out project's value: whether the history knows its customer, and its segment
    (reported where the pattern states it, see KIND_FIELDS)."""
    known = set(train.keys["customer"])
    customer = ["returning" if c in known else "new" for c in np.array(test.keys["customer"])[rows]]
    segment = [v or "(none)" for v in np.array(test.keys["segment"], dtype=object)[rows]]
    return {"customer": np.array(customer), "segment": np.array(segment)}


def _engine_scores(
    engine: Engine,
    queries: list[Opportunity],
    test: History,
    rows: np.ndarray,
    actual: dict[str, np.ndarray],
    kinds: dict[str, np.ndarray],
) -> tuple[MethodScore, list[LevelScore], list[KindScore]]:
    keys = ("arr", "arr_lo", "arr_hi", "mrr", "ttl", "ttl_lo", "ttl_hi", "duration", "prec")
    pred: dict[str, list[float]] = {k: [] for k in keys}
    levels: list[str] = []
    for i, opportunity in zip(rows, queries, strict=True):
        a = engine.analyze(opportunity)
        p = a.predictions
        pred["arr"] += [p.arr.value]
        pred["arr_lo"] += [p.arr.low]
        pred["arr_hi"] += [p.arr.high]
        pred["mrr"] += [p.mrr.value]
        ttl, duration = p.time_to_launch_months, p.project_duration_months
        pred["ttl"] += [ttl.value if ttl else math.nan]
        pred["ttl_lo"] += [ttl.low if ttl else math.nan]
        pred["ttl_hi"] += [ttl.high if ttl else math.nan]
        pred["duration"] += [duration.value if duration else math.nan]
        names = {normalize(s.name) for s in a.top_services if s.name != OTHER_SERVICES}
        actual_names = {normalize(s) for s in test.services_of(int(i))}
        pred["prec"] += [len(names & actual_names) / len(names) if names else math.nan]
        levels.append(a.confidence.level)
    v = {k: np.array(x) for k, x in pred.items()}
    ours = score(
        "oppscope",
        v,
        actual,
        arr_interval_coverage=coverage(v["arr_lo"], v["arr_hi"], actual["arr"]),
        ttl_interval_coverage=coverage(v["ttl_lo"], v["ttl_hi"], actual["ttl"]),
        top_services_precision=float(np.nanmean(v["prec"])) if np.isfinite(v["prec"]).any() else math.nan,
    )
    lv = np.array(levels)
    by_level = []
    for name in ("HIGH", "MEDIUM", "LOW"):
        chosen = lv == name
        given = bool(chosen.any())
        by_level.append(LevelScore(
            level=name,
            count=int(chosen.sum()),
            arr_mdape=mdape(v["arr"][chosen], actual["arr"][chosen]) if given else None,
            ttl_mae_months=mae(v["ttl"][chosen], actual["ttl"][chosen]) if given else None,
            arr_interval_coverage=coverage(v["arr_lo"][chosen], v["arr_hi"][chosen], actual["arr"][chosen])
            if given else None,
            ttl_interval_coverage=coverage(v["ttl_lo"][chosen], v["ttl_hi"][chosen], actual["ttl"][chosen])
            if given else None,
        ))
    by_kind = [
        KindScore(
            kind=kind,
            value=str(value),
            count=int(chosen.sum()),
            arr_mdape=mdape(v["arr"][chosen], actual["arr"][chosen]),
            arr_interval_coverage=coverage(v["arr_lo"][chosen], v["arr_hi"][chosen], actual["arr"][chosen]),
        )
        for kind, values in kinds.items()
        for value in sorted(set(values.tolist()))
        if (chosen := values == value).any()
    ]
    return ours, by_level, by_kind


def _reference(
    train: History, train_queries: list[Opportunity], queries: list[Opportunity], actual: dict[str, np.ndarray]
) -> MethodScore:
    """The plain scikit-learn reference, fitted on the training rows restated in the same pattern."""
    past = outcomes(train)
    ref = reference_predict(reference_inputs(train_queries), past["arr"], past["ttl"], reference_inputs(queries))
    return score(
        "reference (TF-IDF + one-hot ridge)",
        {"arr": ref["arr"].value, "ttl": ref["ttl"].value},
        actual,
        arr_interval_coverage=coverage(ref["arr"].low, ref["arr"].high, actual["arr"]),
        ttl_interval_coverage=coverage(ref["ttl"].low, ref["ttl"].high, actual["ttl"]),
    )


def _baselines(
    train: History, test: History, rows: np.ndarray, actual: dict[str, np.ndarray], *, by_segment: bool
) -> list[MethodScore]:
    """Medians of the past, overall and (when the pattern states it) within the opportunity's segment (overall
    where a segment is thin)."""
    past = outcomes(train)
    overall = {k: _median(v) for k, v in past.items()}
    segment_of_train = np.array(train.keys["segment"])
    segment_of_test = np.array(test.keys["segment"])[rows]
    segment_medians = {k: np.full(len(rows), overall[k]) for k in past}
    for segment in set(segment_of_test):
        in_past, in_test = segment_of_train == segment, segment_of_test == segment
        for k, values in past.items():
            if np.isfinite(values[in_past]).sum() >= MIN_SEGMENT_ROWS:
                segment_medians[k][in_test] = _median(values[in_past])
    methods = [score("global median", {k: np.full(len(rows), m) for k, m in overall.items()}, actual)]
    return [*methods, score("segment median", segment_medians, actual)] if by_segment else methods


def _median(values: np.ndarray) -> float:
    known = values[np.isfinite(values)]
    return float(np.median(known)) if len(known) else math.nan


def _original_method(queries: list[Opportunity], arr: np.ndarray, cutoff: int, sql: SqlRunner) -> MethodScore:
    """The original: relevance-score SQL over the training period, top 200 rows, median ARR."""
    preds = []
    for opportunity in queries:
        result = sql(relevance_sql_duckdb(opportunity, close_before=cutoff))
        arrs = np.array([v for v in (_as_float(r[5]) for r in result) if v > 0])
        preds.append(float(np.median(arrs)) if len(arrs) else math.nan)
    return score("original (relevance SQL, top 200)", {"arr": np.array(preds)}, {"arr": arr})


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan
