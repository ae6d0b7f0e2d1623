"""Generated benchmark inputs (never committed; they live under bench/work/).

Every generator is deterministic for its seed and is skipped when a file made with the same
parameters is already there (a ``.meta.json`` sidecar records them), so re-running the benchmark
does not pay for the 1,000,000-row CSV again. Numbers avoid the simulator's scripted test numbers
(137…, 138…, 139…): every generated number gets the simulator's hash-based, always-final answer.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

GEN_VERSION = 2

# Mainland mobile prefixes without 137/138/139, which hold the simulator's scripted numbers.
_PREFIXES = (130, 131, 132, 133, 135, 136, 150, 151, 152, 153, 155, 156, 157, 158, 159, 166)
_PREFIXES += (176, 177, 178, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199)
# Cells normalize_mobile() rejects: wrong length, wrong prefix, Excel's lossy E-notation, letters,
# a foreign number, a landline.
INVALID_CELLS = (
    "1380013800",
    "158001380001",
    "12800138000",
    "1.58001E+10",
    "n/a",
    "+1 415 555 0132",
    "0755-8888-7777",
    "158OO138OOO",
)
_CITIES = ("Shanghai", "Beijing", "Shenzhen", "Guangzhou", "Chengdu", "Hangzhou", "Wuhan", "Xi'an")
_TIERS = ("gold", "silver", "bronze", "trial")
_NOTES = ("", "", "called twice, no answer", "prefers SMS", "VIP; renew in Q3", 'said "call later"')

CSV_HEADER = [
    "id",
    "name",
    "mobile",
    "email",
    "city",
    "company",
    "signup_date",
    "amount",
    "tier",
    "note",
]
XLSX_HEADER = ["id", "name", "mobile", "email", "city", "signup_date", "amount", "note"]


class NumberSource:
    """Distinct valid mobile numbers (ints) in a reproducible order."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._seen: set[int] = set()

    def next(self) -> int:
        rng, seen = self._rng, self._seen
        while True:
            number = rng.choice(_PREFIXES) * 100_000_000 + rng.randrange(100_000_000)
            if number not in seen:
                seen.add(number)
                return number


def distinct_numbers(count: int, seed: int) -> list[int]:
    """``count`` distinct valid numbers."""
    source = NumberSource(seed)
    return [source.next() for _ in range(count)]


def _formatted(number: int, rng: random.Random) -> str:
    """The number as people type it: mostly plain, sometimes with +86 and spaces, or dashes."""
    text = str(number)
    r = rng.random()
    if r < 0.8:
        return text
    if r < 0.9:
        return f"+86 {text[:3]} {text[3:7]} {text[7:]}"
    return f"{text[:3]}-{text[3:7]}-{text[7:]}"


def _fresh(path: Path, meta: dict[str, object]) -> bool:
    sidecar = path.with_name(path.name + ".meta.json")
    if path.exists() and sidecar.exists():
        try:
            return bool(json.loads(sidecar.read_text()) == meta)
        except ValueError:
            return False
    return False


def _save_meta(path: Path, meta: dict[str, object]) -> None:
    path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, sort_keys=True))


def _distinct_path(path: Path) -> Path:
    return path.with_name(path.name + ".distinct.txt")


def read_distinct(path: Path) -> list[int]:
    """The distinct valid numbers of a generated table, in order of first appearance."""
    with _distinct_path(path).open() as f:
        return [int(line) for line in f]


def numbers_csv(path: Path, numbers: list[int]) -> Path:
    """A small customer list (id, name, mobile) holding exactly ``numbers``, one per row."""
    meta = {"kind": "numbers", "v": GEN_VERSION, "count": len(numbers), "first": numbers[:3]}
    if _fresh(path, meta):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "name", "mobile"])
        writer.writerows([i + 1, f"Customer {i + 1}", n] for i, n in enumerate(numbers))
    _save_meta(path, meta)
    return path


