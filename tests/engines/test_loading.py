"""Loading: first-run sample, fitting once per model (also across processes), and what survives a damaged cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

from oppscope.analysis.engine import Engine
from oppscope.config import Settings, load_settings
from oppscope.engines import loading as runtime
from oppscope.engines import mapped
from oppscope.engines.cache import FileModelCache
from oppscope.history.duckdb_store import DuckDBHistoryStore
from oppscope.history.factory import open_history_store
from oppscope.history.store import HistoryError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", sample_rows=400)


def test_first_run_loads_the_sample_once(settings: Settings) -> None:
    runtime.prepare_history(settings)
    runtime.prepare_history(settings)
    with open_history_store(settings, read_only=True) as store:
        assert store.row_count() == 400
    assert runtime.sample_marker(settings) is not None


def test_production_never_loads_the_sample(tmp_path: Path) -> None:
    prod = load_settings(profile="production", data_dir=tmp_path / "data")
    runtime.prepare_history(prod)
    assert not prod.history_path.exists()


def test_fitted_engine_is_cached_and_reused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.prepare_history(settings)
    first = runtime.load_engine(settings)
    cache = FileModelCache(settings.model_cache_dir)
    assert cache.contains(first.model_id)
    assert sorted(p.name for p in settings.model_cache_dir.iterdir()) == sorted([first.model_id, "locks"])

    def unexpected(*_: object, **__: object) -> NoReturn:
        raise AssertionError("the cached engine should have been used, without reading the history")

    monkeypatch.setattr(Engine, "fit", unexpected)
    monkeypatch.setattr(DuckDBHistoryStore, "fetch_columns", unexpected)
    assert runtime.load_engine(settings).model_id == first.model_id


def test_a_damaged_cache_is_refitted(settings: Settings) -> None:
    runtime.prepare_history(settings)
    engine = runtime.load_engine(settings)
    pickled = settings.model_cache_dir / engine.model_id / "object.pkl"
    pickled.write_bytes(pickled.read_bytes()[:100])
    assert runtime.load_engine(settings).model_id == engine.model_id
    assert pickled.stat().st_size > 100


def test_an_empty_history_is_a_clear_error(tmp_path: Path) -> None:
    empty = load_settings(profile="production", data_dir=tmp_path / "data")
    with pytest.raises(HistoryError) as err:
        runtime.load_engine(empty)
    assert err.value.code in {"history_empty", "history_missing"}


def test_concurrent_processes_fit_a_model_once(settings: Settings) -> None:
    """Server workers starting together on a new history: one fits, the others wait and read its cache."""
    runtime.prepare_history(settings)
    code = (
        "import sys\n"
        "from oppscope.config import load_settings\n"
        "from oppscope.engines import loading as runtime\n"
        "fitted = []\n"
        "original = runtime.Engine.fit\n"
        "runtime.Engine.fit = lambda *a, **k: fitted.append(1) or original(*a, **k)\n"
        f"engine = runtime.load_engine(load_settings(data_dir={str(settings.data_dir)!r}, "
        f"sample_rows={settings.sample_rows}))\n"
        "print(len(fitted), engine.snapshot_id)\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    results = [worker.communicate(timeout=300)[0].strip().splitlines()[-1].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert sum(int(fits) for fits, _ in results) == 1
    assert len({snapshot for _, snapshot in results}) == 1


_FIRST_ANALYSIS = """
import sys
from pathlib import Path
from oppscope.analysis.patterns import PATTERNS, restate
from oppscope.analysis.resolve import history_row_as_opportunity
from oppscope.analysis.similarity import _compiled_scan
from oppscope.engines import mapped

engine = mapped.load(Path(sys.argv[1]))
before = len(_compiled_scan().signatures)
engine.warm()
warmed = len(_compiled_scan().signatures)
engine.analyze(restate(history_row_as_opportunity(engine.history, 0), PATTERNS[0]))  # as a seller types it
print(before, warmed, len(_compiled_scan().signatures))
"""


def test_a_warmed_model_compiles_nothing_on_its_first_analysis(engine: Engine, tmp_path: Path) -> None:
    """The worker's first request after a switch must not wait for the scan's compilation (a fresh process: the
    compiled signatures are per process)."""
    mapped.save(engine, tmp_path / "model")
    out = subprocess.run([sys.executable, "-c", _FIRST_ANALYSIS, str(tmp_path / "model")], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["0", "1", "1"]
