"""The mapped format: any object graph round-trips, its large arrays and string columns come back mapped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from oppscope.engines import mapped
from oppscope.engines.mapped import StringColumn


@dataclass
class Inner:
    matrix: sparse.csr_matrix
    names: list[str]


@dataclass
class Graph:
    big: np.ndarray
    small: np.ndarray
    categories: np.ndarray
    inner: Inner
    mixed: np.ndarray
    again: np.ndarray
    extra: dict[str, object] = field(default_factory=dict)


def _graph(n: int = 20_000) -> Graph:
    rng = np.random.default_rng(3)
    big = rng.normal(size=n)
    # Duplicate entries and unsorted indices: scipy would fix them in place on first use, which a mapped
    # (read-only) matrix cannot allow.
    rows, cols = rng.integers(0, n, 3 * n), rng.integers(0, 50, 3 * n)
    matrix = sparse.csr_matrix((rng.random(3 * n), (rows, cols)), shape=(n, 50))
    matrix.has_canonical_format = False
    matrix.indices[: matrix.indptr[1]] = matrix.indices[: matrix.indptr[1]][::-1]
    return Graph(
        big=big,
        small=np.arange(5),
        categories=np.array([["retail", "banking", "energy"][i % 3] for i in range(n)], dtype=object),
        inner=Inner(matrix, [f"project number {i} — ü" for i in range(n)]),
        mixed=np.array(["a", None, 3] * 2000, dtype=object),
        again=big,
        extra={"nested": ("x", 1.5)},
    )


def _mapped(array: np.ndarray) -> bool:
    """A plain array over a file mapping (the loader hands out views, not np.memmap objects)."""
    return type(array) is np.ndarray and isinstance(array.base, np.memmap)


def test_a_graph_round_trips_with_its_large_parts_mapped(tmp_path: Path) -> None:
    original = _graph()
    expected_matrix = original.inner.matrix.toarray()
    mapped.save(original, tmp_path / "m")
    loaded = mapped.load(tmp_path / "m")
    assert isinstance(loaded, Graph)

    assert _mapped(loaded.big) and not loaded.big.flags.writeable
    np.testing.assert_array_equal(loaded.big, original.big)
    np.testing.assert_array_equal(loaded.again, original.big)
    assert type(loaded.small) is np.ndarray and loaded.small.tolist() == [0, 1, 2, 3, 4]  # small: in the pickle
    with pytest.raises(ValueError, match="read-only"):
        loaded.big[0] = 1.0

    m = loaded.inner.matrix
    assert _mapped(m.data) and _mapped(m.indices)
    np.testing.assert_allclose(m.toarray(), expected_matrix)
    np.testing.assert_allclose(m[[3, 1]].toarray(), expected_matrix[[3, 1]])
    assert m.max() == expected_matrix.max()  # scipy sums duplicates in place first: canonical before saving
    np.testing.assert_allclose(m @ np.ones(50), expected_matrix @ np.ones(50))

    assert isinstance(loaded.categories, StringColumn) and isinstance(loaded.inner.names, StringColumn)
    assert list(loaded.categories) == list(original.categories)
    assert list(loaded.inner.names) == original.inner.names
    assert loaded.mixed.tolist() == original.mixed.tolist()  # not all strings: pickled as it was
    assert loaded.extra == {"nested": ("x", 1.5)}


def test_a_loaded_graph_saves_again(tmp_path: Path) -> None:
    mapped.save(_graph(), tmp_path / "a")
    mapped.save(mapped.load(tmp_path / "a"), tmp_path / "b")
    again = mapped.load(tmp_path / "b")
    assert isinstance(again, Graph)
    assert list(again.inner.names)[:2] == ["project number 0 — ü", "project number 1 — ü"]
    assert _mapped(again.big)


@pytest.mark.parametrize("strings", [["b", "a", "b", "c"] * 3, [f"text {i} é" for i in range(12)]])
def test_a_string_column_answers_like_an_object_array(strings: list[str]) -> None:
    column = StringColumn.encode(strings)
    array = np.array(strings, dtype=object)
    assert len(column) == column.size == 12 and column.shape == (12,)
    assert column[0] == strings[0] and column[-1] == strings[-1] and column[np.int64(5)] == strings[5]
    assert column[2:7].tolist() == array[2:7].tolist()
    assert column[np.array([4, 0, 4])].tolist() == array[[4, 0, 4]].tolist()
    mask = np.arange(12) % 3 == 0
    assert column[mask].tolist() == array[mask].tolist()
    assert list(column) == strings and column.tolist() == strings
    assert np.asarray(column).tolist() == strings
    with pytest.raises(IndexError):
        column[12]


def test_a_file_outside_the_model_is_refused(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "m" / mapped.ARRAYS_DIR).mkdir(parents=True)

    class Outside:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ())

    class Forged(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return ("array", "../../etc/passwd") if isinstance(obj, Outside) else None

    with (tmp_path / "m" / mapped.PICKLE_NAME).open("wb") as f:
        Forged(f).dump([Outside()])
    with pytest.raises(pickle.UnpicklingError, match="outside"):
        mapped.load(tmp_path / "m")
