"""Capacity planning: the observed load of a window against the seed's scaling triggers and the environment's size.

CPU and memory come from the time series as shares of the whole machine; they are restated as shares of what the
environment is sized for (``settings.resource_size``), or of the machine when it is smaller, since the seed's
triggers speak of the instance's own utilisation. The queue depth is the peak of requests in flight (received and
not yet answered, summed over the workers), p95 the window's merged histogram, as the alerts read it.

Scale up when any trigger holds: CPU or memory above its share for ``scale_up_minutes`` consecutive minutes
anywhere in the window, p95 or the queue above theirs. Scale down only when every scale-down condition holds over
the whole window and the window holds at least ``scale_down_minutes`` sampled minutes: a recommendation sizes the
service for its busiest time, so a quiet last quarter hour after a busy noon is no reason to shrink.

How many instances run is the supervisor's to say (``oppscope.serving``, a layer above this one): the caller passes
the count in, and the recommendation is then a total ("run 2 instances") rather than "add an instance".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from oppscope.config import RESOURCE_SIZES, Settings
from oppscope.ops.timeseries import WindowStats

Verdict = Literal["scale_up", "scale_down", "hold", "insufficient_data"]
SIZES = list(RESOURCE_SIZES)  # smallest first


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_mb: int

    @classmethod
    def this(cls) -> Machine:
        return cls(psutil.cpu_count() or 1, psutil.virtual_memory().total // 2**20)


@dataclass(frozen=True)
class Trigger:
    """One of the seed's conditions, as observed: ``met`` says whether it holds now."""

    signal: Literal["cpu", "memory", "p95", "queue"]
    direction: Literal["up", "down"]
    met: bool
    value: float | None
    threshold: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "direction": self.direction,
            "met": self.met,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CapacityReport:
    stats: WindowStats
    verdict: Verdict
    action: str
    workers_now: int
    workers_recommended: int
    instances_delta: int
    instances_now: int | None  # None: no supervisor told
    instances_recommended: int | None
    resources_now: str
    resources_recommended: str | None
    reasons: list[str]
    triggers: list[Trigger]
    observed: dict[str, Any]
    environment: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": {
                "start": self.stats.start.isoformat().replace("+00:00", "Z"),
                "end": self.stats.end.isoformat().replace("+00:00", "Z"),
                "minutes": self.stats.minutes,
            },
            "recommendation": self.verdict,
            "action": self.action,
            "workers": {"now": self.workers_now, "recommended": self.workers_recommended},
            "instances_delta": self.instances_delta,
            "instances": {"now": self.instances_now, "recommended": self.instances_recommended},
            "resources": {"now": self.resources_now, "recommended": self.resources_recommended},
            "reasons": self.reasons,
            "observed": self.observed,
            "triggers": [t.as_dict() for t in self.triggers],
            "environment": self.environment,
        }


def _longest_run(values: Sequence[float | None], holds: Callable[[float], bool]) -> int:
    """The most consecutive sampled minutes for which ``holds``; a minute without a sample ends a run."""
    best = run = 0
    for value in values:
        run = run + 1 if value is not None and holds(value) else 0
        best = max(best, run)
    return best


def _percent(value: float | None) -> str:
    return "no sample" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "no requests" if value is None else f"{value:.3f} s"


