"""``oppscope capacity``: time series rows written as the workers write them, judged against the seed's triggers
(scale up, scale down, hold, not enough data) and the environment's size."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oppscope.cli.main import app
from oppscope.config import Settings, load_settings
from oppscope.ops.capacity import Machine, assess
from oppscope.ops.metrics import Telemetry
from oppscope.ops.timeseries import bucket_index, open_timeseries, timeseries_path

NOW = datetime(2026, 3, 2, 12, 30, 20, tzinfo=UTC)
BIG = Machine(cpus=4, memory_mb=8192)  # exactly the optimized size: shares of the machine are shares of the size


def write_minutes(
    settings: Settings,
    minutes: int,
    *,
    cpu: float,
    memory: float,
    latency_s: float | None = 0.2,
    in_flight: int = 1,
    now: datetime = NOW,
    workers: int = 2,
) -> None:
    """``minutes`` full minutes ending with ``now``'s, as ``workers`` processes flush them (CPU and memory in
    percent of the machine, split evenly over the workers); a minute written again is replaced."""
    open_timeseries(settings)  # creates the schema
    last = int(now.timestamp() // 60)
    with closing(sqlite3.connect(timeseries_path(settings))) as con, con:
        for minute in range(last - minutes + 1, last + 1):
            for pid in range(1000, 1000 + workers):
                con.execute(
                    "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?)",
                    (minute, pid, 4 * cpu / workers, 4 * memory / workers, 4, 40.0),
                )
                con.execute("INSERT OR REPLACE INTO in_flight VALUES (?, ?, ?)", (minute, pid, in_flight))
            if latency_s is not None:
                con.execute("INSERT OR REPLACE INTO counts VALUES (?, 'requests', 30)", (minute,))
                bucket = bucket_index(latency_s)
                con.execute("INSERT OR REPLACE INTO buckets VALUES (?, 'http', ?, 30)", (minute, bucket))


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(data_dir=tmp_path / "data", resources="optimized", **overrides)


def verdict(
    settings: Settings, minutes: int = 60, machine: Machine = BIG, instances: int | None = None
) -> dict[str, object]:
    return assess(settings, open_timeseries(settings).window(minutes, NOW), machine, instances).as_dict()


def triggered(report: dict[str, object], direction: str) -> set[str]:
    triggers = report["triggers"]
    assert isinstance(triggers, list)
    return {t["signal"] for t in triggers if t["direction"] == direction and t["met"]}


def test_cpu_above_70_percent_for_five_minutes_scales_up_by_an_instance(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 20, cpu=40, memory=30)
    write_minutes(settings, 5, cpu=85, memory=30)  # the last five minutes
    report = verdict(settings)
    assert report["recommendation"] == "scale_up"
    assert triggered(report, "up") == {"cpu"}
    assert report["instances_delta"] == 1
    assert report["instances"] == {"now": None, "recommended": None}  # no supervisor said how many run
    assert report["action"].startswith("add an instance")  # type: ignore[attr-defined]
    assert report["resources"] == {"now": "optimized", "recommended": None}  # no larger size to move to
    assert report["observed"]["cpu"]["peak"] == pytest.approx(0.85)  # type: ignore[index]
    told = verdict(settings, instances=2)
    assert told["instances"] == {"now": 2, "recommended": 3} and told["instances_delta"] == 1
    assert told["action"].startswith("run 3 instances instead of 2")  # type: ignore[attr-defined]


def test_four_minutes_above_is_not_yet_a_trigger(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 20, cpu=40, memory=30)
    write_minutes(settings, 4, cpu=85, memory=30)
    assert verdict(settings)["recommendation"] == "hold"


def test_a_long_queue_with_cpu_to_spare_asks_for_a_worker_per_vcpu(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, workers=2)
    write_minutes(settings, 10, cpu=30, memory=30, in_flight=70)  # 2 workers x 70 = 140 in flight
    report = verdict(settings)
    assert report["recommendation"] == "scale_up" and triggered(report, "up") == {"queue"}
    assert report["workers"] == {"now": 2, "recommended": 4}
    assert report["instances_delta"] == 0


def test_p95_above_15_seconds_scales_up_and_memory_asks_for_the_larger_size(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", resources="standard")
    write_minutes(settings, 10, cpu=10, memory=90, latency_s=20.0)
    report = verdict(settings, machine=Machine(cpus=2, memory_mb=4096))
    assert report["recommendation"] == "scale_up"
    assert triggered(report, "up") == {"memory", "p95"}
    assert report["resources"] == {"now": "standard", "recommended": "optimized"}


def test_everything_low_for_fifteen_minutes_scales_down_to_fewer_workers(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 20, cpu=10, memory=20, latency_s=0.3, in_flight=2)
    report = verdict(settings)
    assert report["recommendation"] == "scale_down"
    assert triggered(report, "down") == {"cpu", "memory", "p95", "queue"}
    assert report["workers"] == {"now": 4, "recommended": 2}


def test_one_worker_scales_down_by_an_instance_or_the_smaller_size(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, workers=1)
    write_minutes(settings, 20, cpu=10, memory=20, latency_s=None, workers=1)  # no requests: p95 is no obstacle
    report = verdict(settings)
    assert report["recommendation"] == "scale_down"
    assert report["instances_delta"] == -1 and report["resources"] == {"now": "optimized", "recommended": "standard"}
    two = verdict(settings, instances=2)
    assert two["instances"] == {"now": 2, "recommended": 1} and two["instances_delta"] == -1
    assert two["action"].startswith("run 1 instance instead of 2")  # type: ignore[attr-defined]
    one = verdict(settings, instances=1)  # none to remove: the smaller size is what is left
    assert (one["recommendation"], one["instances"], one["instances_delta"]) == (
        "scale_down",
        {"now": 1, "recommended": 1},
        0,
    )
    assert one["resources"] == {"now": "optimized", "recommended": "standard"}


def test_one_instance_of_the_smallest_size_with_one_worker_holds(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", resources="minimal", workers=1)
    write_minutes(settings, 20, cpu=5, memory=5, latency_s=None, workers=1)
    assert verdict(settings, machine=Machine(cpus=1, memory_mb=2048))["recommendation"] == "scale_down"
    report = verdict(settings, machine=Machine(cpus=1, memory_mb=2048), instances=1)
    assert report["recommendation"] == "hold" and report["instances"] == {"now": 1, "recommended": 1}


def test_a_busy_hour_in_the_window_holds_a_quiet_last_quarter(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 60, cpu=50, memory=20)
    write_minutes(settings, 20, cpu=10, memory=20)
    assert verdict(settings, 60)["recommendation"] == "hold"
    assert verdict(settings, 15)["recommendation"] == "scale_down"


def test_slow_answers_hold_a_scale_down(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 20, cpu=10, memory=20, latency_s=8.0)
    report = verdict(settings)
    assert report["recommendation"] == "hold"
    assert triggered(report, "down") == {"cpu", "memory", "queue"}
    assert any("p95" in reason for reason in report["reasons"])  # type: ignore[attr-defined]


def test_fewer_than_five_sampled_minutes_is_not_enough_data(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 3, cpu=10, memory=20)
    report = verdict(settings)
    assert report["recommendation"] == "insufficient_data"
    assert report["observed"]["sampled_minutes"] == 3  # type: ignore[index]
    assert verdict(settings_for(tmp_path / "empty"))["recommendation"] == "insufficient_data"


def test_use_is_judged_against_the_smaller_of_the_machine_and_the_environment(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)  # optimized: 4 vCPU, 8 GB
    write_minutes(settings, 10, cpu=40, memory=10)
    small = verdict(settings, machine=Machine(cpus=2, memory_mb=16384))
    assert small["observed"]["cpu"] == {"peak": 0.4, "mean": 0.4, "of_vcpus": 2}  # type: ignore[index]
    assert small["observed"]["memory"]["peak"] == pytest.approx(0.2)  # type: ignore[index]  # 10% of 16 GB of 8 GB
    large = verdict(settings, machine=Machine(cpus=16, memory_mb=8192))
    assert large["observed"]["cpu"]["peak"] == pytest.approx(1.6)  # type: ignore[index]
    assert large["recommendation"] == "scale_up"


def test_the_workers_count_requests_in_flight_into_the_time_series(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    telemetry = Telemetry(settings)
    telemetry.series = open_timeseries(settings)
    for _ in range(3):
        telemetry.received()
    telemetry.request("POST", "/api/v1/analyses", 201, 0.5)
    telemetry.received()  # 3 in flight again: the peak stays 3
    assert open_timeseries(settings).window(1).in_flight_peak is None  # not flushed yet
    assert telemetry.series.window(1).in_flight_peak == 3


def test_the_capacity_command_prints_the_recommendation(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    write_minutes(settings, 8, cpu=95, memory=30, now=datetime.now(UTC))
    result = CliRunner().invoke(
        app,
        ["capacity", "--window", "15m", "--data-dir", str(settings.data_dir), "--json"],
        env={"OPPSCOPE_RESOURCES": "optimized"},
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["recommendation"] == "scale_up" and body["window"]["minutes"] == 15
    assert body["environment"]["vcpus"] == 4
    assert body["instances"] == {"now": None, "recommended": None}  # no supervisor runs for this data directory
    text = CliRunner().invoke(app, ["capacity", "--data-dir", str(settings.data_dir)])
    assert text.exit_code == 0 and "scale up" in text.stdout
    bad = CliRunner().invoke(app, ["capacity", "--window", "2h", "--data-dir", str(settings.data_dir)])
    assert bad.exit_code == 2
