"""The header row and phone column are found together: title rows, notes and blank rows above the
header are skipped, a list without a header starts with data, and --header-row overrides."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batchverify.core.header import locate_header
from batchverify.engine.plan import RunRequest, build_plan
from batchverify.errors import InputError
from batchverify.files.readers import open_table
from batchverify.files.writers import write_table
from tests.support.tables import read_rows


def numbered(rows: list[list[str]], start: int = 1) -> list[tuple[int, list[str]]]:
    return list(enumerate(rows, start=start))


def people(n: int, first_line: int) -> list[list[str]]:
    return [[f"C{i:03d}", f"客户{i}", f"138{i:08d}"] for i in range(first_line, first_line + n)]


def test_a_merged_title_row_above_the_header_is_skipped() -> None:
    rows = [["2026年12月 待核验客户名单", "", ""], ["客户编号", "姓名", "手机号码"], *people(30, 3)]
    choice = locate_header(numbered(rows))
    assert (choice.line, choice.phone_col, choice.named) == (2, 2, True)


def test_notes_and_blank_rows_above_the_header_are_skipped() -> None:
    rows = [
        ["说明：手机号码请填写 11 位", "", ""],
        ["", "", ""],
        ["编号", "姓名", "联系电话"],
        *people(30, 4),
    ]
    assert locate_header(numbered(rows)).line == 3


def test_an_unnamed_phone_column_under_a_title_still_finds_the_header_row() -> None:
    rows = [["List", "", ""], ["编号", "姓名", ""], *people(30, 3)]
    choice = locate_header(numbered(rows))
    assert (choice.line, choice.phone_col, choice.named) == (2, 2, False)


def test_a_one_column_list_without_a_header_starts_with_data() -> None:
    rows = [[f"138{i:08d}"] for i in range(40)]
    choice = locate_header(numbered(rows))
    assert (choice.line, choice.phone_col) == (0, 0)


def test_a_header_that_is_a_phone_word_is_a_header() -> None:
    rows = [["phone"], *[[f"138{i:08d}"] for i in range(40)]]
    assert locate_header(numbered(rows)).line == 1


def test_header_row_override_and_its_errors() -> None:
    rows = [["List", "", ""], ["编号", "姓名", "手机"], *people(5, 3)]
    assert locate_header(numbered(rows), header_line=2).line == 2
    with pytest.raises(InputError, match="holds a mobile number"):
        locate_header(numbered(rows), header_line=3)
    with pytest.raises(InputError, match="empty or beyond"):
        locate_header(numbered(rows), header_line=99)
    with pytest.raises(InputError, match="first row does not hold"):
        locate_header(numbered(rows), header_line=0)
    lone = [[f"138{i:08d}"] for i in range(5)]
    assert locate_header(numbered(lone), header_line=0).line == 0


def test_with_every_row_failing_the_error_speaks_of_the_most_header_like_row() -> None:
    rows = [
        ["Title", "", ""],
        ["手机", "电话", "x"],
        *[[f"138{i:08d}", f"139{i:08d}", "a"] for i in range(9)],
    ]
    with pytest.raises(InputError, match=r"several columns could hold.*A \(手机"):
        locate_header(numbered(rows))


def test_column_by_name_finds_its_header_row() -> None:
    rows = [["客户名单", "", ""], ["编号", "姓名", "电话"], *people(5, 3)]
    choice = locate_header(numbered(rows), requested_column="电话")
    assert (choice.line, choice.phone_col) == (2, 2)


# --- through the plan and the CSV writer -------------------------------------------------------


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def plan_of(path: Path, **options: object) -> object:
    request = RunRequest(input=path, output=path.with_name("out" + path.suffix), **options)  # type: ignore[arg-type]
    return build_plan(request, endpoint_identity="test")


def test_plan_counts_no_title_row_and_the_writer_keeps_it(tmp_path: Path) -> None:
    rows = [["2026年12月 待核验客户名单", "", ""], ["客户编号", "姓名", "手机号码"], *people(4, 3)]
    src = tmp_path / "list.csv"
    write_rows(src, rows)
    made = plan_of(src)
    assert made.rows == 4 and made.invalid == 0 and made.table.header_line == 2  # type: ignore[attr-defined]
    out = tmp_path / "out.csv"
    write_table(
        made.table,  # type: ignore[attr-defined]
        out,
        phone_col=2,
        columns=["mobile_status"],
        annotate=lambda cells: [["normal"] for _ in cells],
    )
    back = read_rows(out)
    assert back[0] == rows[0]  # the title row untouched
    assert back[1] == [*rows[1], "mobile_status"]
    assert all(row[-1] == "normal" for row in back[2:]) and len(back) == 6


def test_a_list_without_a_header_gets_one_and_every_number_is_verified(tmp_path: Path) -> None:
    rows = [[f"138{i:08d}"] for i in range(6)]
    src = tmp_path / "bare.csv"
    write_rows(src, rows)
    made = plan_of(src)
    assert made.rows == 6 and len(made.distinct) == 6  # type: ignore[attr-defined]
    out = tmp_path / "out.csv"
    table = open_table(src)
    table.use_header(0)
    write_table(
        table, out, phone_col=0, columns=["mobile_status"], annotate=lambda c: [["normal"] for _ in c]
    )
    back = read_rows(out)
    assert back[0] == ["", "mobile_status"]
    assert back[1:] == [[r[0], "normal"] for r in rows]
