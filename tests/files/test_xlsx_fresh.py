"""write_new_workbook: new workbooks streamed row by row, read back with openpyxl and calamine."""

from __future__ import annotations

import datetime
import warnings
import zipfile
from pathlib import Path

import openpyxl
import python_calamine

from batchverify.files.xlsx import (
    ExtraSheet,
    NewSheet,
    Presentation,
    ResultColumn,
    StatusColours,
    write_new_workbook,
)


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return openpyxl.load_workbook(path)


def test_new_workbook_types_styles_and_extra_sheet(tmp_path: Path) -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    rows: list[list[object]] = [
        ["name", "phone", "n", "status", "checked"],
        ["张三", "007", 1.5, "normal", "2026-11-26T23:01:59Z"],
        ["=1+1", "13800138000", when, "bad", None],
        [True, "", datetime.date(2026, 1, 2), None, ""],
    ]
    pres = Presentation(
        columns=(),
        colours=StatusColours(3, (3,), ((("normal",), "FFC6EFCE", "FF006100"),)),
        tz=datetime.timezone(datetime.timedelta(hours=8)),
        extra_sheet=lambda: ExtraSheet("Summary", [["rows", 3], ["ok", True]]),
    )
    out = tmp_path / "new.xlsx"
    write_new_workbook(
        out,
        [
            NewSheet(
                "Result",
                iter(rows),
                result_columns={3: ResultColumn(10), 4: ResultColumn(22, "datetime")},
                presentation=pres,
            ),
            NewSheet("Raw", iter([["a", 1], ["b", 2]]), header_row=0),
        ],
    )
    wb = load(out)
    assert wb.sheetnames == ["Result", "Raw", "Summary"]  # the summary sheet comes last
    ws = wb["Result"]
    got = [list(r) for r in ws.iter_rows(values_only=True)]
    assert got[0] == ["name", "phone", "n", "status", "checked"]
    assert got[1] == ["张三", "007", 1.5, "normal", datetime.datetime(2026, 11, 27, 7, 1, 59)]
    assert got[2] == ["=1+1", "13800138000", when, "bad", None]
    assert got[3][:3] == [True, None, datetime.datetime(2026, 1, 2)]
    assert ws["A1"].font.b and ws["B2"].number_format == "@" and ws["A2"].number_format == "General"
    assert ws["E2"].number_format == 'yyyy-mm-dd hh:mm:ss "UTC+08:00"'
    assert ws.auto_filter.ref == "A1:E4"
    assert ws.column_dimensions["D"].width == 10
    assert 6 <= ws.column_dimensions["A"].width <= 60
    assert [str(c.sqref) for c in ws.conditional_formatting] == ["D2:D4"]
    assert wb["Summary"]["A1"].font.b and wb["Summary"]["B2"].value is True
    raw = wb["Raw"]
    assert [list(r) for r in raw.iter_rows(values_only=True)] == [["a", 1], ["b", 2]]
    assert not raw["A1"].font.b and raw.auto_filter.ref is None
    cal = python_calamine.CalamineWorkbook.from_path(str(out)).get_sheet_by_name("Result").to_python()
    assert cal[1][:3] == ["张三", "007", 1.5] and cal[2][0] == "=1+1"
    with zipfile.ZipFile(out) as z:
        assert z.namelist()[0] == "[Content_Types].xml"
        assert b"_xlnm._FilterDatabase" in z.read("xl/workbook.xml")


def test_many_rows_streamed(tmp_path: Path) -> None:
    out = tmp_path / "big.xlsx"
    rows = ([f"r{i}", str(13800000000 + i)] for i in range(20000))
    write_new_workbook(out, [NewSheet("S", rows, header_row=0)])
    sheet = python_calamine.CalamineWorkbook.from_path(str(out)).get_sheet_by_name("S").to_python()
    assert len(sheet) == 20000 and sheet[-1] == ["r19999", "13800019999"]
