"""rewrite_workbook: the annotated sheet streamed into a temporary zip first (the styles, workbook and
summary sheet are only known once every row is written), then the output assembled member by member
in the source's order, every part not edited copied without recompressing."""

from __future__ import annotations

import contextlib
import secrets
import zipfile
from pathlib import Path

from batchverify.files.layout import Annotate, Layout, private_file
from batchverify.files.xlsx.cells import ResultCells
from batchverify.files.xlsx.model import Presentation, StreamUnsupported
from batchverify.files.xlsx.package import Package, copy_member
from batchverify.files.xlsx.rows import RowPlan, RowStream
from batchverify.files.xlsx.sheetwriter import SheetSpec, write_worksheet
from batchverify.files.xlsx.sheetxml import SheetDoc, body_blocks, scan_sheet
from batchverify.files.xlsx.styles import Styles
from batchverify.files.xlsx.tablexml import SheetTables
from batchverify.files.xlsx.workbookxml import WorkbookEdits

__all__ = ["rewrite_workbook"]

# Speed over size for the big part: level 1 deflates several times faster than the default 6.
SHEET_COMPRESSLEVEL = 1


def rewrite_workbook(
    src: Path,
    out: Path,
    *,
    sheet_name: str,
    header_row: int,
    width: int,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    presentation: Presentation,
    batch_size: int = 5000,
) -> int:
    """Copy the workbook at `src` to `out` (a fresh path: the caller makes it atomic), with the worksheet
    `sheet_name` (as named in xl/workbook.xml) annotated. Returns the number of data rows."""
    if len(presentation.columns) != len(layout.names) or len(layout.positions) != len(layout.names):
        raise ValueError("presentation.columns, layout.names and layout.positions must have one entry each")
    if header_row < 0:
        raise ValueError("header_row must be 0 or a 1-based row")
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.sheet.tmp")
    try:
        private_file(tmp)  # the sheet's rows: phone numbers
        with zipfile.ZipFile(src) as archive:
            return _rewrite(archive, tmp, out, sheet_name, header_row, width, layout, phone_col, annotate,
                            presentation, batch_size)  # fmt: skip
    except zipfile.BadZipFile as exc:
        raise StreamUnsupported(f"not a zip package ({exc})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _rewrite(
    archive: zipfile.ZipFile,
    tmp: Path,
    out: Path,
    sheet_name: str,
    header_row: int,
    width: int,
    layout: Layout,
    phone_col: int,
    annotate: Annotate,
    presentation: Presentation,
    batch_size: int,
) -> int:
    package = Package(archive)
    sheets = package.sheets()
    found = [(i, part) for i, (name, part, _) in enumerate(sheets) if name == sheet_name]
    if not found:
        raise StreamUnsupported(f"no sheet named {sheet_name!r} in the workbook")
    index, part = found[0]
    if part not in package.names:
        raise StreamUnsupported(f"the part of sheet {sheet_name!r} is missing")
    split = scan_sheet(archive, part)
    doc = SheetDoc(split)
    styles_part = package.rel_part("/styles")
    styles = Styles(package.read(styles_part) if styles_part in package.names else None)
    tables = SheetTables(package, part, doc.root)
    edits = WorkbookEdits(package)

    h = max(header_row, 1)
    positions = list(layout.positions)
    result_cols = set(positions)
    last_col = max([*positions, width - 1])
    new_cols = {p: look.width for p, look in zip(positions, presentation.columns, strict=True) if p >= width}
    if header_row == 0:
        doc.shift_rows()
    doc.widen_dimension(min(positions, default=0), last_col, h, h)
    doc.add_cols(new_cols)
    doc.print_layout()  # in the head (sheetPr) and the tail (pageSetup): before the head is written
    before, _ = doc.render()

    cells = ResultCells(split.prefix, styles, presentation.tz, package.date1904())
    plan = RowPlan(
        prefix=split.prefix,
        header_row=header_row,
        positions=positions,
        names=list(layout.names),
        looks=list(presentation.columns),
        phone_col=phone_col,
        batch_size=batch_size,
        skip_rows=tables.totals_rows(phone_col),
    )
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=SHEET_COMPRESSLEVEL) as staged:
        with staged.open(part, "w", force_zip64=True) as sink:
            sink.write(before)
            stream = RowStream(plan, annotate, cells, package.shared_strings, sink.write)
            data_rows = stream.run(body_blocks(archive, part, split))
            last_row = stream.last_row
            has_table = tables.starts_on(h)
            ref = doc.autofilter(h, last_col, last_row, presentation.autofilter and not has_table)
            if ref is not None:
                edits.filter_name(index, sheet_name, ref)
            doc.drop_merges(result_cols, h, last_row)
            doc.colour(result_cols, presentation.colours, h + 1, last_row, styles)
            edits.print_titles(index, sheet_name, h)
            edits.widen_print_area(index, last_col)
            if new_cols:
                names = dict(zip(positions, layout.names, strict=True))
                tables.widen(h, min(new_cols), last_col, names)
            sink.write(doc.render()[1])

        replaced: dict[str, bytes] = dict(tables.edited)
        if presentation.extra_sheet is not None:
            extra = presentation.extra_sheet()
            widths = dict(enumerate(extra.widths)) if extra.widths else None
            spec = SheetSpec(extra.rows, header_row=0, bold_rows=frozenset(extra.bold_rows), widths=widths)
            chunks: list[bytes] = []
            write_worksheet(chunks.append, spec, styles)
            data = b"".join(chunks)
            known = {extra.name, *extra.replaces}
            same = [(n, p) for n, p, _ in sheets if n in known and p != part and p in package.names]
            taken = {n for n, _, _ in sheets}
            if same:
                replaced[same[0][1]] = data
                if extra.name not in taken:
                    edits.rename_sheet(same[0][0], extra.name)
            else:
                name = extra.name if extra.name != sheet_name else f"{extra.name} (2)"
                edits.add_sheet(name, data)
        if styles.changed:
            if styles.created:
                edits.add_styles(styles.data())
            elif styles_part is not None:
                replaced[styles_part] = styles.data()
        staged.close()
        _assemble(archive, package, tmp, out, part, replaced, edits)
    return data_rows


def _assemble(
    archive: zipfile.ZipFile,
    package: Package,
    tmp: Path,
    out: Path,
    part: str,
    replaced: dict[str, bytes],
    edits: WorkbookEdits,
) -> None:
    with zipfile.ZipFile(tmp) as staged, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in package.infos:
            name = info.filename
            data = replaced.get(name)
            if data is None:
                data = edits.member(name)
            if name == part:
                copy_member(staged, staged.getinfo(part), target)
            elif data is not None:
                target.writestr(_info(info), data)
            else:
                copy_member(archive, info, target)
        for name, data in edits.added.items():
            target.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def _info(original: zipfile.ZipInfo) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(original.filename, original.date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = original.external_attr
    return info
