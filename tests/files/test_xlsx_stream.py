# ruff: noqa: E501  (raw XML fixtures read best on one line)
"""The streaming XLSX writer on real files: made with openpyxl, and raw XML zips written by hand."""

from __future__ import annotations

import datetime
import warnings
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import python_calamine
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.table import Table as XlTable

from batchverify.files.layout import CellValue, Layout
from batchverify.files.xlsx import (
    ExtraSheet,
    Presentation,
    ResultColumn,
    StatusColours,
    StreamUnsupported,
    rewrite_workbook,
)

NAMES = ["status", "label", "count", "ok", "when"]
COLUMNS = (
    ResultColumn(12),
    ResultColumn(20),
    ResultColumn(8, "number"),
    ResultColumn(6, "bool"),
    ResultColumn(22, "datetime"),
)
CST = datetime.timezone(datetime.timedelta(hours=8))
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def annotate_factory(seen: list[str]) -> Any:
    def annotate(phones: list[str]) -> list[list[CellValue]]:
        seen.extend(phones)
        return [
            ["normal" if p else "empty", f"={p}", len(p), bool(p), "2026-11-26T23:01:59Z" if p else ""]
            for p in phones
        ]

    return annotate


def run(
    src: Path, out: Path, header: list[str], width: int, phone_col: int = 1, **kw: Any
) -> tuple[int, list[str]]:
    seen: list[str] = []
    layout = Layout.build(header, width, NAMES)
    pres = kw.pop("presentation", None) or Presentation(
        columns=COLUMNS,
        colours=StatusColours(width, (width, width + 1), ((("normal",), "FFC6EFCE", "FF006100"),)),
        tz=CST,
    )
    n = rewrite_workbook(
        src,
        out,
        sheet_name=kw.pop("sheet_name", "Data"),
        header_row=kw.pop("header_row", 1),
        width=width,
        layout=layout,
        phone_col=phone_col,
        annotate=annotate_factory(seen),
        presentation=pres,
        batch_size=kw.pop("batch_size", 3),
    )
    return n, seen


def values(path: Path, sheet: str = "Data") -> list[tuple[Any, ...]]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wb = openpyxl.load_workbook(path)
    return [tuple(r) for r in wb[sheet].iter_rows(values_only=True)]


def calamine_rows(path: Path, sheet: str = "Data") -> list[list[Any]]:
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


WHEN = datetime.datetime(2026, 11, 27, 7, 1, 59)


def result(phone: str) -> tuple[Any, ...]:
    return ("normal", f"={phone}", len(phone), True, WHEN)


# -- the common case --------------------------------------------------------------------------------


@pytest.fixture
def book(tmp_path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["name", "phone", "city"])
    ws["B1"].font = openpyxl.styles.Font(bold=True)
    for i in range(7):
        ws.append([f"n{i}", 13800138000 + i, "北京"])
    ws.append([])
    ws.append(["x", "13900000000", None])
    ws.append(["f", "=1+1", None])
    ws.column_dimensions["A"].width = 30
    chart = BarChart()
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=5))
    ws.add_chart(chart, "F2")
    ws.conditional_formatting.add(
        "A2:A5", openpyxl.formatting.rule.CellIsRule(operator="equal", formula=['"n1"'])
    )
    other = wb.create_sheet("Other")
    other.append(["keep", 1])
    path = tmp_path / "in.xlsx"
    wb.save(path)
    return path


