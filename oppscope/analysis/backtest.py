"""Backtest: train on the past, predict the latest projects, and compare with simple baselines.

The split is by close date, as in real use. The engine under test is fitted on the older part only (and
calibrates itself inside that part), then every held-out project is restated as the opportunity a seller
would have typed and analyzed through the public ``Engine.analyze`` path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from oppscope.analysis.dataset import OTHER_SERVICES, History, normalize
from oppscope.analysis.engine import Engine, EngineConfig
from oppscope.analysis.original_sql import relevance_sql_duckdb
from oppscope.analysis.resolve import history_row_as_opportunity
from oppscope.history.store import HistoryError

MAX_QUERIES = 1500
MIN_TEST_FRACTION, MAX_TEST_FRACTION = 0.05, 0.5
MIN_TRAIN_ROWS, MIN_TEST_ROWS = 50, 10
MAX_SQL_QUERIES = 400


class MethodScore(BaseModel):
    method: str
    arr_mdape: float
    mrr_mdape: float | None = None
    ttl_mae_months: float | None = None
    arr_interval_coverage: float | None = None
    ttl_interval_coverage: float | None = None
    top_services_precision: float | None = None
    queries: int


class LevelScore(BaseModel):
    level: str
    count: int
    arr_mdape: float | None
    ttl_mae_months: float | None


class BacktestReport(BaseModel):
    train_rows: int
    test_rows: int
    evaluated: int
    split_close_date: str
    interval_level: float
    methods: list[MethodScore]
    by_confidence: list[LevelScore]
    best_achievable: MethodScore | None

    def render_text(self) -> str:
        lines = [
            f"Backtest: trained on {self.train_rows} projects closed before {self.split_close_date}, "
            f"tested on {self.evaluated} of the {self.test_rows} later ones.",
            "",
            f"{'method':<34}{'ARR MdAPE':>10}{'MRR MdAPE':>10}{'TTL MAE':>9}{'ARR cov':>9}{'TTL cov':>9}"
            f"{'svc prec':>9}{'n':>6}",
        ]
        rows = [*self.methods, *([self.best_achievable] if self.best_achievable else [])]
        for m in rows:
            lines.append(
                f"{m.method:<34}{_pct(m.arr_mdape):>10}{_pct(m.mrr_mdape):>10}{_num(m.ttl_mae_months):>9}"
                f"{_pct(m.arr_interval_coverage):>9}{_pct(m.ttl_interval_coverage):>9}"
                f"{_pct(m.top_services_precision):>9}{m.queries:>6}"
            )
        lines += ["", f"{'confidence':<12}{'n':>6}{'ARR MdAPE':>11}{'TTL MAE':>9}"]
        for lv in self.by_confidence:
            lines.append(f"{lv.level:<12}{lv.count:>6}{_pct(lv.arr_mdape):>11}{_num(lv.ttl_mae_months):>9}")
        lines.append(f"(intervals at {self.interval_level:.0%}; TTL = time to launch in months)")
        return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.1%}"


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

    keys = ("arr", "arr_lo", "arr_hi", "mrr", "ttl", "ttl_lo", "ttl_hi", "prec")
    pred: dict[str, list[float]] = {k: [] for k in keys}
    levels: list[str] = []
    for i in rows:
        a = engine.analyze(history_row_as_opportunity(test, int(i)))
        p = a.predictions
        pred["arr"].append(p.arr.value)
        pred["arr_lo"].append(p.arr.low)
        pred["arr_hi"].append(p.arr.high)
        pred["mrr"].append(p.mrr.value)
        ttl = p.time_to_launch_months
        pred["ttl"].append(ttl.value if ttl else math.nan)
        pred["ttl_lo"].append(ttl.low if ttl else math.nan)
        pred["ttl_hi"].append(ttl.high if ttl else math.nan)
        names = {normalize(s.name) for s in a.top_services if s.name != OTHER_SERVICES}
        actual = {normalize(s) for s in test.services_of(int(i))}
        pred["prec"].append(len(names & actual) / len(names) if names else math.nan)
        levels.append(a.confidence.level)
    v = {k: np.array(x) for k, x in pred.items()}
    actual_arr, actual_mrr, actual_ttl = test.arr[rows], test.mrr[rows], test.ttl_months[rows]

    methods = [
        MethodScore(
            method="oppscope",
            arr_mdape=mdape(v["arr"], actual_arr),
            mrr_mdape=mdape(v["mrr"], actual_mrr),
            ttl_mae_months=mae(v["ttl"], actual_ttl),
            arr_interval_coverage=coverage(v["arr_lo"], v["arr_hi"], actual_arr),
            ttl_interval_coverage=coverage(v["ttl_lo"], v["ttl_hi"], actual_ttl),
            top_services_precision=float(np.nanmean(v["prec"])),
            queries=len(rows),
        ),
        *_baselines(train, test, rows),
    ]
    if sql is not None:
        methods.append(_original_method(test, rows[:: max(1, len(rows) // MAX_SQL_QUERIES)], int(test.close_ts[0]),
                                        sql))
    lv = np.array(levels)
    by_level = [
        LevelScore(
            level=name,
            count=int((lv == name).sum()),
            arr_mdape=mdape(v["arr"][lv == name], actual_arr[lv == name]) if (lv == name).any() else None,
            ttl_mae_months=mae(v["ttl"][lv == name], actual_ttl[lv == name]) if (lv == name).any() else None,
        )
        for name in ("HIGH", "MEDIUM", "LOW")
    ]
    best = None
    if truth is not None:
        ids = [str(x) for x in test.opportunity_id[rows]]
        if all(i in truth.log_arr for i in ids):
            best = MethodScore(
                method="best achievable (generator truth)",
                arr_mdape=mdape(np.exp([truth.log_arr[i] for i in ids]), actual_arr),
                ttl_mae_months=mae(np.array([truth.ttl[i] for i in ids]), actual_ttl),
                queries=len(rows),
            )
    return BacktestReport(
        train_rows=train.n,
        test_rows=test.n,
        evaluated=len(rows),
        split_close_date=str(np.datetime64(int(test.close_ts[0]), "s").astype("datetime64[D]")),
        interval_level=config.interval_level,
        methods=methods,
        by_confidence=by_level,
        best_achievable=best,
    )


def _baselines(train: History, test: History, rows: np.ndarray) -> list[MethodScore]:
    ok = train.arr > 0
    global_arr = float(np.median(train.arr[ok]))
    global_mrr = float(np.median(train.mrr[ok]))
    global_ttl = float(np.nanmedian(train.ttl_months))
    seg_train = np.array([normalize(s) for s in train.categorical["segment"]])
    seg_test = [normalize(test.categorical["segment"][i]) for i in rows]
    by_seg: dict[str, tuple[float, float, float]] = {}
    for s in set(seg_test):
        m = (seg_train == s) & ok
        by_seg[s] = (
            (float(np.median(train.arr[m])), float(np.median(train.mrr[m])), float(np.nanmedian(train.ttl_months[m])))
            if m.sum() >= 5
            else (global_arr, global_mrr, global_ttl)
        )
    n = len(rows)
    seg = np.array([by_seg[s] for s in seg_test]).reshape(n, 3)
    actual_arr, actual_mrr, actual_ttl = test.arr[rows], test.mrr[rows], test.ttl_months[rows]
    return [
        MethodScore(
            method="global median",
            arr_mdape=mdape(np.full(n, global_arr), actual_arr),
            mrr_mdape=mdape(np.full(n, global_mrr), actual_mrr),
            ttl_mae_months=mae(np.full(n, global_ttl), actual_ttl),
            queries=n,
        ),
        MethodScore(
            method="segment median",
            arr_mdape=mdape(seg[:, 0], actual_arr),
            mrr_mdape=mdape(seg[:, 1], actual_mrr),
            ttl_mae_months=mae(seg[:, 2], actual_ttl),
            queries=n,
        ),
    ]


def _original_method(test: History, rows: np.ndarray, cutoff: int, sql: SqlRunner) -> MethodScore:
    """The original: relevance-score SQL over the training period, top 200 rows, median ARR."""
    preds = []
    for i in rows:
        result = sql(relevance_sql_duckdb(history_row_as_opportunity(test, int(i)), close_before=cutoff))
        arrs = np.array([v for v in (_as_float(r[5]) for r in result) if v > 0])
        preds.append(float(np.median(arrs)) if len(arrs) else math.nan)
    return MethodScore(
        method="original (relevance SQL, top 200)",
        arr_mdape=mdape(np.array(preds), test.arr[rows]),
        queries=len(rows),
    )


def _as_float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan
