"""write_table round trips: every original cell intact, result columns added or replaced, atomic."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import openpyxl
import pytest

from batchverify.core.normalize import normalize_mobile
from batchverify.errors import OutputError
from batchverify.files.readers import Table, open_table
from batchverify.files.writers import CellValue, write_table

COLUMNS = [
    "mobile_normalized",
    "mobile_status",
    "mobile_billable",
    "mobile_status_code",
    "mobile_description",
]


def annotate(cells: list[str]) -> list[list[CellValue]]:
    """A stand-in for the pipeline: normalizes, and returns every kind of value."""
    out: list[list[CellValue]] = []
    for cell in cells:
        norm = normalize_mobile(cell)
        if norm.number is None:
            out.append(["", str(norm.status), False, None, norm.reason])
        else:
            out.append([norm.number, "normal", True, 0, "成功"])
    return out


def write(table: Table, out: Path, phone_col: int = 1, output_encoding: str | None = None) -> int:
    return write_table(
        table, out, phone_col=phone_col, columns=COLUMNS, annotate=annotate, output_encoding=output_encoding
    )


# --- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "suffix", "delimiter", "newline"),
    [
        ("utf-8-sig", ".csv", ",", "\r\n"),
        ("utf-8", ".csv", ",", "\n"),
        ("gbk", ".csv", ",", "\r\n"),
        ("utf-8", ".csv", ";", "\r\n"),
        ("utf-8", ".tsv", "\t", "\n"),
        ("utf-16", ".txt", "\t", "\r\n"),
    ],
)
def test_csv_round_trip_keeps_format_and_cells(
    tmp_path: Path, encoding: str, suffix: str, delimiter: str, newline: str
) -> None:
    rows = [
        ["客户编号", "手机号码", "备注", "余额"],
        ["007", "138-0013-8000", "NA", "12,50"],
        ["008", "+86 139 0000 0001", "null", ""],
        ["009", "1.38001E+10", f'多行\n备注{delimiter}含分隔符 "引号"', "0"],
        ["010"],  # ragged: short
        ["011", "13800138000", "x", "1", "extra", "more"],  # ragged: long
    ]

    def quote(cell: str) -> str:
        needs = any(ch in cell for ch in (delimiter, '"', "\n"))
        return '"' + cell.replace('"', '""') + '"' if needs else cell

    text = "".join(delimiter.join(quote(c) for c in row) + newline for row in rows)
    src = tmp_path / f"in{suffix}"
    src.write_bytes(text.encode(encoding))
    table = open_table(src)
    out = tmp_path / f"out{suffix}"
    assert write(table, out) == 5

    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    if encoding == "gbk":
        data.decode("gbk")  # still GBK: no UTF-8 crept in
    back = open_table(out)
    assert back.format.delimiter == delimiter
    assert back.format.lineterminator == newline
    assert back.format.encoding == table.format.encoding
    got = [r.cells for r in back.records()]
    width = 6  # the widest row; result columns come after it
    assert got[0] == rows[0] + ["", ""] + COLUMNS
    for original, written in zip(rows[1:], got[1:], strict=True):
        assert written[: len(original)] == original  # every original cell exactly as it was
        assert written[len(original) : width] == [""] * (width - len(original))
    assert got[1][width:] == ["13800138000", "normal", "true", "0", "成功"]
    assert got[3][width:] == [
        "",
        "invalid_number",
        "false",
        "",
        "scientific notation lost digits (never guessed)",
    ]
    assert got[4][width:] == ["", "empty", "false", "", "empty"]


def test_csv_blank_rows_stay_blank(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,phone\n1,13800138000\n\n2,13800138001\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert write(open_table(src), out) == 2  # the blank record is written back, not counted
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[2] == ""
    assert lines[3].startswith("2,13800138001,13800138001,normal")


def test_previous_output_columns_are_replaced_in_place(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,phone,note\n1,13800138000,a\n2,138 0013 8001,b\n", encoding="utf-8")
    first = tmp_path / "first.csv"
    write(open_table(src), first)
    second = tmp_path / "second.csv"
    write(open_table(first), second)
    assert second.read_bytes() == first.read_bytes()
    header = next(r.cells for r in open_table(second).records())
    assert header == ["id", "phone", "note", *COLUMNS]


def test_partial_previous_output_keeps_positions(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("mobile_status,id,phone\nold,1,13800138000\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    write(open_table(src), out, phone_col=2)
    rows = [r.cells for r in open_table(out).records()]
    assert rows[0] == ["mobile_status", "id", "phone", "mobile_normalized", "mobile_billable", *COLUMNS[3:]]
    assert rows[1][:3] == ["normal", "1", "13800138000"]


def test_csv_formula_text_from_the_api_is_neutralised(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("phone,note\n13800138000,=SUM(A1)\n13800138001,x\n", encoding="utf-8")

    def hostile(cells: list[str]) -> list[list[CellValue]]:
        return [['=HYPERLINK("http://x")', "+cmd", "-2", "@x", "\tx"] for _ in cells]

    out = tmp_path / "out.csv"
    write_table(open_table(src), out, phone_col=0, columns=COLUMNS, annotate=hostile)
    rows = [r.cells for r in open_table(out).records()]
    assert rows[1][1] == "=SUM(A1)"  # the customer's own cell is never touched
    assert rows[1][2:] == ['\'=HYPERLINK("http://x")', "'+cmd", "-2", "'@x", "'\tx"]


def test_output_encoding_override_and_unencodable_value(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes("姓名,手机\n张三,13800138000\n".encode("gbk"))
    table = open_table(src)
    out = tmp_path / "out.csv"
    write(table, out, phone_col=1, output_encoding="utf-8-sig")
    assert out.read_bytes().startswith("\ufeff姓名".encode())

    def emoji(cells: list[str]) -> list[list[CellValue]]:
        return [["😀", "", None, None, "正常😀"] for _ in cells]

    # A result value (text from the API) that the encoding cannot hold never makes the output
    # unwritable: what it cannot hold becomes "?".
    gbk_out = tmp_path / "gbk.csv"
    write_table(table, gbk_out, phone_col=1, columns=COLUMNS, annotate=emoji, output_encoding="gbk")
    assert gbk_out.read_bytes().decode("gbk").splitlines()[1] == "张三,13800138000,?,,,,正常?"

    # The customer's own cell is never changed: one the encoding cannot hold is an error, and
    # nothing is left behind.
    src.write_text("姓名,手机\n张三😀,13800138000\n", encoding="utf-8")
    ascii_out = tmp_path / "ascii.csv"
    with pytest.raises(OutputError, match=r"output_encoding= utf-8") as info:
        write(open_table(src), ascii_out, phone_col=1, output_encoding="gbk")
    assert "\n" not in str(info.value)
    assert not ascii_out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_leaves_existing_output_untouched(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("phone\n" + "13800138000\n" * 20, encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("previous result\n", encoding="utf-8")
    os.chmod(out, 0o640)
    calls = 0

    def failing(cells: list[str]) -> list[list[CellValue]]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("API store went away")
        return annotate(cells)

    with pytest.raises(RuntimeError):
        write_table(open_table(src), out, phone_col=0, columns=COLUMNS, annotate=failing, batch_size=5)
    assert out.read_text(encoding="utf-8") == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
    # A successful write replaces it and keeps its permissions.
    write_table(open_table(src), out, phone_col=0, columns=COLUMNS, annotate=annotate, batch_size=5)
    assert out.read_text(encoding="utf-8").count("13800138000,normal") == 20
    assert out.stat().st_mode & 0o777 == 0o640


def test_batches_cover_every_row(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("phone\n" + "".join(f"1380013{i:04d}\n" for i in range(23)), encoding="utf-8")
    sizes: list[int] = []

    def counting(cells: list[str]) -> list[list[CellValue]]:
        sizes.append(len(cells))
        return annotate(cells)

    out = tmp_path / "out.csv"
    table = open_table(src)
    assert write_table(table, out, phone_col=0, columns=COLUMNS, annotate=counting, batch_size=10) == 23
    assert sizes == [10, 10, 3]


def test_bad_targets(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("phone\n13800138000\n", encoding="utf-8")
    table = open_table(src)
    with pytest.raises(OutputError, match="is the input itself"):
        write(table, src, phone_col=0)
    with pytest.raises(OutputError, match="does not exist"):
        write(table, tmp_path / "no" / "out.csv", phone_col=0)
    with pytest.raises(OutputError, match="is a directory"):
        write(table, tmp_path, phone_col=0)


def test_annotate_must_answer_every_record(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("phone\n13800138000\n", encoding="utf-8")
    with pytest.raises(ValueError, match="annotate returned too few rows for 1 records"):
        write_table(open_table(src), tmp_path / "o.csv", phone_col=0, columns=COLUMNS, annotate=lambda c: [])
    assert not (tmp_path / "o.csv").exists()


# --- XLSX -----------------------------------------------------------------------------------------


def make_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户"
    sheet.append(["客户编号", "姓名", "手机号码", "开户日期", "余额", "备注"])
    for cell in sheet[1]:
        cell.font = openpyxl.styles.Font(bold=True)
    sheet.append(["007", "张三", 13800138000, dt.date(2024, 3, 1), 12.5, "NA"])
    sheet.append(["008", "李四", "+86 139 0000 0001", dt.date(2024, 3, 2), 0, "null"])
    sheet.append([None] * 6)
    sheet.append(["009", "王五", "1.38001E+10", None, -1, "=1+1"])  # a real formula of the customer's
    sheet["C2"].number_format = "0"
    sheet.column_dimensions["B"].width = 30
    other = book.create_sheet("说明")
    other["A1"] = "本表说明"
    other["B2"] = 42
    other["A1"].font = openpyxl.styles.Font(italic=True)
    book.save(path)
    return path


def snapshot(path: Path) -> dict[str, list[tuple[object, str, str]]]:
    book = openpyxl.load_workbook(path)
    return {
        ws.title: [(c.value, c.data_type, c.number_format) for row in ws.iter_rows() for c in row]
        for ws in book
    }


def test_xlsx_round_trip_in_place(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    before = snapshot(src)
    out = tmp_path / "out.xlsx"
    table = open_table(src)
    assert write(table, out, phone_col=2) == 3  # data rows; the blank one is written, not counted

    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["客户", "说明"]
    sheet = book["客户"]
    # Every original cell: same value, same type, same number format.
    for row in sheet.iter_rows(max_col=6):
        for cell in row:
            value, data_type, number_format = before["客户"][(cell.row - 1) * 6 + cell.column - 1]
            assert (cell.value, cell.data_type, cell.number_format) == (value, data_type, number_format)
    assert sheet["C2"].value == 13800138000 and sheet["C2"].data_type == "n"
    assert sheet["F5"].value == "=1+1" and sheet["F5"].data_type == "f"
    assert sheet.column_dimensions["B"].width == 30
    assert snapshot(out)["说明"] == before["说明"]
    assert book["说明"]["A1"].font.italic

    assert [c.value for c in sheet[1]][6:] == COLUMNS
    assert sheet["G1"].font.bold  # new header cells look like the old ones
    g2 = sheet["G2"]
    assert (g2.value, g2.data_type, g2.number_format) == ("13800138000", "s", "@")
    assert [c.value for c in sheet[2]][7:] == ["normal", True, 0, "成功"]
    assert sheet["I2"].data_type == "b" and sheet["J2"].data_type == "n"
    assert [c.value for c in sheet[4]][6:] == [None] * 5  # blank row stays blank
    assert sheet["H5"].value == "invalid_number"


def test_xlsx_formula_looking_text_is_stored_as_text(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")

    def hostile(cells: list[str]) -> list[list[CellValue]]:
        row: list[CellValue] = ['=HYPERLINK("http://x","click")', "bad\x01control\x1fchars", "+1", None, True]
        return [row for _ in cells]

    out = tmp_path / "out.xlsx"
    write_table(open_table(src), out, phone_col=2, columns=COLUMNS, annotate=hostile)
    sheet = openpyxl.load_workbook(out)["客户"]
    assert sheet["G2"].value == '=HYPERLINK("http://x","click")'
    assert sheet["G2"].data_type == "s"
    assert sheet["H2"].value == "badcontrolchars"
    # And calamine (our own reader) agrees it is text, not a formula without a cached value.
    assert [r.cells for r in open_table(out).records()][1][6] == '=HYPERLINK("http://x","click")'


def test_xlsx_previous_output_replaced(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    first = tmp_path / "first.xlsx"
    write(open_table(src), first, phone_col=2)
    second = tmp_path / "second.xlsx"
    write(open_table(first), second, phone_col=2)
    assert snapshot(second) == snapshot(first)


def test_xlsx_leading_empty_rows_align(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B3"] = "手机"
    sheet["B4"] = 13800138000
    sheet["B6"] = "13800138001"
    book.save(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    write(open_table(tmp_path / "in.xlsx"), out, phone_col=1)
    sheet = openpyxl.load_workbook(out).active
    assert sheet["C3"].value == "mobile_normalized"
    assert sheet["C4"].value == "13800138000"
    assert sheet["C5"].value is None
    assert sheet["C6"].value == "13800138001"


def test_xlsx_atomic_on_failure(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"old")

    def failing(cells: list[str]) -> list[list[CellValue]]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_table(open_table(src), out, phone_col=2, columns=COLUMNS, annotate=failing)
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx", "out.xlsx"]


def test_xlsm_keeps_vba(tmp_path: Path) -> None:
    src = make_workbook(tmp_path / "in.xlsx")
    # A minimal macro-enabled workbook: openpyxl keeps xl/vbaProject.bin when keep_vba is set.
    import zipfile

    xlsm = tmp_path / "in.xlsm"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(xlsm, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
            zout.writestr(item, data)
        zout.writestr("xl/vbaProject.bin", b"fake vba project")
    table = open_table(xlsm)
    assert table.format.kind == "xlsm"
    out = tmp_path / "out.xlsm"
    write(table, out, phone_col=2)
    with zipfile.ZipFile(out) as z:
        assert z.read("xl/vbaProject.bin") == b"fake vba project"


def test_xls_becomes_xlsx_with_every_sheet(tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("客户")
    values: list[list[object]] = [
        ["姓名", "手机号码", "开户日期"],
        ["张三", 13800138000, 45000.0],
        ["李四", "=x", 1],
    ]
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.add_sheet("说明").write(1, 1, "说明文字")
    book.save(str(tmp_path / "in.xls"))
    out = tmp_path / "out.xlsx"
    assert write(open_table(tmp_path / "in.xls"), out, phone_col=1) == 2
    result = openpyxl.load_workbook(out)
    assert result.sheetnames == ["客户", "说明"]
    rows = [[c.value for c in row] for row in result["客户"].iter_rows()]
    assert rows[0] == ["姓名", "手机号码", "开户日期", *COLUMNS]
    assert rows[1][:4] == ["张三", 13800138000, 45000, "13800138000"]
    assert rows[2][1] == "=x" and result["客户"]["B3"].data_type == "s"
    assert result["说明"]["B2"].value == "说明文字"


def test_xlsx_merged_cells_in_the_way_are_split(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "手机"])
    sheet.append(["张三", "13800138000"])
    sheet.merge_cells("C2:E2")  # empty merged block exactly where the result columns go
    book.save(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    write(open_table(tmp_path / "in.xlsx"), out, phone_col=1)
    result = openpyxl.load_workbook(out).active
    assert [c.value for c in result[2]] == ["张三", "13800138000", "13800138000", "normal", True, 0, "成功"]


def test_xlsx_to_csv_keeps_text_as_text_and_numbers_as_numbers(tmp_path: Path) -> None:
    """A workbook's text cells that a spreadsheet would run as formulas get a ``'`` in the CSV (as
    the CSV → XLSX direction stores them as text); numbers (``-5``) and plain text stay as they were."""
    src = tmp_path / "in.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone", "note", "amount"])
    cells = ['=HYPERLINK("http://evil","x")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "-2+3", "\tx", "plain"]
    for i, text in enumerate(cells, start=2):
        sheet.cell(row=i, column=1).value = f"c{i}"
        sheet.cell(row=i, column=2).value = f"1380013800{i}"
        note = sheet.cell(row=i, column=3)
        note.value = text
        note.data_type = "s"  # text, as Excel stores a typed "=..." with a leading '
        sheet.cell(row=i, column=4).value = -5
    book.save(src)
    out = tmp_path / "out.csv"
    write(open_table(src), out, phone_col=1)
    rows = [r.cells for r in open_table(out).records()][1:]
    assert [r[2] for r in rows] == [
        '\'=HYPERLINK("http://evil","x")',
        "'@SUM(1+1)",
        "'+cmd|' /C calc'!A0",
        "-2+3",  # plainly numeric: nothing to run
        "'\tx",
        "plain",
    ]
    assert {r[3] for r in rows} == {"-5"}
