"""The sample customer lists (``batchverify demo``, ``sample_data/``), made by code so that an
installed package carries no data files and the bytes are the same every time.

``customers``: 60 made-up customers that exercise what real lists contain: phone numbers stored as
numbers in the workbook, formatting noise (dashes, spaces, +86 / 0086 prefixes, full-width digits),
duplicates, invalid and empty cells, a scientific-notation cell as Excel writes it into a CSV,
``007``-style ids and literal ``NA``/``null`` that must survive untouched, a second sheet, and a
merged title row above the header with an autofilter. Every documented simulator test number
appears, so a ``--simulator`` run shows every status, except 13700000008/13700000009 (their errors
stop the whole job) and 13700000007 (dropped on every attempt, so it never finishes).

``nightly``: 200 ordinary customers, each answered on the first call, for rehearsing the nightly
job with ``--simulator-night N``: each night's job finishes, and the next night says what changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import tempfile
import zipfile
from pathlib import Path

import openpyxl  # type: ignore[import-untyped,unused-ignore]
from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped,unused-ignore]

HEADER = ["客户编号", "姓名", "手机号码", "城市", "开户日期", "备注", "余额"]
TITLE = "2026年12月 待核验客户名单"
EXCLUDED = {"13700000007", "13700000008", "13700000009"}
FIXED_TIME = (2026, 1, 1, 0, 0, 0)
FIXED_ISO = "2026-01-01T00:00:00Z"
FULL_WIDTH = {ord(d): 0xFF10 + int(d) for d in "0123456789"}

# (phone as stored, remark). An int is a numeric cell in the workbook; a str is a text cell.
# The same text goes into the CSV (str(int) for numbers).
PHONES: list[tuple[int | str, str]] = [
    (13800138000, "API 文档示例号码"),
    (16137688175, "API 文档示例号码(服务端判为格式错误)"),
    (13800000000, "正常"),
    ("138-0000-0001", "停机"),
    ("+86 138 0000 0002", "销号"),
    (13800000004, "不在网"),
    ("138 0000 0005", "在网但不可用"),
    (13800000099, "状态未知"),
    ("(0086)13900000001", "查无记录"),
    ("139-0000-0002", "格式错误(服务端)"),
    (13900000003, "验证中心一直繁忙"),
    ("13900000004".translate(FULL_WIDTH), "全角数字;当日次数超限"),
    (8613900000013, "带 86 前缀的数字单元格;号段不支持"),
    (13900000009, "未列出的 Result"),
    ("+8613900000033", "先繁忙两次,然后正常"),
    (13700000001, "参数错误"),
    ("137 0000 0002", "内部错误(每次)"),
    (13700000003, "内部错误一次,然后正常"),
    ("137-0000-0004", "网关 502 一次,然后正常"),
    (13700000006, "连接被断开一次,然后正常"),
    (13800000007, "未列出的 StatusCode"),
    ("13800138000", "重复:同一号码另一种写法"),
    ("138 0013 8000", "重复"),
    (13800000000, "重复"),
    ("1.38001E+10", "科学计数法:数字已丢失"),
    ("1380013800", "只有 10 位"),
    ("021-6234 5678", "座机号码"),
    ("", "手机号为空"),
    ("   ", "只有空格"),
    ("（＋８６）" + "136 0013 8000".translate(FULL_WIDTH), "全角括号和加号"),
]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍鹏辉玲"
CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
REMARKS = ["NA", "null", "", "VIP", "N/A", "老客户", "-", "None"]


def build_rows() -> list[list[object]]:
    """The 60 data rows, in workbook types (int/str phone, date, float balance)."""
    rng = random.Random(20261126)
    phones: list[tuple[int | str, str]] = list(PHONES)
    # Ordinary customers: numbers outside the scripted set get the simulator's hash-based spread.
    while len(phones) < 60:
        number = int(f"1{rng.choice('3578')}{rng.randrange(10**9):09d}")
        text = str(number)
        if text not in EXCLUDED:
            phones.append((number if rng.random() < 0.7 else f"{text[:3]} {text[3:]}", ""))
    rows: list[list[object]] = []
    for i, (phone, remark) in enumerate(phones, start=1):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        opened = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(4000))
        balance = round(rng.uniform(0, 50_000), 2) if rng.random() < 0.9 else 0.0
        note = remark or rng.choice(REMARKS)
        rows.append([f"{i:03d}", name, phone, rng.choice(CITIES), opened, note, balance])
    return rows


def write_xlsx(rows: list[list[object]], path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户名单"
    # A merged title row above the header, as many real lists have: batchverify finds the header below it.
    sheet.append([TITLE])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(HEADER)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[2]:
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center")
    for row in rows:
        sheet.append(row)
    for (phone_cell,) in sheet.iter_rows(min_row=3, min_col=3, max_col=3):
        if isinstance(phone_cell.value, int):
            phone_cell.number_format = "0"  # all digits, not 1.38E+10
    for (id_cell,) in sheet.iter_rows(min_row=3, min_col=1, max_col=1):
        id_cell.number_format = "@"
    for (date_cell,) in sheet.iter_rows(min_row=3, min_col=5, max_col=5):
        date_cell.number_format = "yyyy-mm-dd"
    for (money_cell,) in sheet.iter_rows(min_row=3, min_col=7, max_col=7):
        money_cell.number_format = "#,##0.00"
    for letter, width in zip("ABCDEFG", (10, 10, 22, 8, 12, 34, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A3"
    sheet.auto_filter.ref = f"A2:G{len(rows) + 2}"

    notes = book.create_sheet("说明")
    notes.append(["说明"])
    notes["A1"].font = bold
    for line in (
        "这是 batchverify 的示例客户名单,所有号码均为模拟器的测试号码或随机号码。",
        "手机号码列混合了数字单元格和文本单元格,含各种格式噪声、重复、无效与空值。",
        "本工作表应原样保留在输出文件中。",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 80

    book.properties.creator = "batchverify"
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(_deterministic_zip(buffer.getvalue()))


def _deterministic_zip(data: bytes) -> bytes:
    """Fixed entry timestamps and document dates, so regenerating gives the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + FIXED_ISO.encode(), content
                )
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, content)
    return out.getvalue()


