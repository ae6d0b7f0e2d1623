"""Find the header row and the phone column together. Pure: works on the first rows of a table.

Customer lists often carry a title ("2026年12月 待核验客户名单", merged across the top), a blank row
or a line of notes above the real header. Taking the first row with content as the header would
pick an unnamed "column 3", count the real header as an invalid number and write the result names
into the title. So each of the first ``SCAN_ROWS`` rows with content is tried as the header (and
"no header at all"), the phone column is detected under each, and the best is kept:

1. a header that names the phone column (``手机号码`` beats ``客户手机`` beats nothing);
2. then the larger share of valid mobile numbers below it;
3. then the header row with more filled cells (a title fills one, a header most);
4. then the earlier row.

A row whose cell in the chosen column is itself a valid number is data, not a header: a one-column
list without a header starts with a number, and that first number is verified like the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from batchverify.core.columns import detect_phone_column, name_strength
from batchverify.core.normalize import normalize_mobile
from batchverify.errors import InputError

__all__ = ["SAMPLE_ROWS", "SCAN_ROWS", "HeaderChoice", "locate_header"]

# A cell of digits (and phone punctuation) with 7 or more digits is a number, not a header name.
_NUMBERISH_RE = re.compile(r"\s*\+?[0-9 ()\-.]*(?:[0-9][ ()\-.]*){7,}\s*", re.ASCII)
_INDEX_RE = re.compile(r"[0-9]{1,5}", re.ASCII)
SCAN_ROWS = 20  # how far down a header may sit
SAMPLE_ROWS = 500  # data rows looked at to judge a column


@dataclass(frozen=True, slots=True)
class HeaderChoice:
    """``line``: the header's line (1-based, as the table numbers them), 0 for a table without
    a header; ``phone_col``: 0-based; ``named``: the column's header names it as a phone column."""

    line: int
    phone_col: int
    named: bool


def locate_header(
    top: list[tuple[int, list[str]]],
    requested_column: str | None = None,
    header_line: int | None = None,
) -> HeaderChoice:
    """The header row and phone column of a table whose first rows are ``top`` (line, cells).

    ``top`` holds at least ``SCAN_ROWS + SAMPLE_ROWS`` rows when the table has them.
    ``requested_column`` is ``--column``; ``header_line`` is ``--header-row`` (0: no header row).
    Raises ``InputError`` when no row works, with the message the most likely header gives.
    """
    cache: dict[str, bool] = {}
    position = _position(requested_column, top)
    if position is not None:
        requested_column = None

    def is_valid(cell: str) -> bool:
        known = cache.get(cell)
        if known is None:
            known = cache[cell] = normalize_mobile(cell).number is not None
        return known

    if header_line is not None:
        return _fixed(top, header_line, requested_column, is_valid, position)
    candidates = [i for i, (_, cells) in enumerate(top[:SCAN_ROWS]) if any(c.strip() for c in cells)]
    if not candidates:
        raise InputError("the table has no rows with content in its first rows", code="no_content")
    best: tuple[tuple[int, float, int, int], HeaderChoice] | None = None
    # When every row fails, the message that helps is the one under the most header-like row.
    error: tuple[tuple[int, int], InputError] | None = None
    for index in [*candidates, -1]:
        try:
            choice, score = _try(top, index, requested_column, is_valid, position)
        except InputError as exc:
            named = max(map(name_strength, top[index][1]), default=0) if index >= 0 else -1
            if error is None or (named, -index) > error[0]:
                error = ((named, -index), exc)
            continue
        if choice is not None and (best is None or score > best[0]):
            best = (score, choice)
    if best is None:
        assert error is not None
        raise error[1]
    return best[1]


def _try(
    top: list[tuple[int, list[str]]],
    index: int,
    requested: str | None,
    is_valid: Callable[[str], bool],
    position: int | None = None,
) -> tuple[HeaderChoice | None, tuple[int, float, int, int]]:
    """The choice with row ``index`` of ``top`` as header (-1: none) and its score."""
    header = top[index][1] if index >= 0 else []
    if index < 0:
        first = next(i for i, (_, cells) in enumerate(top) if any(c.strip() for c in cells))
        rows = [cells for _, cells in top[first : first + SAMPLE_ROWS]]
    else:
        rows = [cells for _, cells in top[index + 1 : index + 1 + SAMPLE_ROWS]]
    col = position if position is not None else detect_phone_column(header, rows, requested, is_valid)
    if index >= 0 and col < len(header) and (is_valid(header[col]) or _NUMBERISH_RE.fullmatch(header[col])):
        return None, (0, 0.0, 0, 0)  # a number (valid or not) is data, not a header
    first_cell = rows[0][col] if rows and col < len(rows[0]) else ""
    if index < 0 and not (is_valid(first_cell) or _NUMBERISH_RE.fullmatch(first_cell)):
        return None, (0, 0.0, 0, 0)  # without a header, the first row must be a number
    strength = name_strength(header[col]) if col < len(header) else 0
    filled = [c for r in rows if col < len(r) and (c := r[col]).strip()]
    share = sum(map(is_valid, filled)) / len(filled) if filled else 0.0
    width = sum(1 for c in header if c.strip())
    line = top[index][0] if index >= 0 else 0
    named = strength > 0 or requested is not None or position is not None  # the user named it
    return HeaderChoice(line, col, named), (strength, round(share, 3), width, -index)


def _position(requested: str | None, top: list[tuple[int, list[str]]]) -> int | None:
    """``--column 3``: a position, never a header name (a data cell "3" must not be taken for one)."""
    if requested is None or not _INDEX_RE.fullmatch(requested.strip()):
        return None
    width = max((len(cells) for _, cells in top), default=0)
    index = int(requested.strip()) - 1
    if not 0 <= index < width:
        raise InputError(
            "column {column} not found: the table has {width} columns",
            code="column_not_found",
            option="column",
            column=requested.strip(),
            width=width,
        )
    return index


def _fixed(
    top: list[tuple[int, list[str]]],
    header_line: int,
    requested: str | None,
    is_valid: Callable[[str], bool],
    position: int | None,
) -> HeaderChoice:
    if header_line == 0:
        choice, _ = _try(top, -1, requested, is_valid, position)
        if choice is None:
            raise InputError(
                "{o[header_row]} 0 (no header): the first row does not hold a mobile number",
                code="bad_header_row",
                option="header_row",
            )
        return choice
    found = [i for i, (line, _) in enumerate(top) if line == header_line]
    if not found or not any(c.strip() for c in top[found[0]][1]):
        raise InputError(
            "{o[header_row]} {row}: that row is empty or beyond the first rows",
            code="bad_header_row",
            option="header_row",
            row=header_line,
        )
    choice, _ = _try(top, found[0], requested, is_valid, position)
    if choice is None:
        raise InputError(
            "{o[header_row]} {row} holds a mobile number, not a header; "
            "use {o[header_row]} 0 for a list without one",
            code="bad_header_row",
            option="header_row",
            row=header_line,
        )
    return choice
