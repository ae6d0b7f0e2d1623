"""The plan's packed numbers: the list's order of first occurrence, plain ints out, membership."""

from __future__ import annotations

import json
import sqlite3
from array import array

from batchverify.core.numberset import DistinctCount, NumberSet, first_occurrences


def test_first_occurrences_keep_the_lists_order_and_drop_repeats() -> None:
    rows = [13900000003, 13500000001, 13900000003, 18600000002, 13500000001, 13700000000]
    numbers = first_occurrences(array("q", rows))
    assert list(numbers) == [13900000003, 13500000001, 18600000002, 13700000000]
    assert len(numbers) == 4 and numbers == [13900000003, 13500000001, 18600000002, 13700000000]
    assert len(first_occurrences(array("q"))) == 0 and not first_occurrences(array("q"))


def test_numbers_come_out_as_plain_ints_that_sqlite_and_json_take() -> None:
    numbers = NumberSet(range(13500000000, 13500200000))  # past one iteration chunk
    out = list(numbers)
    assert len(out) == 200_000 and all(type(n) is int for n in out[:3] + out[-3:])
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (n INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", ((n,) for n in numbers))
    assert con.execute("SELECT count(*), max(n) FROM t").fetchone() == (200_000, 13500199999)
    assert json.dumps(next(iter(numbers))) == "13500000000"


def test_membership_and_removal() -> None:
    numbers = NumberSet([18600000002, 13500000001, 13900000003])
    assert 13500000001 in numbers and 13500000002 not in numbers and "13500000001" not in numbers
    rest = numbers.without({13500000001: None})
    assert list(rest) == [18600000002, 13900000003] and 13500000001 not in rest
    assert numbers.without(()) is numbers and list(numbers.without(numbers)) == []
    assert NumberSet() == [] and NumberSet([1, 2]) != [2, 1]


def test_a_distinct_count_counts_each_number_once_and_may_be_asked_again() -> None:
    count = DistinctCount()
    assert len(count) == 0
    for number in (13900000003, 13500000001, 13900000003, 13500000001, 18600000002):
        count.add(number)
    assert len(count) == 3
    count.add(13700000000)
    count.add(18600000002)
    assert len(count) == 4 and len(count) == 4  # sorting in place to count loses nothing


def test_the_numbers_ascending_are_every_number_once_from_the_smallest() -> None:
    numbers = first_occurrences(array("q", [18600000002, 13500000001, 18600000002, 13700000000]))
    assert list(numbers.ascending()) == [13500000001, 13700000000, 18600000002]
    assert list(numbers) == [18600000002, 13500000001, 13700000000]  # its own order is kept
    assert 13700000000 in numbers and 13700000001 not in numbers
    assert list(NumberSet().ascending()) == []
