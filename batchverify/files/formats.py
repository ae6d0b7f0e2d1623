"""The format rules both writers follow: which extensions are text, what each input may become."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ALLOWED_OUTPUTS", "TEXT_SUFFIXES", "output_kind"]

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
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
