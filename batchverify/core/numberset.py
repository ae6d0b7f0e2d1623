"""A list's distinct phone numbers, packed: 8 bytes a number in the list's order.

A dict of two million Python ints held about 150 MB (its table and an int object per number), and a
job holds two of them (every distinct number, and those to send): the server's memory grew with the
size of a list. Iterating gives plain ``int`` (SQLite and JSON take them as they are); ``in`` looks
the number up in a sorted copy made on first use.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DistinctCount", "NumberSet", "first_occurrences"]

_CHUNK = 65_536  # numbers turned into Python ints at a time while iterating


def _np() -> Any:
    import numpy  # here: the command line's start-up (--help, --version) never pays for it

    return numpy


class NumberSet(Collection[int]):
    """Distinct numbers in a fixed order (the list's, or any given)."""

    __slots__ = ("_order", "_sorted")

    def __init__(self, numbers: Iterable[int] | npt.NDArray[np.int64] = ()) -> None:
        np_ = _np()
        if isinstance(numbers, np_.ndarray):
            order = numbers.astype(np_.int64, copy=False)
        else:
            packed = numbers if isinstance(numbers, array) else array("q", numbers)
            # A copy: a view would hold the caller's array, which could then never grow again.
            order = np_.frombuffer(packed, dtype=np_.int64).copy() if packed else np_.empty(0, np_.int64)
        self._order: npt.NDArray[np.int64] = order
        self._sorted: npt.NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self._order.size)

    def __iter__(self) -> Iterator[int]:
        order = self._order
        for start in range(0, order.size, _CHUNK):
            yield from order[start : start + _CHUNK].tolist()

    def ascending(self) -> Iterator[int]:
        """The numbers from the smallest (SQLite inserts them into a keyed table 3x faster)."""
        ordered = self._ascending()
        for start in range(0, ordered.size, _CHUNK):
            yield from ordered[start : start + _CHUNK].tolist()

    def _ascending(self) -> npt.NDArray[np.int64]:
        if self._sorted is None:
            self._sorted = _np().sort(self._order)
        return self._sorted

    def __contains__(self, number: object) -> bool:
        index = getattr(number, "__index__", None)  # an int, or numpy's
        if index is None or isinstance(number, bool) or not self._order.size:
            return False
        number = int(index())
        ordered = self._ascending()
        where = int(ordered.searchsorted(number))
        return where < ordered.size and int(ordered[where]) == number

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NumberSet):
            return bool(_np().array_equal(self._order, other._order))
        if isinstance(other, list | tuple):
            return len(other) == len(self) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"NumberSet({len(self)} numbers)"

    def where(self, keep: npt.NDArray[np.bool_]) -> NumberSet:
        """The numbers where ``keep`` is true, in the same order."""
        return NumberSet(self._order[keep])

    def without(self, drop: Collection[int]) -> NumberSet:
        """The numbers not in ``drop``, in the same order."""
        if not drop:
            return self
        np_ = _np()
        gone = np_.fromiter(drop, dtype=np_.int64, count=len(drop))
        return NumberSet(self._order[~np_.isin(self._order, gone)])


def first_occurrences(seen: array[int]) -> NumberSet:
    """The distinct numbers of ``seen`` (every valid row's number, duplicates included) in the order
    each first appears."""
    np_ = _np()
    if not seen:
        return NumberSet()
    rows = np_.frombuffer(seen, dtype=np_.int64)
    _unique, first = np_.unique(rows, return_index=True)  # the first of each: a stable sort
    first.sort()
    return NumberSet(rows[first])


class DistinctCount:
    """How many distinct numbers were added: 8 bytes a row, counted once when asked (a set held
    about 70 bytes a number: 140 MB for the two million pending numbers of a stopped job)."""

    def __init__(self) -> None:
        self._numbers = array("q")

    def add(self, number: int) -> None:
        self._numbers.append(number)

    def __len__(self) -> int:
        if not self._numbers:
            return 0
        import numpy as np  # here: the engine's start-up never pays for it

        # Sorted in place and counted where a number changes: np.unique's copies of two million
        # numbers stayed in the process's heap (60 MB) after it returned.
        rows = np.frombuffer(self._numbers, dtype=np.int64)
        rows.sort()
        return 1 + int(np.count_nonzero(rows[1:] != rows[:-1]))