def csv_cell(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_csv(rows: list[list[object]], path: Path) -> None:
    # UTF-8 with BOM and CRLF: what Excel writes as "CSV UTF-8" and opens with the Chinese intact.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows([csv_cell(v) for v in row] for row in rows)


def nightly_rows(count: int = 200) -> list[list[object]]:
    """Ordinary customers only: numbers outside the scripted set, each a valid mobile number."""
    rng = random.Random(20261207)
    rows: list[list[object]] = []
    seen: set[str] = set()
    while len(rows) < count:
        text = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        if text in seen or text in EXCLUDED or text.startswith(("137", "138", "139")):
            continue  # the scripted test numbers live in 137/138/139
        seen.add(text)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        opened = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(4000))
        rows.append([f"N{len(rows) + 1:04d}", name, text, rng.choice(CITIES), opened, "", 0.0])
    return rows


SAMPLES = ("customers.xlsx", "customers.csv", "nightly.csv")


def sample_bytes() -> dict[str, bytes]:
    """Every sample file by name, as bytes (the same bytes on every call)."""
    with tempfile.TemporaryDirectory() as folder:
        write_samples(Path(folder))
        return {name: (Path(folder) / name).read_bytes() for name in SAMPLES}


def write_samples(folder: Path) -> None:
    rows = build_rows()
    write_xlsx(rows, folder / "customers.xlsx")
    write_csv(rows, folder / "customers.csv")
    write_csv(nightly_rows(), folder / "nightly.csv")
