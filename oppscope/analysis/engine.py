"""The engine: fitted once per history snapshot, then answers analyses in milliseconds.

``Engine.fit`` does all the heavy work (features, regressions, calibration on a time split, the similarity
index, the follow-on table); ``Engine.analyze`` only prepares one query, finds its analogs and formats. A
fitted engine is never modified, so any number of threads may analyze with it at once.
Pure functions over data: no I/O here (``oppscope.engines`` does the loading and caching).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from oppscope.analysis import confidence as confidence_mod
from oppscope.analysis.calibration import EngineParams, calibrate, validation_cut
from oppscope.analysis.contracts import (
    Analysis,
    Estimate,
    Opportunity,
    Predictions,
    Provenance,
    SimilarProject,
)
from oppscope.analysis.core import TARGETS, Core, Design, PreparedQuery, build_core, target_values
from oppscope.analysis.dataset import History, normalize
from oppscope.analysis.features import history_profiles
from oppscope.analysis.follow_on import FollowOnTable
from oppscope.analysis.funding import FundingRule, load_rules, recommend
from oppscope.analysis.narrative import Facts, sections
from oppscope.analysis.regression import MIN_KNOWN_ROWS, NormalEquations, RawEstimate, estimate
from oppscope.analysis.resolve import history_row_as_opportunity
from oppscope.analysis.service_costs import top_services
from oppscope.analysis.similarity import Analogs, match_reasons
from oppscope.history.schema import add_months
from oppscope.history.store import HistoryError

ENGINE_VERSION = "1.0.0"


@cache
def code_fingerprint() -> str:
    """Hash of the engine's code and rule data: a fitted engine is only reused by the code that fitted it."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("*.py"), *root.parent.joinpath("data").glob("*.toml")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
SHOWN_ANALOGS = 15


def model_id(snapshot_id: str, config: EngineConfig) -> str:
    """Names a fitted engine: same code, same history snapshot, same settings, same numbers."""
    key = json.dumps([ENGINE_VERSION, code_fingerprint(), snapshot_id, asdict(config)], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EngineConfig:
    interval_level: float = 0.8
    analog_count: int = 25
    top_services: int = 5


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float | None:
    ok = np.isfinite(values)
    if not ok.any():
        return None
    v, w = values[ok], weights[ok]
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2)])


def _split_arr(arr: float, upfront_share: float) -> tuple[float, float, float]:
    """(ARR, MRR, upfront) in cents with ARR = 12 × MRR + upfront holding exactly after rounding."""
    upfront = round(arr * upfront_share, 2)
    mrr = round((arr - upfront) / 12, 2)
    return round(12 * mrr + upfront, 2), mrr, upfront


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), tz=UTC).date().isoformat()


StageHook = Callable[[str, float], None]


class _Laps:
    """Tells the hook how long each stage took since the previous one; free without a hook."""

    def __init__(self, hook: StageHook | None) -> None:
        self.hook = hook
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        if self.hook is not None:
            now = time.perf_counter()
            self.hook(stage, now - self.last)
            self.last = now


