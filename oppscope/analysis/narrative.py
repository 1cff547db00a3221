"""The report's prose, written from computed facts by templates.

Every number in these sections is formatted from a value the engine computed; nothing is estimated here.
An LLM writer (optional, later) must reproduce the same numbers, which is checked against these facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from oppscope.analysis.contracts import (
    Architecture,
    Confidence,
    Predictions,
    Sections,
    ServiceCost,
    SimilarProject,
)

_LAYERS: dict[str, tuple[str, ...]] = {
    "network": ("direct connect", "cloudfront", "vpc", "transit gateway", "route 53", "load balancing", "vpn",
                "global accelerator"),
    "compute": ("ec2", "lambda", "ecs", "eks", "fargate", "batch", "lightsail", "vmware", "outposts"),
    "data": ("s3", "rds", "aurora", "dynamodb", "redshift", "glue", "athena", "emr", "opensearch", "fsx", "efs",
             "elasticache", "kinesis", "lake formation", "sagemaker", "bedrock", "documentdb", "neptune"),
    "security": ("guardduty", "shield", "waf", "kms", "iam", "security hub", "macie", "inspector", "secrets",
                 "cognito", "firewall"),
    "integration": ("connect", "eventbridge", "sqs", "sns", "api gateway", "step functions", "appflow", "mq",
                    "transfer"),
    "management": ("backup", "cloudwatch", "systems manager", "control tower", "config", "cloudtrail",
                   "organizations", "migration hub", "application migration", "database migration"),
}


@dataclass(frozen=True)
class Facts:
    predictions: Predictions
    confidence: Confidence
    services: Sequence[ServiceCost]
    similar: Sequence[SimilarProject]
    history_rows: int
    analog_count: int
    effective_analogs: float
    project_type: str
    notes: Sequence[str]
    unknown: Sequence[str]
    regression_arr: float  # ARR the regression alone predicts, before analog correction
    validation: dict[str, float]


def _analog_effect(regression_arr: float, arr: float) -> str:
    if money(regression_arr) == money(arr):  # the analogs' correction was shrunk away: say so, not "moved to"
        return f"The regression gives {money(arr)}; the analogs leave it unchanged (their correction shrinks to zero)."
    return f"The regression alone gives {money(regression_arr)}; the analogs move it to {money(arr)}."


def money(value: float) -> str:
    return f"${value:,.0f}"


def money_range(low: float, high: float) -> str:
    return f"{money(low)}–{money(high)}"


# What summary_metrics says where the history holds no planned dates to learn a timing from.
UNKNOWN: Final = "unknown"


def months(value: float) -> str:
    return f"{value:.1f} months"


def months_range(low: float, high: float) -> str:
    return f"{low:.1f}–{high:.1f} months"


def _layer_of(service: str) -> str | None:
    name = service.lower()
    for layer, words in _LAYERS.items():
        if any(w in name for w in words):
            return layer
    return None


def architecture(f: Facts) -> Architecture:
    by_layer: dict[str, list[str]] = {k: [] for k in _LAYERS}
    for s in f.services:
        layer = _layer_of(s.name)
        if layer:
            by_layer[layer].append(f"{s.name} ({money(s.monthly_usd)}/month)")
    p = f.predictions

    def line(layer: str, fallback: str) -> str:
        return ("; ".join(by_layer[layer]) + ".") if by_layer[layer] else fallback

    return Architecture(
        network=line("network", "Standard VPC design with private subnets; the analogs show no dedicated "
                                "network service among their top costs."),
        compute=line("compute", "No dedicated compute service among the analogs' top costs."),
        data=line("data", "No dedicated data service among the analogs' top costs."),
        security=line("security", "Baseline controls (IAM, KMS encryption, CloudTrail); no security service "
                                  "is among the analogs' top costs."),
        integration=line("integration", "No integration service among the analogs' top costs."),
        scaling=(f"Plan capacity for {money(p.mrr.value)}/month at launch, within {money_range(p.mrr.low, p.mrr.high)} "
                 f"at {p.interval_level:.0%} confidence; size reserved capacity for the lower bound."),
        management=line("management", "Operate with CloudWatch and AWS Backup; no management service is among "
                                      "the analogs' top costs."),
    )


def sections(f: Facts) -> Sections:
    p, c = f.predictions, f.confidence
    level = f"{p.interval_level:.0%}"
    top = f.similar[:3]
    methodology = (
        f"Compared the opportunity with {f.history_rows:,} delivered projects. A ridge regression on segment, "
        "industry, geography, partner, project type, migration phase, description terms and scope quantities "
        "explains how outcomes vary; the "
        f"{f.analog_count} most similar projects ({f.effective_analogs:.1f} effective) then correct the regression "
        "with their own residuals, shrunk towards zero when evidence is thin. Intervals are split-conformal: "
        f"calibrated so that {level} of the most recent projects fell inside them. ARR follows the original rule "
        "12 × MRR + upfront."
    )
    findings = [
        f"Predicted ARR {money(p.arr.value)} ({level} interval {money_range(p.arr.low, p.arr.high)}); "
        f"MRR {money(p.mrr.value)}; upfront {money(p.upfront_usd.value)}.",
        _analog_effect(f.regression_arr, p.arr.value),
    ]
    ttl, duration = p.time_to_launch_months, p.project_duration_months
    if ttl is not None:
        findings.append(
            f"Launch expected {p.launch_date}, {months(ttl.value)} after close "
            f"({months_range(ttl.low, ttl.high)})."
        )
    if duration is not None:
        findings.append(f"Typical delivery lasts {months(duration.value)}.")
    if f.services:
        findings.append("Largest services: " + ", ".join(f"{s.name} {money(s.monthly_usd)}/month"
                                                         for s in f.services[:3]) + ".")
    if top:
        findings.append("Closest analogs: " + "; ".join(
            f"{s.opportunity_name} ({s.customer_name}, ARR {money(s.arr_usd)}, similarity {s.similarity:.2f})"
            for s in top) + ".")
    if p.stated_arr_median is not None:
        findings.append(f"The analogs' own stated ARR has median {money(p.stated_arr_median)}.")
    rationale = (
        f"{c.level} confidence (score {c.score}/100): " + "; ".join(c.reasons[:2]) + ". "
        + (f"Project type taken as {f.project_type}. " if f.project_type else "")
        + (" ".join(f.notes) + "." if f.notes else "")
    ).strip()
    risks = _risks(f)
    summary = {
        "PREDICTED_ARR": money(p.arr.value),
        "MRR": money(p.mrr.value),
        "LAUNCH_DATE": p.launch_date or UNKNOWN,
        "PREDICTED_PROJECT_DURATION": f"{duration.value:.0f} months" if duration else UNKNOWN,
        "TIME_TO_LAUNCH": months(ttl.value) if ttl else UNKNOWN,
        "CONFIDENCE": c.level,
        "CONFIDENCE_SCORE": str(c.score),
    }
    validation = [
        f"On the most recent {f.validation.get('validation_queries', 0):.0f} projects of this history, the engine "
        f"trained on the older {f.validation.get('train_rows', 0):.0f} had a median ARR error of "
        f"{f.validation.get('arr_error', float('nan')):.1%} and a time-to-launch error of "
        f"{f.validation.get('ttl_error', float('nan')):.1f} months."
        if f.validation else "The history was too small to hold projects back for validation.",
        "Every number in this report is computed from the history; run the same input against the same history "
        "snapshot to reproduce it.",
    ]
    return Sections(
        methodology=methodology,
        findings=findings,
        rationale=rationale,
        risk_factors=risks,
        architecture=architecture(f),
        summary_metrics=summary,
        validation_notes=validation,
    )


def _risks(f: Facts) -> list[str]:
    p, c = f.predictions, f.confidence
    risks: list[str] = []
    width = (p.arr.high - p.arr.low) / p.arr.value if p.arr.value else 0.0
    if width > 1.0:
        risks.append(f"Wide ARR range ({money_range(p.arr.low, p.arr.high)}): the analogs disagree on size.")
    if c.level == "LOW":
        risks.append("Low confidence: few close analogs; validate scope with the customer before committing.")
    risks.extend(f"{u.capitalize()} is unknown to the history." for u in f.unknown)
    ttl = p.time_to_launch_months
    if ttl is None:
        risks.append("The history has no planned delivery dates: launch timing cannot be estimated from it.")
    elif ttl.high > 2 * max(ttl.value, 0.5):
        risks.append("Launch timing varies widely among analogs; plan for the later date.")
    if p.upfront_usd.value > 0.15 * p.arr.value:
        risks.append(f"Upfront costs are large ({money(p.upfront_usd.value)}); confirm the customer's budget cycle.")
    if not risks:
        risks.append("No specific risk stands out: the analogs agree and are close to the opportunity.")
    return risks