def people_csv(path: Path, rows: int, *, dup_share: float, invalid_share: float, seed: int) -> Path:
    """A ``rows``-row, 10-column customer CSV with ``dup_share`` repeated and ``invalid_share``
    invalid phone cells; also writes the distinct numbers beside it (``.distinct.txt``)."""
    meta = {
        "kind": "people_csv",
        "v": GEN_VERSION,
        "rows": rows,
        "dup": dup_share,
        "invalid": invalid_share,
        "seed": seed,
    }
    if _fresh(path, meta):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    source = NumberSource(seed + 1)
    distinct: list[int] = []
    batch: list[list[object]] = []
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for i in range(1, rows + 1):
            r = rng.random()
            if r < invalid_share:
                phone = INVALID_CELLS[i % len(INVALID_CELLS)]
            elif r < invalid_share + dup_share and distinct:
                phone = _formatted(distinct[rng.randrange(len(distinct))], rng)
            else:
                number = source.next()
                distinct.append(number)
                phone = _formatted(number, rng)
            batch.append(
                [
                    i,
                    f"Customer {i}",
                    phone,
                    f"user{i}@example.com",
                    _CITIES[i % len(_CITIES)],
                    f"Company {i % 5000}",
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    f"{rng.random() * 1000:.2f}",
                    _TIERS[i % len(_TIERS)],
                    _NOTES[i % len(_NOTES)],
                ]
            )
            if len(batch) >= 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)
    _distinct_path(path).write_text("".join(f"{n}\n" for n in distinct))
    _save_meta(path, meta)
    return path


def people_xlsx(path: Path, rows: int, *, dup_share: float, invalid_share: float, seed: int) -> Path:
    """A ``rows``-row, 8-column workbook like ``people_csv``; 70 % of the valid phones are numeric
    cells (as Excel stores typed-in numbers), the rest text."""
    meta = {
        "kind": "people_xlsx",
        "v": GEN_VERSION,
        "rows": rows,
        "dup": dup_share,
        "invalid": invalid_share,
        "seed": seed,
    }
    if _fresh(path, meta):
        return path
    import openpyxl

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    source = NumberSource(seed + 1)
    distinct: list[int] = []
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Customers")
    sheet.append(XLSX_HEADER)
    for i in range(1, rows + 1):
        r = rng.random()
        phone: int | str
        if r < invalid_share:
            phone = INVALID_CELLS[i % len(INVALID_CELLS)]
        else:
            if r < invalid_share + dup_share and distinct:
                number = distinct[rng.randrange(len(distinct))]
            else:
                number = source.next()
                distinct.append(number)
            phone = number if rng.random() < 0.7 else _formatted(number, rng)
        sheet.append(
            [
                i,
                f"Customer {i}",
                phone,
                f"user{i}@example.com",
                _CITIES[i % len(_CITIES)],
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                round(rng.random() * 1000, 2),
                _NOTES[i % len(_NOTES)],
            ]
        )
    tmp = path.with_name(path.name + ".tmp.xlsx")
    workbook.save(tmp)
    tmp.replace(path)
    _distinct_path(path).write_text("".join(f"{n}\n" for n in distinct))
    _save_meta(path, meta)
    return path


