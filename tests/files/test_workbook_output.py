"""The workbook a person opens, through the real command line against the simulator: a title row
above the header, widths, filter, colours, real dates and booleans, the summary sheet, images and
charts kept, conversions between CSV and Excel, and LibreOffice reading every output."""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from batchverify.models import OUTPUT_COLUMNS
from batchverify.simulator import SimulatorServer
from tests.support.cli import run_cli

LIVE, SUSPENDED, BUSY = "13800000000", "13800000001", "13900000003"
TITLE = "2026年12月 待核验客户名单"


def titled_workbook(path: Path, *, chart: bool = False, image: bool = False) -> None:
    """A list as operations staff keep it: a merged title, the header in row 2, a filter, a chart."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "名单"
    sheet.append([TITLE])
    sheet.merge_cells("A1:D1")
    sheet.append(["编号", "姓名", "手机号码", "余额"])
    for i, phone in enumerate([LIVE, int(SUSPENDED), BUSY, "12345", LIVE], start=1):
        sheet.append([f"00{i}", f"客户{i}", phone, i * 10.5])
    sheet.auto_filter.ref = "A2:D7"
    if chart:
        bars = BarChart()
        bars.add_data(Reference(sheet, min_col=4, min_row=2, max_row=7), titles_from_data=True)
        sheet.add_chart(bars, "F2")
    if image:
        from openpyxl.drawing.image import Image
        from PIL import Image as PILImage

        buffer = io.BytesIO()
        PILImage.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="PNG")
        buffer.seek(0)
        sheet.add_image(Image(buffer), "F20")
    book.save(path)


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # openpyxl warns about anything it cannot read
        return openpyxl.load_workbook(path)


def test_a_title_row_is_kept_and_never_counted(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "名单.xlsx"
    titled_workbook(src)
    result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 1, result.stderr  # the busy number stays busy
    assert "5 rows (header row 2, phone column C '手机号码')" in result.stdout
    assert "1 invalid" in result.stdout  # only 12345, not the header
    book = load(tmp_path / "名单.verified.xlsx")
    sheet = book["名单"]
    assert sheet["A1"].value == TITLE and "A1:D1" in {str(r) for r in sheet.merged_cells.ranges}
    assert [c.value for c in sheet[1]][1:] == [None] * (
        sheet.max_column - 1
    )  # nothing written into the title
    header = [c.value for c in sheet[2]]
    assert header[:4] == ["编号", "姓名", "手机号码", "余额"] and header[4] == "mobile_normalized"
    status = {
        sheet.cell(r, 3).value: sheet.cell(r, header.index("mobile_status") + 1).value for r in range(3, 8)
    }
    assert status == {
        LIVE: "normal",
        int(SUSPENDED): "out_of_service",
        BUSY: "busy",
        "12345": "invalid_number",
    }


def test_the_sheet_reads_well(tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]) -> None:
    """A Chinese output speaks Chinese: every added header, yes/no and where each answer came from
    in words, times in the zone asked for, a summary that names the list and the zone, and a print
    layout (landscape, one page wide, the header repeated on each page)."""
    src = tmp_path / "list.xlsx"
    titled_workbook(src)
    args = ("run", src, "--yes", "--language", "zh-CN", "--time-zone", "Asia/Shanghai")
    assert run_cli(*args, env=env).returncode == 1
    book = load(tmp_path / "list.verified.xlsx")
    sheet = book["名单"]
    header = [c.value for c in sheet[2]]
    added = header[-len(OUTPUT_COLUMNS) :]
    assert all(not str(name).startswith("mobile_") for name in added), added
    col = {name: i + 1 for i, name in enumerate(header)}
    last = openpyxl.utils.get_column_letter(len(header))
    assert sheet.auto_filter.ref == f"A2:{last}7"  # the filter widened over the new columns
    for name in ("标准号码", "请求编号", "核验时间", "号码状态"):
        letter = openpyxl.utils.get_column_letter(col[name])
        assert sheet.column_dimensions[letter].width >= len(name) * 2 + 2
    assert sheet.column_dimensions[openpyxl.utils.get_column_letter(col["请求编号"])].width >= 36
    live_row = 3
    assert sheet.cell(live_row, col["是否计费"]).value == "是"
    assert sheet.cell(live_row, col["结果来源"]).value == "本次查询"
    checked = sheet.cell(live_row, col["核验时间"])
    assert checked.is_date and '"UTC+08:00"' in checked.number_format
    assert sheet.cell(live_row, col["标准号码"]).data_type == "s"
    assert sheet.cell(live_row, col["号码状态"]).value == "正常"
    assert sheet.cell(live_row, col["处理建议"]).value == "可联系"
    rules = [(str(rng.sqref), rule.formula) for rng in sheet.conditional_formatting for rule in rng.rules]
    status_letter = openpyxl.utils.get_column_letter(col["状态代码"])
    assert any(f'${status_letter}3="normal"' in f[0] for _, f in rules)
    assert all(sqref.endswith("7") for sqref, _ in rules)
    setup = sheet.page_setup
    assert (setup.orientation, setup.fitToWidth, setup.fitToHeight) == ("landscape", 1, 0)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.print_title_rows == "$1:$2"
    summary = book["核验汇总"]
    cells = {row[0]: row[1:] for row in summary.iter_rows(values_only=True) if row and row[0]}
    assert cells["数据行数"][0] == 5 and cells["正常"][:3] == (2, "可联系", "normal")
    assert cells["查询繁忙"][0] == 1 and cells["文件"][0] == "list.xlsx"
    assert cells["表中时间均为"][0] == "UTC+08:00 (Asia/Shanghai)"
    assert any("再次运行同一命令" in str(k) for k in cells)  # a busy row: how to fill it in
    assert book.sheetnames[-1] == "核验汇总"


def test_the_stable_names_for_scripts(tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]) -> None:
    src = tmp_path / "list.xlsx"
    titled_workbook(src)
    assert run_cli("run", src, "--yes", "--language", "zh-CN", "--headers", "names", env=env).returncode == 1
    sheet = load(tmp_path / "list.verified.xlsx")["名单"]
    header = [c.value for c in sheet[2]]
    assert header[-len(OUTPUT_COLUMNS) :] == OUTPUT_COLUMNS
    billable = sheet.cell(3, header.index("mobile_billable") + 1)
    assert billable.value is True and "TRUE" in billable.number_format
    assert sheet.cell(3, header.index("mobile_source") + 1).value == "api"
    bad = run_cli("run", src, "--yes", "--time-zone", "Asia", env=env)
    assert bad.returncode == 2 and "--time-zone must be a time zone name" in bad.stderr, bad.stderr


def test_no_summary_sheet_when_asked(tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]) -> None:
    src = tmp_path / "list.xlsx"
    titled_workbook(src)
    assert run_cli("run", src, "--yes", "--no-summary-sheet", env=env).returncode == 1
    assert load(tmp_path / "list.verified.xlsx").sheetnames == ["名单"]


def test_a_previous_output_fed_back_keeps_one_of_everything(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.xlsx"
    titled_workbook(src)
    assert run_cli("run", src, "--yes", env=env).returncode == 1
    first = tmp_path / "list.verified.xlsx"
    again = tmp_path / "again.xlsx"
    assert run_cli("run", first, "-o", again, "--yes", env=env).returncode == 1
    book = load(again)
    assert book.sheetnames == ["名单", "batchverify summary"]
    sheet = book["名单"]
    header = [c.value for c in sheet[2]]
    assert header.count("mobile_status") == 1 and len(header) == 4 + 14
    assert len(list(sheet.conditional_formatting)) == len(list(load(first)["名单"].conditional_formatting))


def test_images_and_charts_are_kept_byte_for_byte(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    pytest.importorskip("PIL")
    src = tmp_path / "list.xlsx"
    titled_workbook(src, chart=True, image=True)
    assert run_cli("run", src, "--yes", env=env).returncode == 1
    out = tmp_path / "list.verified.xlsx"
    with zipfile.ZipFile(src) as before, zipfile.ZipFile(out) as after:
        kept = [n for n in before.namelist() if n.startswith(("xl/media/", "xl/charts/", "xl/drawings/"))]
        assert any(n.startswith("xl/media/") for n in kept) and any(n.startswith("xl/charts/") for n in kept)
        for name in kept:
            assert after.read(name) == before.read(name), name
        rels = after.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
        assert "drawing" in rels and b"<drawing " in after.read("xl/worksheets/sheet1.xml")
    book = load(out)
    assert len(book["名单"]._images) == 1 and len(book["名单"]._charts) == 1


def test_xlsx_to_csv_and_csv_to_xlsx(tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]) -> None:
    src = tmp_path / "list.xlsx"
    titled_workbook(src)
    as_csv = tmp_path / "list.csv"
    result = run_cli("run", src, "-o", as_csv, "--yes", env=env)
    assert result.returncode == 1, result.stderr
    data = as_csv.read_bytes()
    assert data.startswith(codecs.BOM_UTF8)  # Excel on Chinese Windows reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == TITLE and rows[1][:4] == ["编号", "姓名", "手机号码", "余额"]
    assert [r[2] for r in rows[2:]] == [LIVE, SUSPENDED, BUSY, "12345", LIVE]  # digits, never 1.38E+10
    assert rows[2][0] == "001" and rows[2][3] == "10.5"
    # ...and back: a CSV list as a workbook, text staying text.
    plain = tmp_path / "plain.csv"
    with plain.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["id", "phone"], ["007", LIVE], ["008", "+86 138 0000 0001"]])
    book_out = tmp_path / "plain.xlsx"
    result = run_cli("run", plain, "-o", book_out, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    sheet = load(book_out).worksheets[0]
    assert [c.value for c in sheet["A"]][:3] == ["id", "007", "008"]
    assert sheet["B2"].value == LIVE and sheet["B2"].data_type == "s"
    assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")


def test_a_wrong_output_format_is_refused_before_sending(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.xlsx"
    titled_workbook(src)
    for bad in ("out.xlsm", "out.pdf", "out"):
        result = run_cli("run", src, "-o", tmp_path / bad, "--yes", env=env)
        assert result.returncode == 2 and "must be one of" in result.stderr, result.stderr
    assert fast_sim.ledger()["requests"] == 0


def soffice() -> str | None:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("LibreOffice (soffice) is not installed; .ci/run installs it")
    return found


def test_libreoffice_reads_every_output_as_written(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    office = soffice()
    if office is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    src = tmp_path / "list.xlsx"
    titled_workbook(src, chart=True)
    problems = tmp_path / "problems.xlsx"
    assert run_cli("run", src, "--yes", "--problems", problems, env=env).returncode == 1
    out = tmp_path / "list.verified.xlsx"
    for book in (out, problems):
        converted = subprocess.run(
            [
                office,
                "--headless",
                "--norestore",
                f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                "--convert-to",
                "csv:Text - txt - csv (StarCalc):44,34,76",  # the first sheet, as UTF-8
                "--outdir",
                str(tmp_path / "lo-out"),
                str(book),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert converted.returncode == 0, converted.stderr
        text = (tmp_path / "lo-out" / f"{book.stem}.csv").read_text(encoding="utf-8")
        seen = list(csv.reader(io.StringIO(text, newline="")))
        expected = [list(row) for row in load(book).worksheets[0].iter_rows(values_only=True)]
        at = 1 if book == out else 0  # the problems file has no title row
        assert seen[at] == [str(v) for v in expected[at]]
        status = expected[at].index("mobile_status")
        assert [r[status] for r in seen[at + 1 :]] == [str(r[status]) for r in expected[at + 1 :]]
        assert [r[2] for r in seen[at + 1 :]] == [str(r[2]) for r in expected[at + 1 :]]


def test_a_chinese_result_prints_landscape_one_page_wide(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    """Printed by LibreOffice as it comes: the sample's 60 rows and 21 columns on one landscape A4
    page's width (it ran to 17 portrait pages with its columns split), the problems the same."""
    office = soffice()
    if office is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    from tests.support.renders import ROOT, print_pdf

    src = tmp_path / "customers.xlsx"
    shutil.copy(ROOT / "sample_data" / "customers.xlsx", src)
    problems = tmp_path / "customers.problems.xlsx"
    args = ("run", src, "--yes", "--language", "zh-CN", "--problems", problems)
    assert run_cli(*args, env=env).returncode == 1
    for book, most in ((tmp_path / "customers.verified.xlsx", 4), (problems, 1)):
        data = print_pdf(office, book, tmp_path / "pdf", tmp_path / "lo-profile").read_bytes()
        pages = re.findall(rb"/Type\s*/Page\b(?!s)", data)
        assert 1 <= len(pages) <= most, (book.name, len(pages))  # the list sheet, notes, summary
        width, height = map(float, re.findall(rb"/MediaBox\s*\[0 0 ([0-9.]+) ([0-9.]+)\]", data)[0])
        assert width > height and round(width) == 842  # A4, landscape


def test_a_print_area_the_sheet_has_takes_in_the_results(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "pa.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户 列表"
    sheet.append(["名单"])
    sheet.append(["姓名", "手机", "城市"])
    for i in range(30):
        sheet.append([f"n{i}", str(13800138000 + i), "x"])
    for area, widened in [
        ("A1:C32", "'客户 列表'!$A$1:$Q$32"),
        ("A1:A6,C1:C6", "'客户 列表'!$A$1:$A$6,'客户 列表'!$C$1:$C$6"),  # several: as its author made it
    ]:
        sheet.print_area = area
        sheet.print_title_rows = "1:2"
        book.save(src)
        assert run_cli("run", src, "--yes", "--answers", "none", env=env).returncode in (0, 1)
        out = load(tmp_path / "pa.verified.xlsx").worksheets[0]
        assert out.print_area == widened and out.print_title_rows == "$1:$2", (area, out.print_area)
        assert out.page_setup.orientation == "landscape"
