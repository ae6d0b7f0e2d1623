"""write_new_workbook: a new XLSX (CSV -> XLSX, the problems-only file, .xls -> .xlsx), every sheet
streamed into the zip, so memory stays flat whatever the number of rows."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from batchverify.files.xlsx.cells import escape_attr, escape_text
from batchverify.files.xlsx.model import ExtraSheet, NewSheet
from batchverify.files.xlsx.package import MAIN_NS, PKG_REL_NS, REL_NS
from batchverify.files.xlsx.sheetwriter import PRINT_TITLES, SheetSpec, write_worksheet
from batchverify.files.xlsx.styles import Styles
from batchverify.files.xlsx.workbookxml import FILTER_NAME, STYLES_CT, WORKSHEET_CT, abs_range, quote_sheet

__all__ = ["write_new_workbook"]

_WORKBOOK_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STAMP = (1980, 1, 1, 0, 0, 0)
_INVALID_NAME = str.maketrans({c: "_" for c in "[]:*?/\\"})


def _clean_name(name: str, taken: set[str]) -> str:
    base = (name.translate(_INVALID_NAME).strip("'") or "Sheet")[:31]
    candidate, n = base, 2
    while candidate.casefold() in taken:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(candidate.casefold())
    return candidate


def write_new_workbook(out: Path, sheets: Sequence[NewSheet]) -> None:
    """A new workbook (CSV -> XLSX, the problems-only file, .xls -> .xlsx)."""
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    extras = sum(1 for s in sheets if s.presentation is not None and s.presentation.extra_sheet is not None)
    count = len(sheets) + extras
    styles = Styles(None)
    entries: list[tuple[str, str | None, int]] = []  # (sheet name, autofilter ref, header row to print)
    taken: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        target.writestr(_info("[Content_Types].xml"), _content_types(count))
        target.writestr(_info("_rels/.rels"), _root_rels())
        for sheet in sheets:
            number = len(entries) + 1
            name = _clean_name(sheet.name, taken)
            spec = SheetSpec(
                sheet.rows,
                header_row=sheet.header_row,
                result_columns=dict(sheet.result_columns),
                presentation=sheet.presentation,
                tab_selected=number == 1,
            )
            with target.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True) as sink:
                info = write_worksheet(sink.write, spec, styles)
            entries.append((name, info.autofilter, sheet.header_row if sheet.result_columns else 0))
        # Summary sheets go last, after every copied sheet (they need the counts of the rows above).
        for sheet in sheets:
            if sheet.presentation is not None and sheet.presentation.extra_sheet is not None:
                extra: ExtraSheet = sheet.presentation.extra_sheet()
                widths = dict(enumerate(extra.widths)) if extra.widths else None
                extra_spec = SheetSpec(
                    extra.rows, header_row=0, bold_rows=frozenset(extra.bold_rows), widths=widths
                )
                with target.open(f"xl/worksheets/sheet{len(entries) + 1}.xml", "w") as sink:
                    write_worksheet(sink.write, extra_spec, styles)
                entries.append((_clean_name(extra.name, taken), None, 0))
        target.writestr(_info("xl/workbook.xml"), _workbook(entries))
        target.writestr(_info("xl/_rels/workbook.xml.rels"), _workbook_rels(len(entries)))
        target.writestr(_info("xl/styles.xml"), styles.data())


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _content_types(count: int) -> str:
    ct = "http://schemas.openxmlformats.org/package/2006/content-types"
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{WORKSHEET_CT}"/>'
        for n in range(1, count + 1)
    )
    return (
        f'{_DECL}<Types xmlns="{ct}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_WORKBOOK_CT}"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{STYLES_CT}"/>{sheets}</Types>'
    )


def _root_rels() -> str:
    return (
        f'{_DECL}<Relationships xmlns="{PKG_REL_NS}">'
        f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )


def _workbook(entries: list[tuple[str, str | None, int]]) -> str:
    sheets = "".join(
        f'<sheet name="{escape_attr(name)}" sheetId="{n}" r:id="rId{n}"/>'
        for n, (name, _, _) in enumerate(entries, start=1)
    )
    names = "".join(
        f'<definedName name="{FILTER_NAME}" localSheetId="{i}" hidden="1">'
        f"{escape_text(quote_sheet(name))}!{abs_range(ref)}</definedName>"
        for i, (name, ref, _) in enumerate(entries)
        if ref
    )
    names += "".join(
        f'<definedName name="{PRINT_TITLES}" localSheetId="{i}">'
        f"{escape_text(quote_sheet(name))}!$1:${header}</definedName>"
        for i, (name, _, header) in enumerate(entries)
        if header
    )
    return (
        f'{_DECL}<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><workbookPr/>'
        '<bookViews><workbookView activeTab="0"/></bookViews>'
        f"<sheets>{sheets}</sheets>{f'<definedNames>{names}</definedNames>' if names else ''}</workbook>"
    )


def _workbook_rels(count: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{n}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, count + 1)
    )
    return (
        f'{_DECL}<Relationships xmlns="{PKG_REL_NS}">{rels}'
        f'<Relationship Id="rId{count + 1}" Type="{REL_NS}/styles" Target="styles.xml"/></Relationships>'
    )