def test_common_case(book: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.xlsx"
    n, seen = run(book, out, ["name", "phone", "city"], 3)
    assert n == 9  # the blank row is not a data row: not annotated, not counted
    assert seen == [str(13800138000 + i) for i in range(7)] + ["13900000000", ""]
    rows = values(out)
    assert rows[0] == ("name", "phone", "city", *NAMES)
    for i in range(7):
        assert rows[1 + i] == (f"n{i}", 13800138000 + i, "北京", *result(str(13800138000 + i)))
    assert rows[8] == (None,) * 8
    assert rows[9] == ("x", "13900000000", None, *result("13900000000"))
    assert rows[10][:3] == ("f", "=1+1", None)  # formula kept; no cached value so phone text ""
    assert rows[10][3] == "empty"
    cal = calamine_rows(out)
    assert cal[1][:5] == ["n0", 13800138000, "北京", "normal", "=13800138000"]
    assert cal[9][:4] == ["x", "13900000000", "", "normal"]
    assert values(out, "Other") == [("keep", 1)]

    wb = openpyxl.load_workbook(out)
    ws = wb["Data"]
    assert ws.dimensions == "A1:H11"
    assert ws.auto_filter.ref == "A1:H11"
    assert ws["D1"].font.b  # header style copied from the phone header
    assert ws["E2"].number_format == "@"
    assert ws["H2"].number_format == 'yyyy-mm-dd hh:mm:ss "UTC+08:00"'
    assert ws.column_dimensions["A"].width == 30
    assert ws.column_dimensions["E"].width == 20
    ranges = {str(r.sqref): r.rules for r in ws.conditional_formatting}
    assert "A2:A5" in ranges
    ours = [rules for sq, rules in ranges.items() if sq.startswith("D2")]
    assert ours and ours[0][0].formula == ['$D2="normal"']
    assert "Summary" not in wb.sheetnames

    with zipfile.ZipFile(book) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            if name.startswith(("xl/charts/", "xl/drawings/", "xl/theme/", "docProps/")):
                assert a.read(name) == b.read(name), name
        assert "xl/drawings/drawing1.xml" in b.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
        assert b"<drawing " in b.read("xl/worksheets/sheet1.xml")
        workbook = b.read("xl/workbook.xml").decode()
        assert "_xlnm._FilterDatabase" in workbook and "'Data'!$A$1:$H$11" in workbook


def test_extra_sheet_added_then_replaced(book: Path, tmp_path: Path) -> None:
    def pres(rows: int) -> Presentation:
        return Presentation(
            columns=COLUMNS, extra_sheet=lambda: ExtraSheet("Summary", [["rows", rows]], (20, 8))
        )

    out = tmp_path / "out.xlsx"
    run(book, out, ["name", "phone", "city"], 3, presentation=pres(1))
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Data", "Other", "Summary"]
    assert wb["Summary"]["A1"].value == "rows" and wb["Summary"]["A1"].font.b
    assert wb["Summary"].column_dimensions["A"].width == 20
    again = tmp_path / "again.xlsx"
    header = list(values(out)[0])
    run(out, again, header, len(header), presentation=pres(2))
    wb = openpyxl.load_workbook(again)
    assert wb.sheetnames == ["Data", "Other", "Summary"]
    assert wb["Summary"]["B1"].value == 2


def test_previous_output_fed_back(book: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.xlsx"
    run(book, first, ["name", "phone", "city"], 3)
    header = list(values(first)[0])
    second = tmp_path / "second.xlsx"
    n, _ = run(
        first,
        second,
        header,
        8,
        presentation=Presentation(
            columns=COLUMNS,
            colours=StatusColours(3, (3, 4), ((("normal",), "FFC6EFCE", "FF006100"),)),
            tz=CST,
        ),
    )
    assert n == 9
    assert values(second) == values(first)
    wb = openpyxl.load_workbook(second)
    ours = [str(r.sqref) for r in wb["Data"].conditional_formatting if str(r.sqref).startswith("D2")]
    assert len(ours) == 1  # the old colouring was replaced, not doubled
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        assert a.read("xl/styles.xml").count(b"<xf ") == b.read("xl/styles.xml").count(b"<xf ")
        assert b.read("xl/workbook.xml").count(b"_xlnm._FilterDatabase") == 1


def test_title_rows_merged_cells_and_replaced_header(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["Report"])
    ws.merge_cells("A1:F1")
    ws.append([])
    ws.append(["name", "phone", "status"])
    ws.append(["a", "13800138000", "old"])
    ws.merge_cells("A5:B5")
    ws["A5"] = "merged"
    ws.append([None, None, None])
    ws["B6"] = "13800000001"
    src = tmp_path / "in.xlsx"
    wb.save(src)
    out = tmp_path / "out.xlsx"
    n, seen = run(src, out, ["name", "phone", "status"], 3, header_row=3)
    assert seen == ["13800138000", "", "13800000001"]
    assert n == 3
    rows = values(out)
    assert rows[0][0] == "Report"
    assert rows[2] == ("name", "phone", "status", "label", "count", "ok", "when")
    assert rows[3] == ("a", "13800138000", "normal", "=13800138000", 11, True, WHEN)
    assert rows[4][0] == "merged"
    merged = {str(r) for r in openpyxl.load_workbook(out)["Data"].merged_cells.ranges}
    assert merged == {"A1:F1", "A5:B5"}  # neither covers a cell we write
    assert openpyxl.load_workbook(out)["Data"].auto_filter.ref == "A3:G6"


def test_merge_over_result_column_removed(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["name", "phone"])
    ws.append(["a", "13800138000"])
    ws.merge_cells("C2:E2")
    src = tmp_path / "in.xlsx"
    wb.save(src)
    out = tmp_path / "out.xlsx"
    run(src, out, ["name", "phone"], 2)
    assert not openpyxl.load_workbook(out)["Data"].merged_cells.ranges
    assert values(out)[1] == ("a", "13800138000", *result("13800138000"))


def test_table_widened(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["name", "phone"])
    ws.append(["a", "13800138000"])
    ws.append(["b", "13800138001"])
    ws.add_table(XlTable(displayName="T1", ref="A1:B3"))
    src = tmp_path / "in.xlsx"
    wb.save(src)
    out = tmp_path / "out.xlsx"
    run(src, out, ["name", "phone"], 2)
    ws = openpyxl.load_workbook(out)["Data"]
    table = ws.tables["T1"]
    assert table.ref == "A1:G3"
    assert [c.name for c in table.tableColumns] == ["name", "phone", *NAMES]
    assert len({c.id for c in table.tableColumns}) == 7
    assert ws.auto_filter.ref is None  # the table filters; no sheet filter added
    assert values(out)[2] == ("b", "13800138001", *result("13800138001"))


def test_header_row_zero(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["a", "13800138000"])
    ws.append(["b", 13800138001])
    ws.merge_cells("A3:B3")
    ws["A3"] = "m"
    ws["A4"] = "=A1"
    src = tmp_path / "in.xlsx"
    wb.save(src)
    out = tmp_path / "out.xlsx"
    n, seen = run(src, out, [], 2, header_row=0)
    assert seen == ["13800138000", "13800138001", ""]  # row 4 (a formula without a value) is not data
    assert n == 3
    rows = values(out)
    assert rows[0] == (None, None, *NAMES)
    assert rows[1] == ("a", "13800138000", *result("13800138000"))
    assert rows[2] == ("b", 13800138001, *result("13800138001"))
    ws = openpyxl.load_workbook(out)["Data"]
    assert {str(r) for r in ws.merged_cells.ranges} == {"A4:B4"}
    assert ws.dimensions.startswith("A1:")
    assert ws["A5"].value == "=A1"  # formulas are not moved (documented)


# -- raw XML zips -----------------------------------------------------------------------------------

CT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "{extra}</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)


def raw_book(path: Path, sheet: str, *, prefix: str = "", shared: list[str] | None = None, styles: bool = True,
             date1904: bool = False) -> Path:  # fmt: skip
    p = f"{prefix}:" if prefix else ""
    decl = f' xmlns:{prefix}="{MAIN}"' if prefix else f' xmlns="{MAIN}"'
    pr = f'<{p}workbookPr date1904="1"/>' if date1904 else ""
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><{p}workbook{decl} xmlns:r="{REL}">{pr}<{p}sheets>'
        f'<{p}sheet name="Data" sheetId="1" r:id="rId1"/></{p}sheets></{p}workbook>'
    )
    rels = [f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>']
    extra = ""
    files = {}
    if styles:
        rels.append(f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/>')
        extra += '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        files["xl/styles.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><{p}styleSheet{decl}><{p}fonts count="2"><{p}font><{p}sz val="11"/></{p}font>'
            f'<{p}font><{p}b/><{p}sz val="11"/></{p}font></{p}fonts><{p}fills count="1"><{p}fill><{p}patternFill patternType="none"/></{p}fill></{p}fills>'
            f'<{p}borders count="1"><{p}border/></{p}borders>'
            f'<{p}cellStyleXfs count="1"><{p}xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></{p}cellStyleXfs>'
            f'<{p}cellXfs count="2"><{p}xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            f'<{p}xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></{p}cellXfs>'
            f'<{p}cellStyles count="1"><{p}cellStyle name="Normal" xfId="0" builtinId="0"/></{p}cellStyles></{p}styleSheet>'
        )
    if shared is not None:
        rels.append(f'<Relationship Id="rId3" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>')
        extra += '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        items = "".join(f"<si>{s}</si>" for s in shared)
        files["xl/sharedStrings.xml"] = (
            f'<?xml version="1.0"?><sst xmlns="{MAIN}" count="{len(shared)}">{items}</sst>'
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT.format(extra=extra))
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(rels)
            + "</Relationships>",
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet{decl}>{sheet}</{p}worksheet>',
        )
        for name, data in files.items():
            z.writestr(name, data)
    return path


def test_rows_and_cells_without_r_inline_and_spans(tmp_path: Path) -> None:
    sheet = (
        '<dimension ref="A1:B4"/><sheetData>'
        '<row spans="1:2"><c s="1" t="inlineStr"><is><t>name</t></is></c><c s="1" t="inlineStr"><is><t>phone</t></is></c></row>'
        '<row spans="1:2"><c t="inlineStr"><is><r><t>a</t></r><r><t xml:space="preserve"> &amp; b</t></r></is></c>'
        '<c t="inlineStr"><is><t>138001</t></is></c></row>'
        "<row/>"
        '<row><c><v>1.3800138E10</v></c><c t="inlineStr"><is><r><t>1380</t></r><r><t>0138002</t></r></is></c></row>'
        "</sheetData>"
    )
    src = raw_book(tmp_path / "in.xlsx", sheet)
    out = tmp_path / "out.xlsx"
    n, seen = run(src, out, ["name", "phone"], 2)
    assert seen == ["138001", "13800138002"]  # the <row/> is blank
    assert n == 2
    rows = values(out)
    assert rows[0] == ("name", "phone", *NAMES)
    assert rows[1] == ("a & b", "138001", *result("138001"))
    assert rows[3] == (13800138000, "13800138002", *result("13800138002"))
    cal = calamine_rows(out)
    assert cal[1][:2] == ["a & b", "138001"] and cal[3][1] == "13800138002"
    data = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    assert "spans" not in data
    assert 'ref="A1:G4"' in data
    assert openpyxl.load_workbook(out)["Data"]["C1"].font.b


def test_prefixed_namespace_and_shared_strings(tmp_path: Path) -> None:
    sheet = (
        '<x:sheetData><x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c></x:row>'
        '<x:row r="2"><x:c r="A2" t="s"><x:v>2</x:v></x:c><x:c r="B2" t="s"><x:v>3</x:v></x:c></x:row>'
        '<x:row r="3"/>'
        "</x:sheetData>"
    )
    shared = [
        "<t>name</t>",
        "<t>phone</t>",
        "<t>a</t>",
        '<r><t>138</t></r><r><t>00138000</t></r><rPh sb="0" eb="1"><t>x</t></rPh>',
    ]
    src = raw_book(tmp_path / "in.xlsx", sheet, prefix="x", shared=shared)
    out = tmp_path / "out.xlsx"
    n, seen = run(src, out, ["name", "phone"], 2)
    assert seen == ["13800138000"] and n == 1
    rows = values(out)
    assert rows[1] == ("a", "13800138000", *result("13800138000"))
    data = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    assert '<x:c r="C2"' in data and "ns0" not in data
    assert calamine_rows(out)[1][:3] == ["a", "13800138000", "normal"]
    assert b"ns0" not in zipfile.ZipFile(out).read("xl/styles.xml")


def test_no_styles_part_and_date1904(tmp_path: Path) -> None:
    sheet = '<sheetData><row r="1"><c r="B1" t="inlineStr"><is><t>phone</t></is></c></row><row r="2"><c r="B2"><v>13800138000</v></c></row></sheetData>'
    src = raw_book(tmp_path / "in.xlsx", sheet, styles=False, date1904=True)
    out = tmp_path / "out.xlsx"
    run(src, out, ["", "phone"], 2)
    rows = values(out)
    assert rows[1] == (None, 13800138000, *result("13800138000"))
    assert "xl/styles.xml" in zipfile.ZipFile(out).namelist()


def test_styled_empty_cells_beyond_width(tmp_path: Path) -> None:
    sheet = (
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>phone</t></is></c><c r="D1" s="1"/><c r="Z1" s="1"/></row>'
        '<row r="2"><c r="A2"><v>13800138000</v></c><c r="C2" s="1"/><c r="E2" s="1"/><c r="Z2" s="1"/></row></sheetData>'
    )
    src = raw_book(tmp_path / "in.xlsx", sheet)
    out = tmp_path / "out.xlsx"
    run(src, out, ["phone"], 1, phone_col=0)
    data = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    row2 = data[data.index('<row r="2"') :]
    refs = [r.split('"')[1] for r in row2.split("<c r=")[1:]]
    assert refs == ["A2", "B2", "C2", "D2", "E2", "F2", "Z2"]
    assert values(out)[1][:6] == (13800138000, *result("13800138000"))


@pytest.mark.parametrize(
    "sheet",
    [
        "<dimension ref='A1'/>",  # no sheetData
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[x]]></t></is></c></row></sheetData>',
    ],
)
def test_refused_before_writing(tmp_path: Path, sheet: str) -> None:
    src = raw_book(tmp_path / "in.xlsx", sheet)
    out = tmp_path / "out.xlsx"
    with pytest.raises(StreamUnsupported):
        run(src, out, ["phone"], 1, phone_col=0)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_unknown_sheet_refused(book: Path, tmp_path: Path) -> None:
    with pytest.raises(StreamUnsupported, match="no sheet"):
        run(book, tmp_path / "out.xlsx", ["name", "phone", "city"], 3, sheet_name="Nope")


