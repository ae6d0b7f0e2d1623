"""Cells that look empty but are not, and rows that look like customers but are not: a formula a
script wrote without its value is named (with what to do), and a table's totals row is written back
as it is, never read as a customer without a number."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.table import Table as ListObject

from batchverify.engine.job import Job, plan
from batchverify.engine.plan import RunRequest
from batchverify.errors import InputError, UsageError
from tests.support.script import TARGET, Script, fast_gate, numbers


async def test_phone_formulas_without_saved_values_are_named_with_what_to_do(tmp_path: Path) -> None:
    src = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone", "raw"])
    for i, phone in enumerate(numbers(6), start=2):
        sheet.append([f"c{i}", f"=C{i}" if i % 2 else phone, phone])  # as a script writes a formula
    book.save(src)
    with pytest.raises(
        InputError, match=r"3 cells of the phone column \(B3, B5, B7\) hold a formula"
    ) as refused:
        await plan(RunRequest(input=src, output=tmp_path / "out.xlsx"), endpoint_identity="scripted")
    assert refused.value.code == "unsaved_formulas" and "open it in Excel" in str(refused.value)


async def test_formulas_excel_calculated_are_read_by_their_value(tmp_path: Path) -> None:
    """The same workbook as Excel saves it: each formula with its value (and Excel's saved empty
    text, t="str" with an empty <v>, is a value too)."""
    src = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone"])
    sheet.append(["a", "=B3"])
    sheet.append(["b", numbers(1)[0]])
    book.save(src)
    with zipfile.ZipFile(src) as archive:
        parts = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    assert "<f>B3</f><v></v>" in xml
    parts["xl/worksheets/sheet1.xml"] = xml.replace(
        "<f>B3</f><v></v>", "<f>B3</f><v>13600000001</v>"
    ).encode()
    with zipfile.ZipFile(src, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    made = await plan(RunRequest(input=src, output=tmp_path / "out.xlsx"), endpoint_identity="scripted")
    assert made.empty == 0 and len(made.distinct) == 2


async def test_a_tables_totals_row_is_kept_and_never_counted(tmp_path: Path) -> None:
    src = tmp_path / "list.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    phones = numbers(4)
    sheet.append(["name", "phone", "amount"])
    for i, phone in enumerate(phones):
        sheet.append([f"c{i}", phone, i])
    sheet.append(["Total", "=SUBTOTAL(103,[phone])", "=SUBTOTAL(109,[amount])"])
    table = ListObject(displayName="Customers", ref="A1:C6")
    table.totalsRowCount = 1
    sheet.add_table(table)
    book.save(src)
    out = tmp_path / "out.xlsx"
    made = await plan(RunRequest(input=src, output=out), endpoint_identity="scripted")
    assert (made.rows, made.empty, made.invalid, len(made.distinct)) == (4, 0, 0, 4)
    summary = await Job(made, TARGET, verifier=Script(), gate=fast_gate()).run()
    assert summary.outcome == "complete" and summary.rows == 4
    written = openpyxl.load_workbook(out)["Sheet"]
    header = [c.value for c in written[1]]
    status = header.index("mobile_status") + 1
    assert [written.cell(row=r, column=status).value for r in range(2, 6)] == ["normal"] * 4
    assert written.cell(row=6, column=1).value == "Total" and written.cell(row=6, column=status).value is None


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (
            lambda: [["name", "phone", "note"], ["a", "13800138000", "x" * 40_000]],
            "a cell of 40,000 characters",
        ),
        (lambda: [[f"h{i}" for i in range(16_380)], ["13800138000"] + [""] * 16_379], "16,394 columns"),
        (lambda: [["name", "phone"]] + [["a", "13800138000"]] * 1_048_576, "1,048,577 rows"),
    ],
    ids=["long cell", "wide", "long"],
)
async def test_a_workbook_output_beyond_excels_limits_is_refused_with_the_way_out(
    tmp_path: Path, rows: object, needle: str
) -> None:
    import csv

    src = tmp_path / "list.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows())  # type: ignore[operator]
    with pytest.raises(UsageError, match=needle) as refused:
        await plan(RunRequest(input=src, output=tmp_path / "out.xlsx"), endpoint_identity="scripted")
    assert refused.value.code == "excel_limit" and "write a CSV instead" in str(refused.value)
    made = await plan(RunRequest(input=src, output=tmp_path / "out.csv"), endpoint_identity="scripted")
    assert len(made.distinct) == 1


async def test_a_totals_row_of_a_table_beside_the_list_is_not_the_lists(tmp_path: Path) -> None:
    """A small table in D1:E5 with a totals row: row 5 of the customer list in A:B is a customer."""
    src = tmp_path / "side.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    phones = numbers(8)
    sheet.append(["name", "phone"])
    for i, phone in enumerate(phones):
        sheet.append([f"c{i}", phone])
    for row, (label, value) in enumerate([("item", "n"), ("a", 1), ("b", 2), ("c", 3)], start=1):
        sheet.cell(row=row, column=4).value = label
        sheet.cell(row=row, column=5).value = value
    sheet.cell(row=5, column=4).value = "Total"
    sheet.cell(row=5, column=5).value = "=SUBTOTAL(109,E2:E4)"
    side = ListObject(displayName="Side", ref="D1:E5")
    side.totalsRowCount = 1
    sheet.add_table(side)
    book.save(src)
    out = tmp_path / "out.xlsx"
    made = await plan(RunRequest(input=src, output=out), endpoint_identity="scripted")
    assert made.rows == 8 and len(made.distinct) == 8
    summary = await Job(made, TARGET, verifier=Script(), gate=fast_gate()).run()
    assert summary.outcome == "complete"
    written = openpyxl.load_workbook(out)["Sheet"]
    header = [c.value for c in written[1]]
    status = header.index("mobile_status") + 1
    assert [written.cell(row=r, column=status).value for r in range(2, 10)] == ["normal"] * 8
