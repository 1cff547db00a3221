"""What every ``ModelCache`` backend must do, run against each one in ``MODEL_CACHES``.

A new backend adds itself to that table and passes this suite unchanged.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oppscope.analysis.engine import Engine
from oppscope.config import load_settings
from oppscope.engines import loading, mapped
from oppscope.engines.cache import MODEL_CACHES
from oppscope.engines.interfaces import ModelCache, Published
from oppscope.wiring import open_services
from tests.contract import verify_class
from tests.examples import OPPORTUNITY


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("fitted") / "data", sample_rows=400)
    loading.prepare_history(settings)
    return loading.load_engine(settings)


@pytest.fixture(autouse=True)
def map_small_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 400-row engine has no array as large as a real one: map its columns, so the mapped path is what runs."""
    monkeypatch.setattr(mapped, "MIN_MAPPED_BYTES", 3000)
    monkeypatch.setattr(mapped, "MIN_STRING_COLUMN", 100)


@pytest.fixture(params=sorted(MODEL_CACHES))
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def cache(backend: str, tmp_path: Path) -> Iterator[ModelCache]:
    """The cache as the wiring builds it for ``model_cache_backend``."""
    with open_services(load_settings(data_dir=tmp_path / "data", model_cache_backend=backend)) as services:
        yield services.model_cache


def _analysis(engine: Engine) -> dict[str, object]:
    from oppscope.analysis.contracts import Opportunity

    return engine.analyze(Opportunity.model_validate(OPPORTUNITY)).model_dump(
        mode="json", exclude={"provenance": {"created_at"}}
    )


def test_the_backend_implements_the_protocol(cache: ModelCache) -> None:
    verify_class(ModelCache, type(cache))


def test_an_empty_cache_holds_nothing(cache: ModelCache, engine: Engine) -> None:
    assert not cache.contains(engine.model_id)
    assert cache.load(engine.model_id) is None
    assert cache.published() is None


def test_a_saved_engine_loads_and_answers_the_same(cache: ModelCache, engine: Engine) -> None:
    cache.save(engine)
    assert cache.contains(engine.model_id)
    loaded = cache.load(engine.model_id)
    assert loaded is not None and loaded is not engine
    assert (loaded.model_id, loaded.snapshot_id) == (engine.model_id, engine.snapshot_id)
    assert _analysis(loaded) == _analysis(engine)


def test_saving_again_keeps_one_readable_copy(cache: ModelCache, engine: Engine) -> None:
    cache.save(engine)
    cache.save(engine)
    loaded = cache.load(engine.model_id)
    assert loaded is not None and _analysis(loaded) == _analysis(engine)


def test_a_failed_save_leaves_no_model(cache: ModelCache, engine: Engine) -> None:
    """Saving fails part-way (an attribute pickled last cannot be): nothing of it is visible as a model."""
    broken = copy.copy(engine)
    broken.__dict__["unsaveable"] = threading.Lock()
    with pytest.raises(TypeError):
        cache.save(broken)
    assert not cache.contains(engine.model_id)
    assert cache.load(engine.model_id) is None


def test_fitting_is_exclusive(cache: ModelCache, engine: Engine) -> None:
    """A second fitter of the same model waits until the first is done (and then finds it saved)."""
    events: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with cache.fitting(engine.model_id):
            first_in.set()
            time.sleep(0.5)
            cache.save(engine)
            events.append("first done")

    def second() -> None:
        first_in.wait(10)
        with cache.fitting(engine.model_id):
            events.append(f"second in, saved={cache.contains(engine.model_id)}")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert events == ["first done", "second in, saved=True"]


def test_publish_names_a_saved_model_for_every_reader(
    cache: ModelCache, engine: Engine, backend: str, tmp_path: Path
) -> None:
    wanted = Published(engine.model_id, engine.snapshot_id)
    with pytest.raises(ValueError):
        cache.publish(wanted)  # not saved yet
    assert cache.published() is None
    cache.save(engine)
    cache.publish(wanted)
    assert cache.published() == wanted
    other_process_view = MODEL_CACHES[backend](load_settings(data_dir=tmp_path / "data"))
    assert other_process_view.published() == wanted


def test_prune_removes_all_but_the_kept(cache: ModelCache, engine: Engine) -> None:
    cache.save(engine)
    assert cache.prune({engine.model_id}) == []
    assert cache.contains(engine.model_id)
    assert cache.prune(set()) == [engine.model_id]
    assert not cache.contains(engine.model_id)


def test_a_damaged_model_is_not_loaded(cache: ModelCache, engine: Engine, tmp_path: Path) -> None:
    cache.save(engine)
    for path in (tmp_path / "data").rglob(mapped.PICKLE_NAME):
        path.write_bytes(path.read_bytes()[:50])
    assert cache.load(engine.model_id) is None
