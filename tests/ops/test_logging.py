"""The log format: JSON lines with the contract's fields, one file per UTC day written safely by several
processes, secrets masked, old days pruned."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from oppscope.config import Settings, load_settings
from oppscope.ops.logging import LOG_NAME, DailyFileHandler, configure_logging, iter_log_records, log_files, prune_logs


def _configured(tmp_path: Path, level: str) -> Iterator[Settings]:
    settings = load_settings(data_dir=tmp_path, log_level=level)
    configure_logging(settings, stream="stderr")
    yield settings
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, DailyFileHandler | logging.StreamHandler)]:
        root.removeHandler(handler)
        handler.close()
    structlog.reset_defaults()


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    yield from _configured(tmp_path, "info")


@pytest.fixture
def debug_settings(tmp_path: Path) -> Iterator[Settings]:
    yield from _configured(tmp_path, "debug")


def _lines(settings: Settings) -> list[dict[str, object]]:
    return [json.loads(line) for _, path in log_files(settings) for line in path.read_text().splitlines()]


def test_records_are_json_with_the_contract_fields(settings: Settings) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1")
    structlog.get_logger("oppscope.test").info("request", method="GET", route="/x/{id}", status=200, duration_ms=1.5)
    logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)
    logging.getLogger("oppscope.debugging").debug("below the level: not written")

    ours, uvicorn = _lines(settings)
    assert ours["event"] == "request" and ours["level"] == "info" and ours["logger"] == "oppscope.test"
    assert ours["request_id"] == "r-1" and ours["route"] == "/x/{id}" and ours["status"] == 200
    assert isinstance(ours["pid"], int)
    assert str(ours["timestamp"]).endswith("Z")
    assert datetime.fromisoformat(str(ours["timestamp"])).tzinfo is not None
    assert uvicorn["event"] == "Started server process [42]" and uvicorn["level"] == "warning"
    assert uvicorn["request_id"] == "r-1"
    assert (settings.log_path / LOG_NAME).resolve() == log_files(settings)[0][1].resolve()


def test_secrets_and_free_text_are_masked(settings: Settings) -> None:
    token = "ops_0123456789ab_" + "S3cr3t" * 7
    log = structlog.get_logger("oppscope.test")
    log.warning(
        "login", authorization=f"Bearer {token}", customer_name="Helios Bank", headers={"Cookie": "oppscope_session=x"}
    )
    logging.getLogger("somelib").error("refused Authorization: Bearer %s for %s", token, token)
    text = "".join(path.read_text() for _, path in log_files(settings))
    assert token not in text and "S3cr3t" not in text and "Helios" not in text and "oppscope_session=x" not in text
    assert text.count("[redacted]") >= 4


def test_exceptions_are_rendered_into_the_record(settings: Settings) -> None:
    try:
        raise RuntimeError("kaputt")
    except RuntimeError:
        logging.getLogger("oppscope.test").exception("unhandled")
    (record,) = _lines(settings)
    assert record["level"] == "error" and "RuntimeError: kaputt" in str(record["exception"])


def test_a_new_utc_day_goes_to_a_new_file(settings: Settings) -> None:
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, DailyFileHandler))
    today = logging.LogRecord("oppscope.test", logging.INFO, __file__, 1, "today", None, None)
    tomorrow = logging.LogRecord("oppscope.test", logging.INFO, __file__, 1, "tomorrow", None, None)
    tomorrow.created = today.created + 86_400
    handler.handle(today)
    handler.handle(tomorrow)
    files = log_files(settings)
    assert [day for day, _ in files] == [
        datetime.fromtimestamp(today.created, UTC).date(),
        datetime.fromtimestamp(tomorrow.created, UTC).date(),
    ]
    assert [r["event"] for r in iter_log_records(settings)] == ["today", "tomorrow"]
    assert (settings.log_path / LOG_NAME).resolve() == files[1][1].resolve()


def test_reading_skips_broken_lines_and_filters_by_time(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    settings.log_path.mkdir(parents=True)
    (settings.log_path / f"{LOG_NAME}.2026-01-01").write_text('{"timestamp": "2026-01-01T10:00:00Z", "event": "old"}\n')
    (settings.log_path / f"{LOG_NAME}.2026-01-02").write_text(
        '{"timestamp": "2026-01-02T10:00:00Z", "event": "a"}\nnot json\n[1, 2]\n{"timestamp": "2026-01-02T11:00:00'
        '\n{"timestamp": "2026-01-02T12:00:00.5Z", "event": "b"}\n'
    )
    assert [r["event"] for r in iter_log_records(settings)] == ["old", "a", "b"]
    since = datetime(2026, 1, 2, 11, tzinfo=UTC)
    assert [r["event"] for r in iter_log_records(settings, since)] == ["b"]
    assert [r["event"] for r in iter_log_records(settings, since.replace(tzinfo=None))] == ["b"]


def test_pruning_keeps_the_retention_days(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, log_retention_days=30)
    settings.log_path.mkdir(parents=True)
    today = date(2026, 3, 31)
    for back in range(40):
        (settings.log_path / f"{LOG_NAME}.{today - timedelta(days=back)}").write_text("{}\n")
    removed = prune_logs(settings, today)
    assert len(removed) == 10
    kept = [day for day, _ in log_files(settings)]
    assert len(kept) == 30 and kept[0] == today - timedelta(days=29) and kept[-1] == today


_WRITER = """
import sys, structlog
from pathlib import Path
from oppscope.config import load_settings
from oppscope.ops.logging import configure_logging
configure_logging(load_settings(data_dir=Path(sys.argv[1]), log_level="info"), stream="stderr")
log = structlog.get_logger("writer")
for i in range(400):
    log.info("line", i=i, padding="x" * 300)
"""


def test_several_processes_append_whole_lines_to_one_file(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], stderr=subprocess.DEVNULL) for _ in range(4)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    settings = load_settings(data_dir=tmp_path)
    raw = [line for _, path in log_files(settings) for line in path.read_text().splitlines()]
    records = list(iter_log_records(settings))
    assert len(raw) == len(records) == 1600
    assert len({r["pid"] for r in records}) == 4


def test_the_debug_level_keeps_the_compilers_passes_out(debug_settings: Settings) -> None:
    """Debug is the development profile's level; numba's compiler logs every pass of a compile at debug."""
    logging.getLogger("numba.core.ssa").debug("on stmt: var = arg(0, name=var)")
    logging.getLogger("oppscope.debugging").debug("ours at debug: written")
    assert [line["event"] for line in _lines(debug_settings)] == ["ours at debug: written"]