def people_xlsx_excel_like(
    path: Path, rows: int, *, dup_share: float, invalid_share: float, seed: int
) -> Path:
    """The same list as ``people_xlsx``, laid out the way Excel saves a workbook: every text in
    xl/sharedStrings.xml (each row adds four), cells with ``r`` and ``s`` attributes, a dimension.
    Written as XML directly (openpyxl's write-only mode stores inline strings, which Excel never
    does, and its normal mode would need gigabytes at a million rows)."""
    meta = {
        "kind": "people_xlsx_excel_like",
        "v": GEN_VERSION,
        "rows": rows,
        "dup": dup_share,
        "invalid": invalid_share,
        "seed": seed,
    }
    if _fresh(path, meta):
        return path
    import zipfile
    from xml.sax.saxutils import escape

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    source = NumberSource(seed + 1)
    distinct: list[int] = []
    strings: dict[str, int] = {}

    def sst(text: str) -> int:
        return strings.setdefault(text, len(strings))

    tmp = path.with_name(path.name + ".tmp.xlsx")
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{main}" '
                f'xmlns:r="{rel}"><dimension ref="A1:H{rows + 1}"/><sheetViews><sheetView '
                'tabSelected="1" workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                'activePane="bottomLeft" '
                'state="frozen"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
                "<sheetData>".encode()
            )
            head = "".join(
                f'<c r="{"ABCDEFGH"[i]}1" s="1" t="s"><v>{sst(name)}</v></c>'
                for i, name in enumerate(XLSX_HEADER)
            )
            f.write(f'<row r="1" spans="1:8">{head}</row>'.encode())
            batch: list[str] = []
            for i in range(1, rows + 1):
                r = i + 1
                roll = rng.random()
                if roll < invalid_share:
                    phone = f'<c r="C{r}" t="s"><v>{sst(INVALID_CELLS[i % len(INVALID_CELLS)])}</v></c>'
                else:
                    if roll < invalid_share + dup_share and distinct:
                        number = distinct[rng.randrange(len(distinct))]
                    else:
                        number = source.next()
                        distinct.append(number)
                    if rng.random() < 0.7:
                        phone = f'<c r="C{r}" s="2"><v>{number}</v></c>'
                    else:
                        phone = f'<c r="C{r}" t="s"><v>{sst(_formatted(number, rng))}</v></c>'
                day = 45292 + i % 365  # 2024 as Excel serial dates
                batch.append(
                    f'<row r="{r}" spans="1:8"><c r="A{r}"><v>{i}</v></c>'
                    f'<c r="B{r}" t="s"><v>{sst(f"Customer {i}")}</v></c>{phone}'
                    f'<c r="D{r}" t="s"><v>{sst(f"user{i}@example.com")}</v></c>'
                    f'<c r="E{r}" t="s"><v>{sst(_CITIES[i % len(_CITIES)])}</v></c>'
                    f'<c r="F{r}" s="3"><v>{day}</v></c>'
                    f'<c r="G{r}" s="4"><v>{round(rng.random() * 1000, 2)}</v></c>'
                    + (
                        f'<c r="H{r}" t="s"><v>{sst(_NOTES[i % len(_NOTES)])}</v></c>'
                        if _NOTES[i % len(_NOTES)]
                        else ""
                    )
                    + "</row>"
                )
                if len(batch) >= 5000:
                    f.write("".join(batch).encode())
                    batch.clear()
            f.write("".join(batch).encode())
            f.write(b'</sheetData><autoFilter ref="A1:H' + str(rows + 1).encode() + b'"/></worksheet>')
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as f:
            f.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{main}" '
                f'count="{len(strings)}" uniqueCount="{len(strings)}">'.encode()
            )
            chunk: list[str] = []
            for text in strings:
                chunk.append(f"<si><t>{escape(text)}</t></si>")
                if len(chunk) >= 10000:
                    f.write("".join(chunk).encode())
                    chunk.clear()
            f.write(("".join(chunk) + "</sst>").encode())
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType='
            '"application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
            'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.styles+xml"/><Override '
            'PartName="/xl/sharedStrings.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{main}" '
            f'xmlns:r="{rel}"><sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets>'
            '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
            f"Customers!$A$1:$H${rows + 1}</definedName></definedNames></workbook>",
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rel}/styles" '
            f'Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/sharedStrings" '
            f'Target="sharedStrings.xml"/></Relationships>',
        )
        z.writestr(
            "xl/styles.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{main}">'
            '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/>'
            '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/>'
            '</fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border>'
            '<left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf '
            'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="5"><xf '
            'numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" '
            'fontId="1" fillId="0" '
            'borderId="0" xfId="0" applyFont="1"/><xf numFmtId="1" fontId="0" fillId="0" borderId="0" '
            'xfId="0" applyNumberFormat="1"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
            'applyNumberFormat="1"/><xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" '
            'applyNumberFormat="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" '
            'builtinId="0"/></cellStyles></styleSheet>',
        )
    tmp.replace(path)
    _distinct_path(path).write_text("".join(f"{n}\n" for n in distinct))
    _save_meta(path, meta)
    return path


if __name__ == "__main__":
    # python -m bench.datagen PATH ROWS SEED [DUP_SHARE]: the Excel-like workbook, made in a process
    # of its own, so that the generator's memory does not raise the peak RSS the kernel reports for the
    # measured programs the benchmark starts afterwards (a child's maxrss starts at its parent's).
    import sys

    people_xlsx_excel_like(
        Path(sys.argv[1]),
        int(sys.argv[2]),
        dup_share=float(sys.argv[4]) if len(sys.argv) > 4 else 0.10,
        invalid_share=0.02,
        seed=int(sys.argv[3]),
    )
