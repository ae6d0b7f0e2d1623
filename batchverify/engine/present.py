"""How an output looks to the person who opens it: result column headers in their language, widths
that fit, colours by status class, and the summary sheet. Decides; writes nothing."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from batchverify.core.labels import (
    StatusClass,
    action_of,
    class_of,
    column_aliases,
    column_header,
    label_of,
)
from batchverify.files.xlsx.model import ColumnKind, ExtraSheet, Presentation, ResultColumn, StatusColours
from batchverify.models import OUTPUT_COLUMNS, SIMULATOR_IDENTITY, Status

__all__ = ["OutputLook", "SummaryFacts", "headers", "summary_sheet"]

# Width in characters of each result column's content (a CJK character counts two).
_CONTENT_WIDTH: dict[str, tuple[float, ColumnKind]] = {
    "mobile_normalized": (13, "text"),
    "mobile_status": (16, "text"),
    "mobile_status_label": (8, "text"),  # widened to the longest label of the language
    "mobile_action": (8, "text"),
    "mobile_previous_status": (16, "text"),
    "mobile_previous_status_label": (8, "text"),
    "mobile_status_code": (6, "number"),
    "mobile_result_code": (6, "text"),
    "mobile_billable": (7, "bool"),
    "mobile_description": (30, "text"),
    "mobile_request_id": (37, "text"),
    "mobile_checked_at": (31, "datetime"),
    "mobile_error": (30, "text"),
    "mobile_source": (8, "text"),
}
_FILTER_BUTTON = 3  # room for the autofilter's drop-down arrow

# (fill, font) per class: Excel's own "good / bad / neutral" pairs, so the sheet looks familiar.
_COLOURS: dict[StatusClass, tuple[str, str]] = {
    StatusClass.LIVE: ("FFC6EFCE", "FF006100"),
    StatusClass.NOT_LIVE: ("FFFFC7CE", "FF9C0006"),
    StatusClass.INVALID: ("FFD9D9D9", "FF3F3F3F"),
    StatusClass.UNKNOWN: ("FFE4DFEC", "FF5B3F86"),
    StatusClass.NOT_FINAL: ("FFFFEB9C", "FF9C5700"),
}
_COLOURED = ("mobile_status", "mobile_status_label", "mobile_action")
# Short codes side by side: centred, so "99" and "-2" never read as "99-2".
_CENTERED = frozenset({"mobile_status_code", "mobile_result_code", "mobile_billable", "mobile_source"})


def headers(language: str, style: str = "words") -> tuple[list[str], list[tuple[str, ...]]]:
    """The result columns' headers in ``language`` (``style`` ``names``: the ``mobile_*`` names), and
    the names each may carry in an earlier output (so a list fed back in has its result columns
    replaced, whatever its language)."""
    return (
        [column_header(c, language, style) for c in OUTPUT_COLUMNS],
        [column_aliases(c) for c in OUTPUT_COLUMNS],
    )


@dataclass(frozen=True)
class SummaryFacts:
    """What the summary sheet states besides the counts."""

    input_name: str
    sheet: str | None
    endpoint: str
    version: str
    made_at: datetime.datetime  # aware
    retry_advice: str = "command"  # command, button or call: how to fill in the rows still open


@dataclass(frozen=True)
class OutputLook:
    """The presentation of one output, given where the layout put the result columns."""

    language: str
    summary_sheet: bool
    facts: SummaryFacts | None = None
    tz: datetime.tzinfo = datetime.UTC
    style: str = "words"

    def presentation(
        self,
        positions: list[int],
        counts: Counter[str] | None = None,
        billable: Callable[[], int] | None = None,
    ) -> Presentation:
        """The xlsx look: ``positions`` are where OUTPUT_COLUMNS went (0-based); ``counts`` and
        ``billable`` are read after the rows are written, for the summary sheet."""
        names, _ = headers(self.language, self.style)
        columns = []
        words = {
            "mobile_status_label": max(_text_width(label_of(s, self.language)) for s in Status),
            "mobile_previous_status_label": max(_text_width(label_of(s, self.language)) for s in Status),
            "mobile_action": max(_text_width(action_of(s, self.language)) for s in Status),
        }
        for column, name in zip(OUTPUT_COLUMNS, names, strict=True):
            width, kind = _CONTENT_WIDTH[column]
            width = max(width, words.get(column, 0) + 1)
            columns.append(
                ResultColumn(
                    width=max(width, _text_width(name) + _FILTER_BUTTON),
                    kind=kind,
                    centered=column in _CENTERED,
                )
            )
        at = dict(zip(OUTPUT_COLUMNS, positions, strict=True))
        colours = StatusColours(
            status_column=at["mobile_status"],
            columns=tuple(at[c] for c in _COLOURED),
            rules=tuple(
                (tuple(s.value for s in Status if class_of(s) is cls), fill, font)
                for cls, (fill, font) in _COLOURS.items()
            ),
        )
        extra: Callable[[], ExtraSheet] | None = None
        if self.summary_sheet and self.facts is not None and counts is not None:
            facts, language, tz, seen = self.facts, self.language, self.tz, counts

            def sheet() -> ExtraSheet:
                return summary_sheet(facts, language, seen, billable() if billable else 0, tz)

            extra = sheet

        return Presentation(columns=tuple(columns), colours=colours, tz=self.tz, extra_sheet=extra)


_WORDS = {
    "zh-CN": {
        "sheet": "核验汇总",
        "title": "手机号状态核验汇总",
        "file": "文件",
        "worksheet": "工作表",
        "when": "写出时间",
        "zone": "表中时间均为",
        "endpoint": "查询接口",
        "version": "batchverify 版本",
        "rows": "数据行数",
        "billable": "计费的查询结果（去重号码）",
        "status": "状态代码",
        "label": "状态",
        "count": "行数",
        "action": "处理建议",
        "note": "颜色：绿色可联系，红色建议剔除，灰色号码有误，紫色需人工核实，黄色待重试。",
        "command": "待重试的行：稍后再次运行同一命令即可补全，已有结果不会重复计费。",
        "button": "待重试的行：稍后在上传页面打开这个任务，点“继续”即可补全，已有结果不会重复计费。",
        "call": "待重试的行：稍后用同样的参数再次调用即可补全，已有结果不会重复计费。",
        "simulator": "内置模拟器（演示数据，不计费）",
        "tencent": "腾讯云 FaceID 手机号状态查询（计费）",
    },
    "en": {
        "sheet": "batchverify summary",
        "title": "Mobile number status check: summary",
        "file": "File",
        "worksheet": "Sheet",
        "when": "Written at",
        "zone": "Times in this workbook are",
        "endpoint": "Checked with",
        "version": "batchverify version",
        "rows": "Data rows",
        "billable": "Billable answers (distinct numbers)",
        "status": "Status code",
        "label": "Status",
        "count": "Rows",
        "action": "Action",
        "note": "Colours: green keep, red remove, grey fix the number, purple check by hand, "
        "yellow retry later.",
        "command": "Rows to retry: run the same command again later to fill them in; answers already "
        "paid for are not paid again.",
        "button": "Rows to retry: open this job on the upload page later and click Resume to fill them "
        "in; answers already paid for are not paid again.",
        "call": "Rows to retry: call again later with the same arguments to fill them in; answers "
        "already paid for are not paid again.",
        "simulator": "the built-in simulator (demo data, nothing billed)",
        "tencent": "Tencent Cloud FaceID MobileStatus (billed)",
    },
}


def summary_sheet(
    facts: SummaryFacts, language: str, counts: Counter[str], billable: int, tz: datetime.tzinfo
) -> ExtraSheet:
    """The summary sheet: where the list came from, when, and the rows per status."""
    w = _WORDS[language]
    made = facts.made_at.astimezone(tz)
    offset = made.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}"
    name = getattr(tz, "key", None)
    when = f"{made:%Y-%m-%d %H:%M:%S} ({zone})"
    endpoint = facts.endpoint
    if endpoint == SIMULATOR_IDENTITY:
        endpoint = w["simulator"]
    elif "tencentcloudapi.com" in endpoint:
        endpoint = f"{w['tencent']}: {endpoint}"
    rows: list[list[str | int | float | bool | None]] = [
        [w["title"]],
        [w["file"], facts.input_name],
    ]
    if facts.sheet:
        rows.append([w["worksheet"], facts.sheet])
    rows += [
        [w["when"], when],
        [w["zone"], f"{zone} ({name})" if name else zone],
        [w["endpoint"], endpoint],
        [w["version"], facts.version],
        [w["rows"], sum(counts.values())],
        [w["billable"], billable],
        [],
        [w["label"], w["count"], w["action"], w["status"]],
    ]
    header_row = len(rows)
    order = {s.value: i for i, s in enumerate(Status)}
    for status in sorted(counts, key=lambda s: (-counts[s], order.get(s, 99))):
        known = Status(status)
        rows.append([label_of(known, language), counts[status], action_of(known, language), status])
    rows += [[], [w["note"]]]
    if any(class_of(Status(s)) is StatusClass.NOT_FINAL for s in counts):
        rows.append([w.get(facts.retry_advice, w["command"])])
    others = tuple(words["sheet"] for lang, words in _WORDS.items() if lang != language)
    return ExtraSheet(
        name=w["sheet"], rows=rows, widths=(30, 44, 14, 18), bold_rows=(1, header_row), replaces=others
    )


def _text_width(text: str) -> float:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
