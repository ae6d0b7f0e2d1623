"""The format rules both writers follow: which extensions are text, what each input may become."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ALLOWED_OUTPUTS",
    "EXCEL_CELL_CHARS",
    "EXCEL_COLUMNS",
    "EXCEL_ROWS",
    "TEXT_SUFFIXES",
    "output_kind",
]

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
# What one Excel worksheet holds.
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
EXCEL_CELL_CHARS = 32_767
# The output formats each input format may be written as.
ALLOWED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "csv": (*TEXT_SUFFIXES, ".xlsx"),
    "xlsx": (".xlsx", *TEXT_SUFFIXES),
    "xlsm": (".xlsm", *TEXT_SUFFIXES),
    "xls": (".xlsx", *TEXT_SUFFIXES),
}


def output_kind(out: Path) -> str:
    """``csv``, ``xlsx`` or ``xlsm`` by the output's extension (anything else: ``""``)."""
    suffix = out.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "csv"
    return suffix[1:] if suffix in (".xlsx", ".xlsm") else ""
