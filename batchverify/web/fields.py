"""The job's own fields an upload (or a change of the job) may carry besides the planning choices:
its name, the uploader's time zone, a budget, the result's kind and its headers. Each is checked
here, for the page and the JSON API alike; a bad value is a 400 naming the field."""

from __future__ import annotations

import re
from typing import Any

from batchverify.engine.optionchecks import known_zone
from batchverify.web.messages import UploadError

__all__ = ["JOB_FIELDS", "job_fields"]

JOB_FIELDS = ("name", "time_zone", "browser_time_zone", "max_billable", "output", "headers")
_MAX_BUDGET = 10**9


def job_fields(fields: dict[str, str], *, upload_suffix: str | None = None) -> dict[str, Any]:
    """The record's values for the fields present in ``fields`` (absent: unchanged). With
    ``upload_suffix`` (an upload), ``output`` defaults to a workbook for a text list: Excel opens
    it with every leading zero and long number as it was, where a CSV loses them."""
    found: dict[str, Any] = {}
    if "name" in fields:
        found["title"] = clean_title(fields["name"])
    browser = fields.get("browser_time_zone", "").strip()
    if browser and not fields.get("time_zone", "").strip() and known_zone(browser):
        found["time_zone"] = browser  # the page's guess: used when this server knows it, else its own
    if "time_zone" in fields and fields["time_zone"].strip():
        zone = fields["time_zone"].strip()
        if not known_zone(zone):
            raise _bad("time_zone", "a time zone name such as Asia/Shanghai", "时区名称，例如 Asia/Shanghai")
        found["time_zone"] = zone
    if "max_billable" in fields:
        text = fields["max_billable"].strip()
        if text and not (text.isascii() and text.isdigit() and 1 <= int(text) <= _MAX_BUDGET):
            raise _bad(
                "max_billable",
                f"a whole number from 1 to {_MAX_BUDGET}, or empty for none",
                f"1 到 {_MAX_BUDGET} 之间的整数，或不填",
            )
        found["budget"] = int(text) if text else None
    if "headers" in fields and fields["headers"].strip():
        if fields["headers"].strip() not in ("words", "names"):
            raise _bad("headers", "words or names", "words 或 names")
        found["headers"] = fields["headers"].strip()
    if upload_suffix is not None:
        chosen = fields.get("output", "").strip() or "workbook"
        if chosen not in ("workbook", "same"):
            raise _bad("output", "workbook or same", "workbook 或 same")
        text_list = upload_suffix in (".csv", ".tsv", ".txt", ".tab")
        found["output_suffix"] = ".xlsx" if chosen == "workbook" and text_list else ""
    return found


# Control characters and the bidirectional controls that make a name read backwards.
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def clean_title(text: str) -> str:
    """A job's name as given, on one line, without control characters, at most 120 characters
    (slashes and the like are kept: it is never part of a path)."""
    return " ".join(_UNSAFE_RE.sub(" ", text).split())[:120]


_ZH_FIELDS = {"time_zone": "时区", "max_billable": "最多计费次数", "headers": "表头", "output": "结果格式"}


def _bad(field: str, expected: str, expected_zh: str) -> UploadError:
    return UploadError(
        "the {field} field must be {expected}",
        code="bad_field",
        option=field,
        field=field,
        expected=expected,
        field_zh=_ZH_FIELDS[field],
        expected_zh=expected_zh,
    )
