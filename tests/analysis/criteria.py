"""Issue 7's criteria for one input pattern's backtest, shared by the tests on differently shaped histories."""

from __future__ import annotations

from oppscope.analysis.backtest import PatternReport

COVERAGE = (0.77, 0.83)  # the ARR 80% interval on every pattern
LEVEL_COVERAGE = (0.75, 0.85)  # each confidence level's own, and each kind of input's
MIN_LEVEL_COUNT = 100  # below this a level's coverage is too noisy to judge (±4 points at one standard error)
MIN_ORDERED_COUNT = 50
REFERENCE_LIMIT = 1.02  # oppscope's ARR MdAPE and TTL MAE at most this multiple of the reference's


def failures(report: PatternReport) -> dict[str, str]:
    """The criteria the pattern misses, by name, with the figures (empty when it meets them all)."""
    ours, reference = report.methods[0], report.reference
    out: dict[str, str] = {}
    cov = ours.arr_interval_coverage
    if cov is None or not COVERAGE[0] <= cov <= COVERAGE[1]:
        out["coverage"] = f"ARR coverage {cov}"
    for metric in ("arr_mdape", "ttl_mae_months"):
        ratio = report.ratio(metric, reference)
        if ratio is None or ratio > REFERENCE_LIMIT:
            out[f"reference {metric}"] = f"{ratio}x the reference"
    given = [lv for lv in report.by_confidence if lv.count >= MIN_ORDERED_COUNT]
    errors = [lv.arr_mdape if lv.arr_mdape is not None else float("inf") for lv in given]
    if errors != sorted(errors):
        out["level order"] = f"{[(lv.level, lv.arr_mdape) for lv in given]}"
    off = [
        f"{lv.level} {lv.arr_interval_coverage} (n={lv.count})"
        for lv in report.by_confidence
        if lv.count >= MIN_LEVEL_COUNT
        and not LEVEL_COVERAGE[0] <= (lv.arr_interval_coverage or 0.0) <= LEVEL_COVERAGE[1]
    ]
    if off:
        out["level coverage"] = ", ".join(off)
    # Not only on average: every kind of input (new or returning customer, each stated segment) covers its share.
    uneven = [
        f"{k.kind} {k.value} {k.arr_interval_coverage} (n={k.count})"
        for k in report.by_kind
        if k.count >= MIN_LEVEL_COUNT and not LEVEL_COVERAGE[0] <= k.arr_interval_coverage <= LEVEL_COVERAGE[1]
    ]
    if uneven:
        out["kind coverage"] = ", ".join(uneven)
    return out


def unexpected(reports: list[PatternReport], known: dict[str, frozenset[str]]) -> dict[str, dict[str, str]]:
    """Misses beyond the ``known`` ones (pattern → criteria), and known ones that no longer miss (so that the
    list of known gaps stays true)."""
    out: dict[str, dict[str, str]] = {}
    for report in reports:
        missed = failures(report)
        expected = known.get(report.pattern, frozenset())
        extra = {k: v for k, v in missed.items() if k not in expected}
        extra |= {k: "listed as a known gap but met" for k in expected - missed.keys()}
        if extra:
            out[report.pattern] = extra
    return out