class Engine:
    def __init__(
        self,
        core: Core,
        params: EngineParams,
        config: EngineConfig,
        snapshot_id: str,
        follow_on: FollowOnTable,
        rules: tuple[FundingRule, ...],
    ) -> None:
        self.core = core
        self.params = params
        self.config = config
        self.snapshot_id = snapshot_id
        self.follow_on = follow_on
        self.rules = rules
        self.model_id = model_id(snapshot_id, config)

    @classmethod
    def fit(cls, history: History, snapshot_id: str, config: EngineConfig | None = None) -> Engine:
        config = config or EngineConfig()
        if int((history.arr > 0).sum()) < MIN_KNOWN_ROWS:
            raise HistoryError(
                "history_without_outcomes",
                "The history has no projects with service costs or a stated ARR to learn from",
                {"rows": history.n},
            )
        design = Design.of(history_profiles(history))  # the profiles' word and scope tables go after this
        outcomes = {name: target_values(history, name) for name in TARGETS}
        equations = NormalEquations.of(design.x, outcomes, validation_cut(history.n))
        params = calibrate(history, design, equations, config.analog_count, config.interval_level)
        core = build_core(history, design, equations, params.targets, config.interval_level, newest=True)
        return cls(core, params, config, snapshot_id, FollowOnTable.build(history), load_rules())

    @property
    def history(self) -> History:
        return self.core.history

    def warm(self) -> None:
        """One analysis of the newest history project, discarded, when a model is switched in: the similarity
        scan is compiled for this model's array types (about 0.7 s the first time in a process) before a
        request, not during the first one."""
        if self.history.n:
            self.analyze(history_row_as_opportunity(self.history, self.history.n - 1))

    @cached_property
    def form_vocabulary(self) -> dict[str, list[str]]:
        """The history's distinct values per form field, most frequent first, as the history spells them.

        Cached: counting walks every history row, and the form and the API ask for it on every view.
        """
        keys, display = self.history.keys, self.core.vocab.display
        fields = {
            "industries": "industry",
            "customer_segments": "segment",
            "countries": "country",
            "regions": "region",
            "partners": "partner",
            "activities": "activity",
            "migration_phases": "phase",
        }
        return {
            field: [display[block][k] for k, _ in Counter(k for k in keys[block] if k).most_common()]
            for field, block in fields.items()
        }

    def analyze(self, opportunity: Opportunity, on_stage: StageHook | None = None) -> Analysis:
        """``on_stage(stage, seconds)`` hears of each stage as it ends: resolve, retrieve, estimate, narrative."""
        lap = _Laps(on_stage)
        prepared = self.core.prepare(opportunity)
        lap("resolve")
        analogs = self.core.analogs(prepared, self.config.analog_count)
        lap("retrieve")
        evidence = self.core.evidence(prepared, analogs)
        models = self.core.pattern_models[prepared.pattern.name]
        pattern_params = self.params.patterns[prepared.pattern.name]
        # The confidence level is read from the customer-group interval; each level then has its own quantiles.
        first = estimate(models["arr"], evidence["arr"], models["arr"].residuals[analogs.index])
        conf = confidence_mod.assess(
            (first.high - first.low) / 2,
            models["arr"].calibration.typical_half_width,
            analogs,
            prepared.resolution.unknown,
            pattern_params.confidence_cuts,
            pattern_params.arr_skill,
            prepared.pattern.name,
            pattern_params.score_model,
            float(evidence["arr"].customer_count[0]),
            pattern_params.log_spread(prepared.x),
            float(evidence["arr"].field_scale[0]),
        )
        raw = {
            name: estimate(model, evidence[name], model.residuals[analogs.index], conf.level)
            for name, model in models.items()
        }
        predictions = self._predictions(opportunity, raw, analogs)
        services = top_services(
            self.history, analogs, predictions.mrr.value, predictions.upfront_usd.value, self.config.top_services
        )
        similar = self._similar(prepared, analogs, raw["arr"])
        project_type = self._project_type(prepared, analogs)
        profile = prepared.resolution.profile
        funding = recommend(
            self.rules,
            project_type=normalize(project_type),
            segment=profile.categorical.get("segment", ""),
            text=profile.all_text,
            predicted_arr=predictions.arr.value,
            history=self.history,
            analogs=analogs,
        )
        follow_on = self.follow_on.suggest(project_type, predictions.arr.value)
        facts = Facts(
            predictions=predictions,
            confidence=conf,
            services=services,
            similar=similar,
            history_rows=self.history.n,
            analog_count=len(analogs.index),
            effective_analogs=analogs.effective_count,
            project_type=project_type,
            notes=prepared.resolution.notes,
            unknown=prepared.resolution.unknown,
            regression_arr=math.exp(raw["arr"].base),
            validation=pattern_params.validation,
        )
        lap("estimate")
        report = sections(facts)
        lap("narrative")
        return Analysis(
            input=opportunity,
            predictions=predictions,
            confidence=conf,
            top_services=services,
            similar_projects=similar,
            sections=report,
            funding=funding,
            follow_on=follow_on,
            provenance=self._provenance(opportunity),
            warnings=self._warnings(prepared),
        )

    def _warnings(self, prepared: PreparedQuery) -> list[str]:
        out = [f"{u} is not in the history" for u in prepared.resolution.unknown]
        if not self.core.models["ttl"].usable:
            out.append(
                "the history has no planned delivery start dates: time to launch and launch date are not estimated"
            )
        if not self.core.models["duration"].usable:
            out.append("the history has no planned delivery periods: project duration is not estimated")
        return out

    def _predictions(self, opportunity: Opportunity, raw: dict[str, RawEstimate], analogs: Analogs) -> Predictions:
        h = self.history
        idx = analogs.index
        arr_raw = raw["arr"]
        # Upfront share from the analogs; MRR then follows from ARR = 12 × MRR + upfront, exact to the cent.
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(h.arr[idx] > 0, h.upfront[idx] / h.arr[idx], np.nan)
        known = np.isfinite(share)
        upfront_share = float((share[known] * analogs.weight[known]).sum() / analogs.weight[known].sum()) if (
            known.any()
        ) else 0.0
        parts = [_split_arr(math.exp(x), upfront_share) for x in (arr_raw.center, arr_raw.low, arr_raw.high)]
        arr, mrr, upfront = (Estimate(value=v, low=lo, high=hi) for v, lo, hi in zip(*parts, strict=True))

        def months(name: str, floor: float) -> Estimate | None:
            if not self.core.models[name].usable:
                return None
            r = raw[name]
            value = max(r.center, floor)
            return Estimate(value=round(value, 2), low=round(min(max(r.low, floor), value), 2),
                            high=round(max(r.high, value), 2))

        ttl = months("ttl", 0.0)
        duration = months("duration", 0.5)
        stated = _weighted_median(h.stated_arr[idx], analogs.weight)
        return Predictions(
            mrr=mrr,
            arr=arr,
            upfront_usd=upfront,
            time_to_launch_months=ttl,
            project_duration_months=duration,
            launch_date=add_months(opportunity.close_date, ttl.value).strftime("%Y-%m") if ttl else None,
            interval_level=self.config.interval_level,
            stated_arr_median=round(stated, 2) if stated is not None else None,
        )

    def _similar(self, prepared: PreparedQuery, analogs: Analogs, arr_raw: RawEstimate) -> list[SimilarProject]:
        h = self.history
        terms = self.core.space.terms
        out: list[SimilarProject] = []
        for pos, i in enumerate(analogs.index[:SHOWN_ANALOGS]):
            c = h.categorical
            shared = sorted(terms[j] for j in self.core.index.shared_terms(int(i), prepared.query))
            adjusted = arr_raw.adjusted[pos]
            out.append(
                SimilarProject(
                    opportunity_id=str(h.opportunity_id[i]),
                    opportunity_name=str(h.opportunity_name[i]),
                    customer_name=str(c["customer"][i]),
                    partner_name=str(c["partner"][i]),
                    industry=str(c["industry"][i]),
                    customer_segment=str(c["segment"][i]),
                    country=str(c["country"][i]),
                    region=str(c["region"][i]),
                    project_type=str(c["project_type"][i]),
                    close_date=_iso(h.close_ts[i]),
                    planned_delivery_start_date=str(h.start_date[i]),
                    planned_delivery_end_date=str(h.end_date[i]),
                    mrr_usd=round(float(h.mrr[i]), 2),
                    arr_usd=round(float(h.arr[i]), 2),
                    stated_arr_usd=None if math.isnan(h.stated_arr[i]) else round(float(h.stated_arr[i]), 2),
                    adjusted_arr_usd=round(math.exp(adjusted), 2) if math.isfinite(adjusted) else 0.0,
                    time_to_launch_months=None if math.isnan(h.ttl_months[i]) else round(float(h.ttl_months[i]), 2),
                    services=h.services_of(int(i)),
                    similarity=round(float(analogs.similarity[pos]), 4),
                    weight=round(float(analogs.weight[pos]), 4),
                    match_reasons=match_reasons(analogs, pos, shared),
                )
            )
        return out

    def _project_type(self, prepared: PreparedQuery, analogs: Analogs) -> str:
        stated = prepared.resolution.profile.categorical.get("project_type", "")
        display = self.core.vocab.display["project_type"]
        if stated:
            return display.get(stated, stated)
        votes: dict[str, float] = {}
        for w, i in zip(analogs.weight, analogs.index, strict=True):
            t = str(self.history.categorical["project_type"][i])
            if t:
                votes[t] = votes.get(t, 0.0) + float(w)
        return max(votes, key=lambda k: votes[k]) if votes else ""

    def _provenance(self, opportunity: Opportunity) -> Provenance:
        payload = opportunity.model_dump_json(exclude={"id"}).encode()
        return Provenance(
            engine_version=ENGINE_VERSION,
            history_snapshot_id=self.snapshot_id,
            history_rows=self.history.n,
            model_id=self.model_id,
            settings=asdict(self.config),
            input_sha256=hashlib.sha256(payload).hexdigest(),
        )
