"""Find the column that holds the phone numbers. Pure: works on a header and a sample of rows.

``--column`` may name it by header (exact, then case-insensitive and trimmed), by Excel letter
(``C``, ``AA``) or by 1-based position (``3``). Without it, each column gets two pieces of evidence:

* its header: an exact known name (``手机号码``, ``mobile``, ``phone`` ...; case, spaces,
  underscores and dashes ignored) is strong, a header that merely *contains* a keyword
  (``客户手机``, ``mobile_no``) is weak;
* its sample: the share of non-empty cells that normalize to a valid mainland mobile number.

A column is a candidate if its header matches and its sample does not contradict that (≥ 30 %
valid, or no sample values yet), or if ≥ 60 % of its sample is valid whatever its header says. A
clear winner is picked; anything else is an ``InputError`` that says how to choose, because the job
bills per number and verifying the wrong column costs money.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from batchverify.core.labels import own_result_headers, result_positions
from batchverify.core.normalize import normalize_mobile
from batchverify.errors import InputError
from batchverify.models import OUTPUT_COLUMNS

__all__ = ["column_letter", "describe_headers", "detect_phone_column", "name_strength"]

# Header names that mean "mobile number", compared after _fold().
_EXACT_NAMES = frozenset(
    {
        "mobile",
        "mobileno",
        "mobilenumber",
        "mobilenum",
        "mobilephone",
        "mobilephoneno",
        "mobilephonenumber",
        "phone",
        "phoneno",
        "phonenumber",
        "phonenum",
        "tel",
        "telno",
        "telephone",
        "telephoneno",
        "telephonenumber",
        "cell",
        "cellphone",
        "cellphoneno",
        "cellphonenumber",
        "cellular",
        "msisdn",
        "handphone",
        "contactnumber",
        "contactphone",
        "手机",
        "手机号",
        "手机号码",
        "手机码",
        "电话",
        "电话号码",
        "联系电话",
        "联系方式",
        "联系手机",
        "联系号码",
        "移动电话",
        "手提电话",
        "客户手机",
        "客户手机号",
        "客户电话",
        "号码",
        "手機",
        "手機號碼",
        "電話",
        "聯絡電話",
        "聯繫電話",
    }
)
# Substrings that make a header a weak match. "tel" and "cell" are left out: "hotel", "cellar".
_KEYWORDS = ("mobile", "phone", "msisdn", "手机", "手機", "电话", "電話", "联系方式")

# Candidate thresholds, as shares of the non-empty sample cells that are valid mobiles.
_NAMED_MIN_SHARE = 0.3
_UNNAMED_MIN_SHARE = 0.6
_DECISIVE_GAP = 0.5
_MAX_LISTED = 30

_FOLD_RE = re.compile(r"[\s_\-.·/:：()（）#№]+")
_LETTERS_RE = re.compile(r"[A-Za-z]{1,3}", re.ASCII)
_INDEX_RE = re.compile(r"[0-9]{1,5}", re.ASCII)


def _fold(name: str) -> str:
    return _FOLD_RE.sub("", name).casefold()


# batchverify's own result names: a previous output fed back in still has the original phone column,
# which is the one to read (mobile_error, all blank, would otherwise qualify by its name;
# mobile_normalized holds numbers but blanks the invalid cells). Their words in a language count
# only in a header row that is batchverify's output (``own_result_headers``).
_OWN_OUTPUT = frozenset(_fold(name) for name in OUTPUT_COLUMNS)


def column_letter(index: int) -> str:
    """0-based column index → Excel letters (0 → A, 26 → AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def _letter_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - ord("A") + 1)
    return n - 1


def _show(name: str) -> str:
    # Headers can hold newlines or be blank; keep every message on one line.
    flat = " ".join(name.split())
    return flat if flat else "(blank)"


def describe_headers(header: list[str]) -> str:
    """``A=客户编号, B=姓名, ...`` (at most 30 shown), for one-line error messages."""
    shown = [f"{column_letter(i)}={_show(h)}" for i, h in enumerate(header[:_MAX_LISTED])]
    if len(header) > _MAX_LISTED:
        shown.append(f"... {len(header) - _MAX_LISTED} more")
    return ", ".join(shown) if shown else "none"


@dataclass(frozen=True, slots=True)
class _Evidence:
    index: int
    name_strength: int  # 2 exact known name, 1 contains a keyword, 0 neither
    valid: int
    filled: int

    @property
    def share(self) -> float:
        return self.valid / self.filled if self.filled else 0.0

    @property
    def candidate(self) -> bool:
        if self.name_strength:
            return self.filled == 0 or self.share >= _NAMED_MIN_SHARE
        return self.filled > 0 and self.share >= _UNNAMED_MIN_SHARE

    def label(self, header: list[str]) -> str:
        name = _show(header[self.index]) if self.index < len(header) else "(no header)"
        seen = f"{self.share:.0%} valid" if self.filled else "no values yet"
        return f"{column_letter(self.index)} ({name}, {seen})"


