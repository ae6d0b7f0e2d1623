"""normalize_mobile: the rules table, and properties over arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from batchverify.core.normalize import DOTS, MOBILE_RE, Normalized, normalize_mobile
from batchverify.models import Status

VALID = [
    ("13800138000", "13800138000"),
    ("  13800138000  ", "13800138000"),
    ("138 0013 8000", "13800138000"),
    ("138-0013-8000", "13800138000"),
    ("138–0013—8000", "13800138000"),  # en and em dashes
    ("138－0013－8000", "13800138000"),  # full-width hyphen-minus
    ("138.0013.8000", "13800138000"),  # dots as grouping
    ("(138) 0013 8000", "13800138000"),
    ("（138）0013 8000", "13800138000"),  # full-width brackets
    ("１３８００１３８０００", "13800138000"),  # full-width digits
    ("+86 138 0013 8000", "13800138000"),
    ("+86-13800138000", "13800138000"),
    ("＋８６ １３８００１３８０００", "13800138000"),
    ("(+86)13800138000", "13800138000"),
    ("(0086)13800138000", "13800138000"),
    ("0086 138 0013 8000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("86 138 0013 8000", "13800138000"),
    ("13800138000.0", "13800138000"),  # what a float export gives
    ("13800138000.000", "13800138000"),
    ("+8613800138000.0", "13800138000"),
    ("\u00a0138\u00a00013\u00a08000\u3000", "13800138000"),  # NBSP and ideographic space
    ("\t13800138000\r\n", "13800138000"),
    ("'13800138000", "13800138000"),  # Excel's text marker
    ("\ufeff13800138000", "13800138000"),  # a BOM pasted along
    ("19912345678", "19912345678"),
    ("16137688175", "16137688175"),
]

INVALID = [
    ("1.38001E+10", "scientific notation lost digits (never guessed)"),
    ("1.38001e+10", "scientific notation lost digits (never guessed)"),
    ("1.3800138E10", "scientific notation lost digits (never guessed)"),
    ("１.３８００１Ｅ＋１０", "scientific notation lost digits (never guessed)"),
    ("1380013800", "10 digits"),
    ("138001380001", "12 digits"),
    ("1380013800.0", "10 digits"),  # the float rule strips only the .0 tail, never more
    ("13800138000.5", "has a fractional part (never guessed)"),
    ("1380013800.5", "has a fractional part (never guessed)"),  # not 13800138005
    ("+861380013800.5", "has a fractional part (never guessed)"),
    ("１３８００１３８００．５", "has a fractional part (never guessed)"),
    ("12800138000", "not a mainland mobile number"),
    ("10086", "5 digits"),
    ("02112345678", "not a mainland mobile number"),
    ("+852 6123 4567", "not a mainland mobile number"),
    ("+1 415 555 0100", "not a mainland mobile number"),
    ("+86 1380013800", "10 digits"),
    ("8612800138000", "not a mainland mobile number"),
    ("013800138000", "12 digits"),  # a trunk 0 is not stripped: not guessed
    ("13800138000/13900000001", "contains letters or symbols"),
    ("138OO138OOO", "contains letters or symbols"),
    ("tel:13800138000", "contains letters or symbols"),
    ("١٣٨٠٠١٣٨٠٠٠", "contains letters or symbols"),  # Arabic-Indic digits are not ASCII
    ("NA", "contains letters or symbols"),
    ("null", "contains letters or symbols"),
    ("13800138000\x00", "contains letters or symbols"),
    ("+", "no digits"),
    ("+86", "no digits"),
    ("--", "no digits"),
]


@pytest.mark.parametrize(("cell", "number"), VALID)
def test_valid_forms(cell: str, number: str) -> None:
    assert normalize_mobile(cell) == Normalized(number, None, "")


@pytest.mark.parametrize(("cell", "reason"), INVALID)
def test_invalid_forms(cell: str, reason: str) -> None:
    assert normalize_mobile(cell) == Normalized(None, Status.INVALID_NUMBER, reason)


@pytest.mark.parametrize("cell", ["", " ", "\u3000", "\u00a0", "\t\r\n"])
def test_empty(cell: str) -> None:
    assert normalize_mobile(cell) == Normalized(None, Status.EMPTY, "empty")


def test_trailing_newline_is_not_part_of_the_number() -> None:
    # "$" in a regex matches before a final newline; the number must still come back clean.
    assert normalize_mobile("13800138000\n").number == "13800138000"
    assert MOBILE_RE.fullmatch("13800138000\n") is None


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True).filter(str.isascii)
# Dots are not noise: where one stands decides whether the cell is a number (the dot tests below).
noise = st.text(alphabet=" \u00a0\u3000-–—－()（）\t", max_size=3)


@given(st.text())
@example("1.38001E+10")
@example("\x00\ud800")
def test_never_raises_and_is_consistent(text: str) -> None:
    result = normalize_mobile(text)
    if result.number is not None:
        assert MOBILE_RE.fullmatch(result.number)
        assert result.status is None and result.reason == ""
    else:
        assert result.status in (Status.EMPTY, Status.INVALID_NUMBER)
        assert result.reason


@given(st.text())
def test_idempotent_on_valid_output(text: str) -> None:
    result = normalize_mobile(text)
    if result.number is not None:
        assert normalize_mobile(result.number) == result


@given(
    mobiles,
    st.sampled_from(["", "+86", "0086", "86", "(+86)", "（0086）", "＋８６"]),
    st.lists(noise, min_size=12, max_size=12),
    st.booleans(),
)
def test_noise_around_a_valid_number(number: str, prefix: str, gaps: list[str], full_width: bool) -> None:
    digits = number.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"}) if full_width else number
    pieces = [gaps[0], prefix]
    for digit, gap in zip(digits, gaps[1:], strict=True):
        pieces += [digit, gap]
    text = "".join(pieces)
    assert normalize_mobile(text) == Normalized(number, None, "")


@pytest.mark.parametrize("dot", [*DOTS, "."])
def test_a_dot_of_any_script_is_a_decimal_point_when_one_and_grouping_when_several(dot: str) -> None:
    """``1380013800。5`` (the full stop a Chinese input method types) is a decimal: never sent as
    13800138005. Dots in groups stay formatting, whatever the script."""
    decimal = normalize_mobile(f"1380013800{dot}5")
    assert decimal.number is None and decimal.reason == "has a fractional part (never guessed)"
    assert normalize_mobile(f"138{dot}0013{dot}8000").number == "13800138000"
    assert normalize_mobile(f"13800138000{dot}0").number == "13800138000"  # a float export
    scientific = normalize_mobile(f"1{dot}38001E+10")
    assert scientific.number is None


@pytest.mark.parametrize("mark", [",", "，", "、", "…", "‥", "٫", "ー", "〇", "①", "¹", "٣"])
def test_a_character_that_could_change_the_number_is_refused(mark: str) -> None:
    for cell in (f"1380013800{mark}5", f"138{mark}0013{mark}8000", f"{mark}13800138000"):
        assert normalize_mobile(cell).number is None, cell


@pytest.mark.parametrize(
    "cell",
    [
        "1380013800。5。",
        "。1380013800。5",
        "1380013800。。5",
        "1380013800.5.",
        ".13800138000",
        "138..0013.8000",
    ],
)
def test_dots_at_the_edges_or_doubled_never_hide_a_decimal(cell: str) -> None:
    assert normalize_mobile(cell).number is None


@pytest.mark.parametrize("cell", ["13800138000。", "138.0013.8000.", "13800138000.0."])
def test_a_sentence_full_stop_after_a_number_is_not_part_of_it(cell: str) -> None:
    assert normalize_mobile(cell).number == "13800138000"