def _peak(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(max(known), 4) if known else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None


def assess(
    settings: Settings, stats: WindowStats, machine: Machine | None = None, instances: int | None = None
) -> CapacityReport:
    """The recommendation for one window of the time series, ``instances`` running now (``None``: unknown)."""
    machine = machine or Machine.this()
    size = settings.resource_size
    cpu_basis = min(machine.cpus, size.vcpus)
    memory_basis = min(machine.memory_mb, size.memory_mb)
    cpu = [None if p.cpu_percent is None else p.cpu_percent / 100 * machine.cpus / cpu_basis for p in stats.points]
    memory = [
        None if p.memory_percent is None else p.memory_percent / 100 * machine.memory_mb / memory_basis
        for p in stats.points
    ]
    sampled = sum(v is not None for v in cpu)
    queue = stats.in_flight_peak
    up_minutes, down_minutes = settings.scale_up_minutes, settings.scale_down_minutes

    def sustained_up(signal: Literal["cpu", "memory"], values: list[float | None], threshold: float) -> Trigger:
        run = _longest_run(values, lambda v: v > threshold)
        return Trigger(
            signal,
            "up",
            run >= up_minutes,
            _peak(values),
            threshold,
            f"above {threshold:.0%} for {run} consecutive minute(s) at most (scale up after {up_minutes}); "
            f"peak {_percent(_peak(values))}",
        )

    def stays_down(signal: Literal["cpu", "memory"], values: list[float | None], threshold: float) -> Trigger:
        peak = _peak(values)
        met = sampled >= down_minutes and peak is not None and peak < threshold
        return Trigger(
            signal,
            "down",
            met,
            peak,
            threshold,
            f"peak {_percent(peak)} over {sampled} sampled minute(s) "
            f"(scale down when below {threshold:.0%} for at least {down_minutes})",
        )

    p95 = stats.p95_s
    triggers = [
        sustained_up("cpu", cpu, settings.scale_up_cpu),
        sustained_up("memory", memory, settings.alert_resource_warning),
        Trigger(
            "p95",
            "up",
            p95 is not None and p95 > settings.alert_p95_warning_s,
            p95,
            settings.alert_p95_warning_s,
            f"p95 {_seconds(p95)} over {stats.requests} request(s) (scale up above {settings.alert_p95_warning_s:g} s)",
        ),
        Trigger(
            "queue",
            "up",
            queue is not None and queue > settings.scale_up_queue,
            queue,
            settings.scale_up_queue,
            f"peak {queue or 0} request(s) in flight (scale up above {settings.scale_up_queue})",
        ),
        stays_down("cpu", cpu, settings.scale_down_cpu),
        stays_down("memory", memory, settings.scale_down_memory),
        Trigger(
            "p95",
            "down",
            p95 is None or p95 < settings.scale_down_p95_s,
            p95,
            settings.scale_down_p95_s,
            f"p95 {_seconds(p95)} (scale down below {settings.scale_down_p95_s:g} s)",
        ),
        Trigger(
            "queue",
            "down",
            (queue or 0) < settings.scale_down_queue,
            queue,
            settings.scale_down_queue,
            f"peak {queue or 0} request(s) in flight (scale down below {settings.scale_down_queue})",
        ),
    ]
    workers = settings.worker_count
    decision = _decide(settings, triggers, sampled, cpu_basis, instances)
    return CapacityReport(
        stats=stats,
        verdict=decision.verdict,
        action=decision.action,
        workers_now=workers,
        workers_recommended=decision.workers or workers,
        instances_delta=decision.instances_delta,
        instances_now=instances,
        instances_recommended=None if instances is None else instances + decision.instances_delta,
        resources_now=settings.resources,
        resources_recommended=decision.resources,
        reasons=decision.reasons,
        triggers=triggers,
        observed={
            "sampled_minutes": sampled,
            "cpu": {"peak": _peak(cpu), "mean": _mean(cpu), "of_vcpus": cpu_basis},
            "memory": {"peak": _peak(memory), "mean": _mean(memory), "of_mb": memory_basis},
            "p95_s": p95,
            "requests": stats.requests,
            "queue_peak": queue,
        },
        environment={
            "profile": settings.profile.value,
            "resources": settings.resources,
            "vcpus": size.vcpus,
            "memory_mb": size.memory_mb,
            "workers": workers,
            "machine_cpus": machine.cpus,
            "machine_memory_mb": machine.memory_mb,
        },
    )


@dataclass(frozen=True)
class _Decision:
    verdict: Verdict
    action: str
    reasons: list[str]
    workers: int | None = None  # None: as now
    instances_delta: int = 0
    resources: str | None = None


def _decide(
    settings: Settings, triggers: list[Trigger], sampled: int, cpu_basis: int, instances: int | None
) -> _Decision:
    """Up on any scale-up trigger; down only on all scale-down conditions; workers first while vCPUs are free."""
    ups = [t for t in triggers if t.direction == "up" and t.met]
    downs = [t for t in triggers if t.direction == "down"]
    workers = settings.worker_count
    bigger, smaller = _neighbours(settings.resources)
    more = "add an instance" if instances is None else f"run {_instances(instances + 1)} instead of {instances}"
    if ups:
        reasons = [f"{t.signal}: {t.detail}" for t in ups]
        if any(t.signal in ("cpu", "memory") for t in ups):
            also = f" or move to the {bigger} size" if bigger else ""
            return _Decision(
                "scale_up", f"{more}{also}: the instance is short of CPU or memory", reasons, None, 1, bigger
            )
        if workers < cpu_basis:
            action = f"run {cpu_basis} workers, one per vCPU: requests queue while the CPU has room"
            return _Decision("scale_up", action, reasons, cpu_basis)
        return _Decision("scale_up", f"{more}: every vCPU already runs a worker", reasons, None, 1)
    if sampled < settings.scale_up_minutes:
        reason = (
            f"{sampled} minute(s) of resource samples in the window; at least {settings.scale_up_minutes} are needed "
            "(is the service running, with metrics_enabled?)"
        )
        return _Decision("insufficient_data", "none: not enough data to judge", [reason])
    if all(t.met for t in downs):
        reasons = [f"{t.signal}: {t.detail}" for t in downs]
        if workers > 1:
            fewer = max(1, math.ceil(workers / 2))
            return _Decision("scale_down", f"run {fewer} worker(s): every scale-down condition held", reasons, fewer)
        also = f", or move to the {smaller} size" if smaller else ""
        if instances is None:
            action = f"remove an instance if more than one serves{also}"
            return _Decision("scale_down", action, reasons, None, -1, smaller)
        if instances > 1:
            action = f"run {_instances(instances - 1)} instead of {instances}{also}"
            return _Decision("scale_down", action, reasons, None, -1, smaller)
        if smaller:
            return _Decision("scale_down", f"move to the {smaller} size: one instance runs", reasons, None, 0, smaller)
        return _Decision("hold", "none: one instance of the smallest size with one worker is the least", reasons)
    reasons = [f"{t.signal} does not allow scaling down: {t.detail}" for t in downs if not t.met]
    return _Decision("hold", "none: the current size fits the load", reasons)


def _instances(count: int) -> str:
    return f"{count} instance{'s' if count != 1 else ''}"


def _neighbours(resources: str) -> tuple[str | None, str | None]:
    """The next larger and the next smaller environment size."""
    index = SIZES.index(resources)
    return (SIZES[index + 1] if index + 1 < len(SIZES) else None, SIZES[index - 1] if index else None)
