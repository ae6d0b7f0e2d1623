"""Turn one phone cell, as typed by a person or exported by a spreadsheet, into an 11-digit number.

Pure: no I/O, no state. ``normalize_mobile`` never raises; anything it cannot read with certainty
comes back as ``Status.INVALID_NUMBER`` with a short reason, because a guessed number would be
verified (and billed) as somebody else's.

Rules, in order:

1. Trim. An empty or whitespace-only cell is ``Status.EMPTY``.
2. Full-width digits, ``＋`` and full-width punctuation become ASCII; every full stop or dot a
   person can type or paste (``。`` from a Chinese input method, ``・``, ``·``, ...) becomes ``.``,
   so rules 3 and 4 judge it: ``1380013800。5`` is a decimal, never ``13800138005``.
3. Scientific notation (``1.38001E+10``, any case) is INVALID: the spreadsheet kept only 6-7
   significant digits, and ``float()`` of it is a *different* valid-looking number. Never guessed.
4. An integer-valued numeric text ``13800138000.0`` (what a float export gives) loses exactly the
   ``.0+`` tail. A number with one dot and any other fraction (``1380013800.5``) is INVALID: it is
   a decimal, and dropping the dot would send digits that are not the cell's number. Dots in
   groups (``138.0013.8000``, two or more) are formatting.
5. Formatting noise is dropped: every kind of space, dashes (ASCII, en/em, full-width, minus sign),
   dots, ASCII and full-width brackets, and a leading ``'`` (Excel's "this is text" marker).
6. A ``+86``, ``0086`` or bare ``86`` (only when 13 digits are left) country prefix is stripped.
7. What remains must be exactly ``1[3-9]`` and 9 more ASCII digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchverify.models import Status

__all__ = ["DOTS", "MOBILE_RE", "Normalized", "normalize_mobile"]

# ASCII-only on purpose: in ``re`` a bare ``\d`` also matches Arabic-Indic, Devanagari, ... digits.
# All are used with fullmatch(): "$" would also match before a trailing newline.
MOBILE_RE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)

# Full stops and dots of other scripts: each reads as "." (full-width, ideographic, half-width
# ideographic, small, middle dots, katakana middle dots, hyphenation point, bullet operators, one-dot leader).
DOTS = "．。｡﹒·・･‧∙⋅•․"

_SCIENTIFIC_RE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+", re.ASCII)
_FLOAT_INT_RE = re.compile(r"(\+?[0-9]+)\.0+", re.ASCII)
_DECIMAL_RE = re.compile(r"\+?[0-9]+\.[0-9]+", re.ASCII)
_DIGITS_RE = re.compile(r"\+?[0-9]+", re.ASCII)
_GROUPED_RE = re.compile(r"\+?[0-9]+(?:\.[0-9]+)+", re.ASCII)


def _translation() -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    # Full-width digits U+FF10..U+FF19 and the full-width plus / letters E e used by rule 3.
    for offset in range(10):
        table[0xFF10 + offset] = ord("0") + offset
    table[ord("＋")] = ord("+")
    table[ord("Ｅ")] = ord("E")
    table[ord("ｅ")] = ord("e")
    # Every full stop or dot a person can type or paste reads as ".", so rules 3 and 4 judge it: the
    # ideographic full stop a Chinese input method types in "1380013800。5" is a decimal point there,
    # never noise to delete (that would send 13800138005, another person's number).
    # (Commas of any script, and an ellipsis, stay what they are: "letters or symbols", refused.)
    for dot in DOTS:
        table[ord(dot)] = ord(".")
    # Noise deleted outright. Whitespace of every kind is handled separately (str.split).
    noise = (
        "-‐‑‒–—―−﹣－"  # hyphen-minus, hyphens, figure/en/em dash, bar, minus sign, small/full-width
        "()[]{}（）［］｛｝【】〔〕〈〉《》"  # brackets, ASCII and CJK
        "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters and a stray BOM copied along
    )
    for ch in noise:
        table[ord(ch)] = None
    return table


_TRANSLATE = _translation()


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome for one cell.

    ``number`` is the 11-digit mainland mobile number, or None. ``status`` is None for a valid
    number (the API decides its status), ``Status.EMPTY`` or ``Status.INVALID_NUMBER``; ``reason``
    says why in a few words ("10 digits", "scientific notation lost digits (never guessed)").
    """

    number: str | None
    status: Status | None
    reason: str


_EMPTY = Normalized(None, Status.EMPTY, "empty")


def _invalid(reason: str) -> Normalized:
    return Normalized(None, Status.INVALID_NUMBER, reason)


def normalize_mobile(cell: str) -> Normalized:
    """Normalize one phone cell; see the module docstring for the rules. Never raises."""
    # Fast path: most cells of a clean list are already normalized.
    if MOBILE_RE.fullmatch(cell):
        return Normalized(cell, None, "")
    # str.split() with no argument splits on every Unicode space (NBSP, U+3000, thin spaces, tabs,
    # newlines), so joining the pieces trims and drops inner spaces in one go.
    compact = "".join(cell.split())
    if not compact:
        return _EMPTY
    if compact.startswith("'"):
        compact = compact[1:]
    # Map full-width forms and drop noise, but keep ASCII dots for now: rules 3 and 4 read them.
    text = compact.translate(_TRANSLATE)
    if ".." in text:
        return _invalid("two dots in a row (never guessed)")
    if text.startswith((".", "+.")):
        return _invalid("starts with a dot (never guessed)")
    # One full stop at the end ends a sentence ("13800138000。"); the dots before it are judged alone.
    text = text.removesuffix(".")
    if _SCIENTIFIC_RE.fullmatch(text):
        return _invalid("scientific notation lost digits (never guessed)")
    float_int = _FLOAT_INT_RE.fullmatch(text)
    if float_int:
        text = float_int.group(1)
    elif _DECIMAL_RE.fullmatch(text):
        return _invalid("has a fractional part (never guessed)")
    # Any other dots are grouping ("138.0013.8000"), never a decimal point: only between digits.
    if "." in text and not _GROUPED_RE.fullmatch(text):
        return _invalid("contains letters or symbols")
    text = text.replace(".", "")
    if not text.strip("+"):
        return _invalid("no digits")
    if not _DIGITS_RE.fullmatch(text):
        return _invalid("contains letters or symbols")
    return _strip_country_code(text)


def _strip_country_code(text: str) -> Normalized:
    """``text`` is ``+?[0-9]+``; remove a mainland country prefix and check what is left."""
    digits = text
    if text.startswith("+"):
        if not text.startswith("+86"):
            return _invalid("not a mainland mobile number")
        digits = text[3:]
    elif text.startswith("0086"):
        digits = text[4:]
    elif len(text) == 13 and text.startswith("86"):
        digits = text[2:]
    if len(digits) != 11:
        return _invalid(f"{len(digits)} digits" if digits else "no digits")
    if MOBILE_RE.fullmatch(digits):
        return Normalized(digits, None, "")
    return _invalid("not a mainland mobile number")