def test_cols_split_existing_filter_widened_and_vba_kept(tmp_path: Path) -> None:
    sheet = (
        '<dimension ref="A1:B2"/><cols><col min="1" max="10" width="9" customWidth="1"/></cols><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c><c r="B1" t="inlineStr"><is><t>phone</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>a</t></is></c><c r="B2"><v>13800138000</v></c></row></sheetData>'
        '<autoFilter ref="A1:B2"><filterColumn colId="0"><filters><filter val="a"/></filters></filterColumn></autoFilter>'
    )
    src = raw_book(tmp_path / "in.xlsm", sheet)
    with zipfile.ZipFile(src, "a") as z:
        z.writestr("xl/vbaProject.bin", b"\x00binary\xff")
    out = tmp_path / "out.xlsm"
    n, _ = run(src, out, ["name", "phone"], 2, batch_size=1)
    assert n == 1
    data = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    assert (
        '<cols><col min="1" max="2" width="9" customWidth="1"/><col min="3" max="3" width="12" customWidth="1"/>'
        in data
    )
    assert '<col min="8" max="10" width="9" customWidth="1"/></cols>' in data
    assert '<autoFilter ref="A1:G2"><filterColumn colId="0">' in data
    assert zipfile.ZipFile(out).read("xl/vbaProject.bin") == b"\x00binary\xff"
    assert values(out)[1] == ("a", 13800138000, *result("13800138000"))


