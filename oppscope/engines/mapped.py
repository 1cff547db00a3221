"""Any object graph saved as a small pickle plus ``.npy`` files that every process maps instead of copying.

A fitted engine at a million history rows holds about a gigabyte of numeric arrays and tens of millions of
strings. Unpickled, each server worker would own a private copy of all of it. Saved here, the large arrays
(also those inside scipy sparse matrices and any other object, since this works on pickle's own traversal,
not on the engine's field names) are written as ``.npy`` files and loaded with ``mmap_mode="r"``: the pages
live once in the kernel's page cache, shared by every worker, and loading costs no copying. Large string
columns (object arrays or lists of ``str``) become a read-only :class:`StringColumn` over mapped bytes, so the
strings are made on access instead of being held as millions of Python objects. What remains is pickled.

Loaded arrays are read-only: an engine that tried to change one in place would fail loudly instead of
silently un-sharing its pages.
"""

from __future__ import annotations

import operator
import pickle
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from scipy import sparse

PICKLE_NAME = "object.pkl"
ARRAYS_DIR = "arrays"
# Below these sizes a separate file costs more (an open and a mapping per array) than copying saves.
MIN_MAPPED_BYTES = 64 * 1024
MIN_STRING_COLUMN = 4096


class StringColumn:
    """A read-only sequence of strings stored as UTF-8 bytes and offsets, or as codes into distinct values.

    It answers what a one-dimensional object array of ``str`` answers for the engine's use: ``len``, an item by
    position, a subset by slice or by an index or mask array (as an object array), iteration, and ``__array__``
    for anything else (which builds the full array: correct, but slower, so a code path that needs it shows in
    the benchmarks).
    """

    dtype = np.dtype(object)
    ndim = 1

    def __init__(
        self,
        *,
        data: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
        codes: np.ndarray | None = None,
        values: Sequence[str] = (),
    ) -> None:
        self._data, self._offsets = data, offsets
        self._codes, self._values = codes, tuple(values)
        self._n = len(codes) if codes is not None else len(offsets) - 1 if offsets is not None else 0

    @classmethod
    def encode(cls, strings: Sequence[str]) -> StringColumn:
        """Distinct values with codes when values repeat (categories), else one UTF-8 buffer with offsets."""
        distinct: dict[str, int] = {}
        for s in strings:
            distinct.setdefault(s, len(distinct))
            if len(distinct) > len(strings) // 2:
                break
        else:
            dtype = np.int32 if len(distinct) < 2**31 else np.int64
            codes = np.fromiter((distinct[s] for s in strings), dtype=dtype, count=len(strings))
            return cls(codes=codes, values=list(distinct))
        encoded = [s.encode() for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return cls(data=np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets=offsets)

    def arrays(self) -> dict[str, np.ndarray]:
        if self._codes is not None:
            return {"codes": self._codes}
        assert self._data is not None and self._offsets is not None
        return {"data": self._data, "offsets": self._offsets}

    @property
    def values(self) -> tuple[str, ...]:
        return self._values

    @property
    def shape(self) -> tuple[int]:
        return (self._n,)

    @property
    def size(self) -> int:
        return self._n

    def __len__(self) -> int:
        return self._n

    def _item(self, i: int) -> str:
        if self._codes is not None:
            return self._values[int(self._codes[i])]
        assert self._data is not None and self._offsets is not None
        start, end = self._offsets[i], self._offsets[i + 1]
        return bytes(self._data[start:end]).decode()

    def __getitem__(self, key: Any) -> Any:
        """A ``str`` for a position; an object array of them for a slice, an index array or a boolean mask."""
        if isinstance(key, slice):
            positions: Sequence[int] | np.ndarray = range(self._n)[key]
        elif isinstance(key, np.ndarray | list | tuple):
            index = np.asarray(key)
            positions = np.flatnonzero(index) if index.dtype == bool else index
        else:
            i = operator.index(key)
            if not -self._n <= i < self._n:
                raise IndexError(f"index {i} out of range for {self._n} strings")
            return self._item(i % self._n)
        out = np.empty(len(positions), dtype=object)
        out[:] = [self._item(int(i) % self._n) for i in positions]
        return out

    def __iter__(self) -> Iterator[str]:
        # Whole-column walks (counting a vocabulary over a million rows) are worth not going through _item.
        if self._codes is not None:
            values = self._values
            return (values[c] for c in self._codes.tolist())
        assert self._data is not None and self._offsets is not None
        view = self._data.data  # the bytes themselves, not a copy
        return (str(view[a:b], "utf-8") for a, b in pairwise(self._offsets.tolist()))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        whole: np.ndarray = self[:]
        return whole if dtype is None else whole.astype(dtype)

    def tolist(self) -> list[str]:
        return list(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled outside :func:`save` (a copy to another process): as the plain list it stands for."""
        return (list, (self.tolist(),))


def _is_string_column(obj: object) -> bool:
    if isinstance(obj, StringColumn):
        return True
    if isinstance(obj, np.ndarray):
        if obj.dtype != object or obj.ndim != 1 or obj.size < MIN_STRING_COLUMN:
            return False
    elif type(obj) not in (list, tuple) or len(obj) < MIN_STRING_COLUMN:  # type: ignore[arg-type]
        return False
    return all(type(s) is str for s in obj)  # type: ignore[attr-defined]


class _Saver(pickle.Pickler):
    def __init__(self, file: BinaryIO, directory: Path) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._dir = directory
        self._count = 0
        self._saved: dict[int, tuple[object, ...]] = {}
        self._alive: list[object] = []  # ids stay unique only while their objects live

    def _write(self, array: np.ndarray) -> str:
        name = f"{self._count:05d}.npy"
        self._count += 1
        np.save(self._dir / name, np.ascontiguousarray(array), allow_pickle=False)
        return name

    def persistent_id(self, obj: Any) -> tuple[object, ...] | None:
        if sparse.issparse(obj) and obj.format in ("csr", "csc") and not obj.has_canonical_format:
            # scipy sorts indices in place on first use; mapped arrays are read-only, so do it before saving.
            obj.sum_duplicates()
            return None
        key = id(obj)
        if key in self._saved:
            return self._saved[key]
        pid: tuple[object, ...]
        if type(obj) in (np.ndarray, np.memmap) and not obj.dtype.hasobject and obj.nbytes >= MIN_MAPPED_BYTES:
            pid = ("array", self._write(obj))
        elif _is_string_column(obj):
            column = obj if isinstance(obj, StringColumn) else StringColumn.encode(obj)
            files = {part: self._write(array) for part, array in column.arrays().items()}
            pid = ("strings", files, column.values)
        else:
            return None
        self._saved[key] = pid
        self._alive.append(obj)
        return pid


class _Loader(pickle.Unpickler):
    def __init__(self, file: BinaryIO, directory: Path) -> None:
        super().__init__(file)
        self._dir = directory

    def _map(self, name: str) -> np.ndarray:
        if Path(name).name != name:
            raise pickle.UnpicklingError(f"array file {name!r} is outside the model directory")
        # A plain read-only view of the mapping (which it keeps alive): np.memmap's Python-level __getitem__ and
        # __array_finalize__ cost microseconds per item, and an analysis reads hundreds of single items.
        array: np.ndarray = np.asarray(np.load(self._dir / name, mmap_mode="r", allow_pickle=False))
        return array

    def persistent_load(self, pid: Any) -> object:
        match pid:
            case ("array", str(name)):
                return self._map(name)
            case ("strings", dict(files), values):
                return StringColumn(**{part: self._map(name) for part, name in files.items()}, values=values)
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def save(obj: object, directory: Path) -> None:
    """Write ``obj`` into the empty ``directory``: its pickle and one ``.npy`` file per large array."""
    arrays = directory / ARRAYS_DIR
    arrays.mkdir(parents=True)
    with (directory / PICKLE_NAME).open("wb") as f:
        _Saver(f, arrays).dump(obj)


def load(directory: Path) -> object:
    """What :func:`save` wrote, its large arrays mapped read-only from the files (nothing is copied)."""
    with (directory / PICKLE_NAME).open("rb") as f:
        return _Loader(f, directory / ARRAYS_DIR).load()


def files_of(directory: Path) -> list[Path]:
    """Every file :func:`save` wrote, for syncing them to disk before the directory is published."""
    return [directory / PICKLE_NAME, *sorted((directory / ARRAYS_DIR).iterdir())]
