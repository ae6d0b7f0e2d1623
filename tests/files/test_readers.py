"""open_table (CSV encodings and dialects, Excel via calamine, broken inputs) and column detection."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from batchverify.cli.flags import CLI_NAMES
from batchverify.core.columns import column_letter, detect_phone_column
from batchverify.errors import InputError
from batchverify.files.readers import Record, Table, open_table
from batchverify.files.tables import cell_text

HEADER = ["客户编号", "姓名", "手机号码", "备注"]
ROWS = [["007", "张三", "138-0013-8000", "NA"], ["008", "李四", "13900000001", "null"]]


def rows_of(table: Table) -> list[list[str]]:
    return [r.cells for r in table.records()]


def write_text(path: Path, text: str, encoding: str, newline: str = "\r\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    return "".join(delimiter.join(r) + "\n" for r in rows)


# --- CSV: encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "expected", "bom"),
    [
        ("utf-8", "utf-8", False),
        ("utf-8-sig", "utf-8-sig", True),
        ("gbk", "gb18030", False),
        ("gb18030", "gb18030", False),
        ("utf-16", "utf-16", True),
    ],
)
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str, expected: str, bom: bool) -> None:
    delimiter = "\t" if encoding == "utf-16" else ","  # Excel's "Unicode Text" is UTF-16 + tabs
    path = write_text(tmp_path / "in.csv", csv_text([HEADER, *ROWS], delimiter), encoding)
    table = open_table(path)
    assert table.format.kind == "csv"
    assert table.format.encoding == expected
    assert table.format.bom is bom
    assert table.format.delimiter == delimiter
    assert table.header == HEADER  # no U+FEFF glued to the first header
    assert rows_of(table) == [HEADER, *ROWS]


def test_gb18030_only_characters(tmp_path: Path) -> None:
    # U+4DAE and U+20000 are not in GBK; gb18030 is what reads them.
    path = write_text(tmp_path / "in.csv", "姓名,手机\n䶮𠀀,13800138000\n", "gb18030")
    table = open_table(path)
    assert table.format.encoding == "gb18030"
    assert rows_of(table)[1] == ["䶮𠀀", "13800138000"]


def test_late_non_utf8_byte_is_found_before_any_row(tmp_path: Path) -> None:
    # GBK bytes only after 1.1 MB of ASCII: a sample-based guess would say UTF-8 and fail late.
    body = "name,phone\n" + "a,13800138000\n" * 80_000
    path = tmp_path / "in.csv"
    path.write_bytes(body.encode() + "张三,13800138001\n".encode("gbk"))
    table = open_table(path)
    assert table.format.encoding == "gb18030"
    assert rows_of(table)[-1] == ["张三", "13800138001"]


def test_encoding_override(tmp_path: Path) -> None:
    path = write_text(tmp_path / "in.csv", "名前,電話\n山田,13800138000\n", "shift_jis")
    # Shift-JIS bytes happen to decode as GB18030 mojibake: detection cannot know, --encoding can.
    assert open_table(path).header != ["名前", "電話"]
    table = open_table(path, encoding="shift_jis")
    assert table.header == ["名前", "電話"]
    with pytest.raises(InputError, match="unknown encoding"):
        open_table(path, encoding="no-such-codec")
    with pytest.raises(InputError, match="not valid utf-8"):
        open_table(path, encoding="utf-8")


def test_encoding_override_utf8_on_bom_file_drops_the_bom(tmp_path: Path) -> None:
    path = write_text(tmp_path / "in.csv", csv_text([HEADER, *ROWS]), "utf-8-sig")
    table = open_table(path, encoding="utf-8")
    assert table.header == HEADER
    assert table.format.bom is True


def test_undecodable_file_fails_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"name,phone\n\xff\xfe\xfa,13800138000\n" + b"\x81" * 3)
    with pytest.raises(InputError) as info:
        open_table(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "encoding=" in message


# --- CSV: dialects and content --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "suffix"), [(",", ".csv"), (";", ".csv"), ("\t", ".tsv"), ("\t", ".txt"), ("|", ".txt")]
)
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str, suffix: str) -> None:
    rows = [HEADER, ["1", "a,b", "13800138000", "x;y"], ["2", "c", "13800138001", "z"]]
    # Cells holding the *other* delimiters must not confuse the sniffer.
    text = "".join(delimiter.join(f'"{c}"' if delimiter in c else c for c in r) + "\n" for r in rows)
    path = write_text(tmp_path / f"in{suffix}", text, "utf-8")
    table = open_table(path)
    assert table.format.delimiter == delimiter
    assert rows_of(table) == rows


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    text = "姓名;手机;余额\n张三;13800138000;12,50\n李四;13800138001;3,00\n"
    table = open_table(write_text(tmp_path / "in.csv", text, "utf-8"))
    assert table.format.delimiter == ";"
    assert rows_of(table)[1] == ["张三", "13800138000", "12,50"]


@pytest.mark.parametrize(("newline", "expected"), [("\r\n", "\r\n"), ("\n", "\n"), ("\r", "\r")])
def test_line_terminator(tmp_path: Path, newline: str, expected: str) -> None:
    table = open_table(write_text(tmp_path / "in.csv", csv_text([HEADER, *ROWS]), "utf-8", newline))
    assert table.format.lineterminator == expected
    assert rows_of(table) == [HEADER, *ROWS]


def test_quoted_cells_ragged_rows_blank_rows_and_line_numbers(tmp_path: Path) -> None:
    text = (
        "id,phone,note,id\n"  # a duplicate header stays as it is
        '1,13800138000,"line one\nline two, with comma"\n'
        "\n"
        "2\n"
        "3,13800138001,x,y,extra\n"
        '4,"",""\n'
    )
    table = open_table(write_text(tmp_path / "in.csv", text, "utf-8", "\n"))
    records = list(table.records())
    assert [r.line for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].cells == ["id", "phone", "note", "id"]
    assert records[1].cells == ["1", "13800138000", "line one\nline two, with comma"]
    assert records[2].cells == []
    assert records[3].cells == ["2"]
    assert records[4].cells == ["3", "13800138001", "x", "y", "extra"]
    assert records[5].cells == ["4", "", ""]
    assert table.max_width() == 5
    assert list(table.records()) == records  # a second pass reads the same


def test_literal_na_null_and_leading_zeros_survive(tmp_path: Path) -> None:
    text = "id,phone,a,b,c\n007,013800138000,NA,null,N/A\n"
    table = open_table(write_text(tmp_path / "in.csv", text, "utf-8"))
    assert rows_of(table)[1] == ["007", "013800138000", "NA", "null", "N/A"]


def test_big_cell(tmp_path: Path) -> None:
    big = "x" * 300_000  # over the csv module's default 128 KiB field limit
    table = open_table(write_text(tmp_path / "in.csv", f"phone,note\n13800138000,{big}\n", "utf-8"))
    assert rows_of(table)[1][1] == big


def test_header_only_is_allowed(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "in.csv", "姓名,手机号码\n", "utf-8"))
    assert table.header == ["姓名", "手机号码"]
    assert rows_of(table) == [["姓名", "手机号码"]]


def test_single_column_file(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "in.csv", "手机\n13800138000\n13800138001\n", "utf-8"))
    assert table.format.delimiter == ","
    assert rows_of(table) == [["手机"], ["13800138000"], ["13800138001"]]


def test_unknown_extension_goes_by_content(tmp_path: Path) -> None:
    table = open_table(write_text(tmp_path / "export.dat", csv_text([HEADER, *ROWS]), "utf-8"))
    assert table.format.kind == "csv"
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.save(tmp_path / "book.xlsx")
    (tmp_path / "book.xlsx").rename(tmp_path / "book.bin")
    assert open_table(tmp_path / "book.bin").format.kind == "xlsx"


# --- Broken inputs --------------------------------------------------------------------------------


def one_line_error(path: Path, match: str, **kwargs: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        open_table(path, **kwargs)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    one_line_error(tmp_path / "nope.csv", "no such file")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    one_line_error(tmp_path / "dir.csv", "is a directory")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\n\n  \r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    one_line_error(path, "is empty")


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 40,  # has NUL bytes
        b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 40,
        b"name,phone\n" + b"\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 50,
    ],
)
def test_binary_junk(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        open_table(path)
    message = str(info.value)
    assert "\n" not in message
    assert "does not look like a text table" in message or "neither UTF-8 nor GB18030" in message


def test_zip_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "x")
    one_line_error(path, r"Excel workbook \(zip\), not CSV text")


def test_text_named_xlsx(tmp_path: Path) -> None:
    path = write_text(tmp_path / "in.xlsx", csv_text([HEADER, *ROWS]), "utf-8")
    one_line_error(path, "has an Excel extension but contains text")


@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm", ".xls"])
def test_corrupt_workbook(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    path.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 100)
    one_line_error(path, "not a readable Excel workbook")


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    one_line_error(path, "not a readable Excel workbook")


def test_ole_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "in.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    one_line_error(path, "password-protected")


# --- Excel ----------------------------------------------------------------------------------------


def make_xlsx(path: Path, offset_rows: int = 0, offset_cols: int = 0) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户"
    values: list[list[object]] = [
        ["客户编号", "手机号码", "开户日期", "余额", "VIP", "备注"],
        ["007", 13800138000, dt.date(2024, 3, 1), 12.5, True, "NA"],
        ["008", 8613800138001, dt.datetime(2024, 3, 2, 9, 30), 100.0, False, None],
        [None, None, None, None, None, None],
        ["009", "+86 138 0013 8002", None, -0.25, None, "=text not formula"],
    ]
    for r, row in enumerate(values, start=1 + offset_rows):
        for c, value in enumerate(row, start=1 + offset_cols):
            if value is not None:
                cell = sheet.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"
    book.create_sheet("说明")["A1"] = "说明文字"
    book.save(path)
    return path


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    table = open_table(make_xlsx(tmp_path / "in.xlsx"))
    assert table.format.kind == "xlsx"
    assert table.format.sheet_name == "客户"
    assert table.format.sheet_names == ("客户", "说明")
    assert table.header_line == 1
    records = list(table.records())
    assert [r.line for r in records] == [1, 2, 3, 4, 5]
    assert records[1].cells == ["007", "13800138000", "2024-03-01", "12.5", "TRUE", "NA"]
    assert records[2].cells == ["008", "8613800138001", "2024-03-02T09:30:00", "100", "FALSE", ""]
    assert records[3].cells == [""] * 6  # a blank row is still there
    assert records[4].cells == ["009", "+86 138 0013 8002", "", "-0.25", "", "=text not formula"]


@pytest.mark.parametrize(("rows", "cols"), [(0, 2), (3, 0), (2, 3)])
def test_xlsx_leading_empty_rows_and_columns(tmp_path: Path, rows: int, cols: int) -> None:
    table = open_table(make_xlsx(tmp_path / "in.xlsx", rows, cols))
    assert table.header_line == rows + 1
    assert table.header == [""] * cols + ["客户编号", "手机号码", "开户日期", "余额", "VIP", "备注"]
    records = list(table.records())
    assert [r.line for r in records] == [rows + 1 + i for i in range(5)]
    assert records[1].cells[cols + 1] == "13800138000"
    assert detect_phone_column(table.header, [r.cells for r in records[1:]], None) == cols + 1
    assert table.max_width() == cols + 6


def test_xlsx_sheet_choice(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "in.xlsx")
    assert open_table(path, sheet="说明").header == ["说明文字"]
    assert open_table(path, sheet=" 客户 ").format.sheet_name == "客户"
    one_line_error(path, r"has no sheet 'Sheet9' \(sheets: '客户', '说明'\)", sheet="Sheet9")


def test_xlsx_empty_sheet(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.save(tmp_path / "in.xlsx")
    one_line_error(tmp_path / "in.xlsx", "is empty")


def test_cell_text() -> None:
    assert cell_text(13800138000.0) == "13800138000"
    assert cell_text(1.2345678901234567e19) == "12345678901234567168"  # digits, never 1.23e+19
    assert cell_text(0.1) == "0.1"
    assert cell_text(True) == "TRUE"
    assert cell_text(7) == "7"
    assert cell_text(dt.time(8, 5)) == "08:05:00"
    assert cell_text(None) == ""
    assert cell_text(float("nan")) == "nan"


def test_xls_is_read(tmp_path: Path) -> None:
    xlwt = pytest.importorskip("xlwt")
    book = xlwt.Workbook()
    sheet = book.add_sheet("客户")
    for c, value in enumerate(["姓名", "手机号码"]):
        sheet.write(0, c, value)
    sheet.write(1, 0, "张三")
    sheet.write(1, 1, 13800138000)
    book.add_sheet("说明").write(0, 0, "x")
    book.save(str(tmp_path / "in.xls"))
    table = open_table(tmp_path / "in.xls")
    assert table.format.kind == "xls"
    assert rows_of(table) == [["姓名", "手机号码"], ["张三", "13800138000"]]


# --- Column detection -----------------------------------------------------------------------------


def test_column_letter() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]


@pytest.mark.parametrize(
    ("requested", "index"),
    [("手机号码", 2), (" 手机号码 ", 2), ("PHONE", 3), ("phone", 3), ("C", 2), ("c", 2), ("1", 0), ("4", 3)],
)
def test_requested_column(requested: str, index: int) -> None:
    header = ["客户编号", "姓名", "手机号码", "Phone"]
    assert detect_phone_column(header, [], requested) == index


def test_requested_column_not_found_lists_headers() -> None:
    with pytest.raises(InputError, match=r"column 'mobile' not found \(headers: A=客户编号, B=姓名\)"):
        detect_phone_column(["客户编号", "姓名"], [], "mobile")
    with pytest.raises(InputError, match="not found"):
        detect_phone_column(["a", "b"], [], "C")
    with pytest.raises(InputError, match="not found"):
        detect_phone_column(["a", "b"], [], "0")


def test_requested_duplicate_header_asks_for_a_letter() -> None:
    with pytest.raises(InputError, match=r"appears 2 times \(A, C\)"):
        detect_phone_column(["tel", "x", "tel"], [], "tel")


SAMPLE = [
    ["007", "张三", "138 0013 8000", "上海"],
    ["008", "李四", "13900000001", "北京"],
    ["009", "王五", "", "NA"],
]


def test_auto_by_header_and_values() -> None:
    assert detect_phone_column(["客户编号", "姓名", "手机号码", "城市"], SAMPLE, None) == 2
    assert detect_phone_column(["id", "name", "Mobile_No", "city"], SAMPLE, None) == 2
    assert detect_phone_column(["id", "name", "Phone Number", "city"], SAMPLE, None) == 2


def test_auto_by_values_alone() -> None:
    assert detect_phone_column(["a", "b", "c", "d"], SAMPLE, None) == 2


def test_auto_header_only_file() -> None:
    assert detect_phone_column(["客户编号", "联系电话"], [], None) == 1


def test_named_column_with_landlines_loses_to_the_mobile_column() -> None:
    header = ["电话", "手机"]
    sample = [["021-12345678", "13800138000"], ["010-87654321", "13800138001"]]
    assert detect_phone_column(header, sample, None) == 1


def test_exact_name_beats_a_partial_one() -> None:
    header = ["手机号码", "紧急联系人电话"]
    sample = [["13800138000", "13800138001"], ["13800138002", "13800138003"]]
    assert detect_phone_column(header, sample, None) == 0


def test_no_phone_column() -> None:
    with pytest.raises(InputError, match=r"no phone column found; use column= \(headers: A=id, B=name\)"):
        detect_phone_column(["id", "name"], [["1", "x"], ["2", "y"]], None)


def test_ambiguous_columns() -> None:
    header = ["手机", "电话"]
    sample = [["13800138000", "13800138001"], ["13800138002", "13800138003"]]
    expected = r"several columns.*A \(手机, 100% valid\).*B \(电话.*column="
    with pytest.raises(InputError, match=expected) as info:
        detect_phone_column(header, sample, None)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="several columns"):
        detect_phone_column(["a", "b"], sample, None)


def test_headers_with_newlines_stay_on_one_line() -> None:
    with pytest.raises(InputError) as info:
        detect_phone_column(["first\nname", ""], [["x", "y"]], None)
    assert str(info.value) == "no phone column found; use column= (headers: A=first name, B=(blank))"
    # The command line names the option its own way; the rest of the words are the same.
    assert (
        info.value.render(CLI_NAMES)
        == "no phone column found; use --column (headers: A=first name, B=(blank))"
    )
    assert info.value.code == "no_phone_column" and info.value.option == "column"


def test_record_is_a_plain_dataclass() -> None:
    assert Record(2, ["a"]) == Record(2, ["a"])


def test_previous_output_column_is_not_the_phone_column() -> None:
    header = ["号", "mobile_normalized", "mobile_status"]
    sample = [
        ["138 0013 8000", "13800138000", "normal"],
        ["139-0000-0001", "13900000001", "normal"],
        ["1380013800", "", "invalid_number"],
    ]
    assert detect_phone_column(header, sample, None) == 0
    assert detect_phone_column(header, sample, "mobile_normalized") == 1  # still allowed when asked


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            'name,phone\nA,13800138000\n"B,13800138001\nC,13800138002\nD,13800138003\n',
            "line 3 is never closed",
        ),
        ('name,phone\nA,13800138000\n"B,13800138001\n', "line 3 is never closed"),
        ('name,phone\nA,13800138000\n"B,13800138001', "line 3 is never closed"),
        ('name\tphone\r\nA\t13800138000\r\nB\t"13800138001\r\nC\t13800138002\r\n', "line 3 is never closed"),
        ('name,phone\n"A,13800138000\nB,13800138001\nC",13800138002\nD,1\n', "line 2 runs on to line 4"),
        ('name,phone\n"A,13800138000\nC",13800138002\nD,1\n', "line 2 runs on to line 3"),
        (
            'name,phone,note\nAlice,138 0013 8000,"oops\nBob,139 0013 9001,x\nCarol,137 0013 7002,x\n'
            'Dan,136 0013 6003,"\nEve,135 0013 5004,ok\n',
            "line 2 runs on to line 5",
        ),
    ],
)
def test_a_csv_that_does_not_parse_as_a_whole_is_refused_with_its_line(
    tmp_path: Path, text: str, needle: str
) -> None:
    """A quote that never closes (or a stray pair) would swallow rows into one cell: refused, with
    the physical line where it breaks, when the rows are read (the plan reads them all)."""
    src = tmp_path / ("in.tsv" if "\t" in text else "in.csv")
    src.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=needle) as refused:
        list(open_table(src).rows())
    assert refused.value.code == "unclosed_quote"


def test_cells_that_really_span_lines_are_read(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        'name,phone,address\nA,13800138000,"Room 1, Building 2\nPudong, Shanghai"\n'
        '"B ""the\nsecond""",13800138001,x\n',
        encoding="utf-8",
    )
    rows = [r.cells for r in open_table(src).rows()]
    assert rows[1] == ["A", "13800138000", "Room 1, Building 2\nPudong, Shanghai"]
    note = tmp_path / "note.csv"  # a note with commas and a landline is a note, not rows
    note.write_text('name,phone,note\nAlice,13800138000,"Call back:\nhome, 010-12345678, or office"\n')
    assert [r.cells[2] for r in open_table(note).rows()][1] == "Call back:\nhome, 010-12345678, or office"
    assert rows[2] == ['B "the\nsecond"', "13800138001", "x"]
