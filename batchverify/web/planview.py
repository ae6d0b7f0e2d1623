"""A plan as the upload page shows it: the figures, the phone column and the other columns it could
be, and a preview of the first rows. Reads the first rows of the table again (in the caller's
worker thread); sends nothing."""

from __future__ import annotations

import itertools
from typing import Any

from batchverify.core.columns import column_letter
from batchverify.core.normalize import normalize_mobile
from batchverify.engine.plan import Plan

__all__ = ["plan_view"]

PREVIEW_ROWS = 5
_SAMPLE_ROWS = 200
_MAX_COLUMNS = 200  # a wide CRM export still shows (and offers) every column up to here
_MAX_CELL = 80


def _cell(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def plan_view(made: Plan) -> dict[str, Any]:
    """The ``plan`` object of the JSON API."""
    table = made.table
    header = list(table.header)
    sample = [r for r in itertools.islice(table.records(), 1, _SAMPLE_ROWS + 1) if r.is_data]
    width = min(_MAX_COLUMNS, max([len(header), *(len(r.cells) for r in sample)]))
    width = max(width, made.phone_col + 1)  # the phone column is always shown and offered
    candidates = []
    for index in range(width):
        values = [r.cells[index] for r in sample if index < len(r.cells) and r.cells[index].strip()]
        valid = sum(normalize_mobile(v).number is not None for v in values)
        candidates.append(
            {
                "column": str(index + 1),  # the value of the ``column`` field that picks it
                "letter": column_letter(index),
                "name": _cell(header[index]) if index < len(header) else "",
                "valid": valid,
                "filled": len(values),
                "samples": [_cell(v) for v in values[:3]],
            }
        )
    preview = []
    for record in sample[:PREVIEW_ROWS]:
        cell = record.cells[made.phone_col] if made.phone_col < len(record.cells) else ""
        norm = normalize_mobile(cell)
        preview.append(
            {
                "line": record.line,
                "cells": [_cell(c) for c in record.cells[:width]],
                "number": norm.number,
                "problem": None if norm.number is not None else norm.reason,
            }
        )
    return {
        "rows": made.rows,
        "distinct": len(made.distinct),
        "invalid": made.invalid,
        "empty": made.empty,
        "duplicates": made.duplicate_rows,
        "reused": made.reused + made.already_answered,
        "to_send": len(made.to_send),
        "max_billable": made.max_billable if made.to_send else 0,
        "column": {
            "column": str(made.phone_col + 1),
            "letter": column_letter(made.phone_col),
            "name": _cell(header[made.phone_col]) if made.phone_col < len(header) else "",
            "named": made.column_named,
        },
        "header_row": table.header_line,
        "header": [_cell(h) for h in header[:width]],
        "sheet": table.format.sheet_name,
        "sheets": list(table.format.sheet_names),
        "candidates": candidates,
        "preview": preview,
    }