def detect_phone_column(
    header: list[str],
    sample: list[list[str]],
    requested: str | None,
    is_valid: Callable[[str], bool] | None = None,
) -> int:
    """The 0-based index of the phone column.

    ``requested`` (the ``--column`` value) wins when given; otherwise the header and ``sample``
    (a few hundred data rows) decide. Raises ``InputError`` when the requested column does not
    exist, when no column looks like phone numbers, or when several do about equally.
    ``is_valid`` (whether a cell is a valid mobile number) lets a caller that asks many times cache it.
    """
    valid_cell = is_valid or _is_valid
    width = max([len(header), *(len(row) for row in sample)]) if header or sample else 0
    if requested is not None:
        return _requested_column(header, width, requested)
    names = [h.strip() for h in header]
    # an earlier output's result columns: side by side, else the last of each name
    block = result_positions(header)
    own = frozenset(
        block
        if block is not None
        else (len(names) - 1 - names[::-1].index(h) for h in own_result_headers(header))
    )
    evidence = [_gather(i, header, sample, valid_cell, own) for i in range(width)]
    candidates = [e for e in evidence if e.candidate]
    if not candidates:
        raise InputError(
            "no phone column found; use {o[column]} (headers: {headers})",
            code="no_phone_column",
            option="column",
            headers=describe_headers(header),
        )
    if len(candidates) == 1:
        return candidates[0].index
    top_strength = max(e.name_strength for e in candidates)
    top = sorted(
        (e for e in candidates if e.name_strength == top_strength), key=lambda e: e.share, reverse=True
    )
    best = top[0]
    runner_up = top[1].share if len(top) > 1 else None
    if runner_up is None:
        # A better header beats weaker ones, unless its own sample is weak evidence.
        if best.filled == 0 or best.share >= _UNNAMED_MIN_SHARE:
            return best.index
    elif best.share >= _UNNAMED_MIN_SHARE and best.share - runner_up >= _DECISIVE_GAP:
        return best.index
    listing = ", ".join(e.label(header) for e in sorted(candidates, key=lambda e: e.index))
    example = column_letter(best.index)
    raise InputError(
        "several columns could hold the phone numbers: {columns}; "
        "pick one with {o[column]} (a header name, a letter like {letter}, or a number like {number})",
        code="ambiguous_column",
        option="column",
        columns=listing,
        letter=example,
        number=best.index + 1,
    )


def name_strength(header: str) -> int:
    """How strongly a header names a phone column: 2 a known name, 1 contains a keyword, 0 neither
    (batchverify's own ``mobile_normalized`` is 0: the original column is the one to read)."""
    name = _fold(header)
    if not name or name in _OWN_OUTPUT:
        return 0
    if name in _EXACT_NAMES:
        return 2
    return 1 if any(k in name for k in _KEYWORDS) else 0


def _is_valid(cell: str) -> bool:
    return normalize_mobile(cell).number is not None


def _gather(
    index: int,
    header: list[str],
    sample: list[list[str]],
    is_valid: Callable[[str], bool],
    own: frozenset[int] = frozenset(),
) -> _Evidence:
    if index in own or (index < len(header) and _fold(header[index]) in _OWN_OUTPUT):
        return _Evidence(index, 0, 0, 0)
    strength = name_strength(header[index]) if index < len(header) else 0
    valid = filled = 0
    for row in sample:
        if index >= len(row) or not row[index].strip():
            continue
        filled += 1
        if is_valid(row[index]):
            valid += 1
    return _Evidence(index, strength, valid, filled)


def _requested_column(header: list[str], width: int, requested: str) -> int:
    exact = [i for i, h in enumerate(header) if h == requested]
    if not exact:
        wanted = requested.strip().casefold()
        exact = [i for i, h in enumerate(header) if h.strip().casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        where = ", ".join(column_letter(i) for i in exact)
        raise InputError(
            f"column {_show(requested)!r} appears {len(exact)} times ({where}); use the letter instead"
        )
    text = requested.strip()
    if _LETTERS_RE.fullmatch(text):
        index = _letter_index(text)
        if index < width:
            return index
    elif _INDEX_RE.fullmatch(text) and 1 <= int(text) <= width:
        return int(text) - 1
    raise InputError(
        "column {column!r} not found (headers: {headers})",
        code="column_not_found",
        option="column",
        column=_show(requested),
        headers=describe_headers(header),
    )