def test_header_row_zero_moves_validations_and_hyperlinks(tmp_path: Path) -> None:
    sheet = (
        '<dimension ref="A1:B2"/><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="B1"><v>13800138000</v></c></row>'
        '<row r="2" spans="1:2"><c r="A2" s="1"/></row></sheetData>'
        '<dataValidations count="1"><dataValidation type="list" sqref="A1:A2"><formula1>"a,b"</formula1></dataValidation></dataValidations>'
    )
    src = raw_book(tmp_path / "in.xlsx", sheet)
    out = tmp_path / "out.xlsx"
    n, seen = run(src, out, [], 2, header_row=0)
    assert (n, seen) == (1, ["13800138000"])
    data = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    assert 'sqref="A2:A3"' in data and '<dimension ref="A1:G3"/>' in data
    assert '<row r="3" spans="1:2"><c r="A3" s="1"/></row>' in data
    assert values(out)[1] == ("a", 13800138000, *result("13800138000"))


def test_strict_workbook_refused(tmp_path: Path) -> None:
    src = raw_book(tmp_path / "in.xlsx", "<sheetData/>")
    strict = tmp_path / "strict.xlsx"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(strict, "w") as b:
        for info in a.infolist():
            data = a.read(info)
            b.writestr(info, data.replace(MAIN.encode(), b"http://purl.oclc.org/ooxml/spreadsheetml/main"))
    with pytest.raises(StreamUnsupported, match="strict"):
        run(strict, tmp_path / "out.xlsx", ["phone"], 1, phone_col=0)
