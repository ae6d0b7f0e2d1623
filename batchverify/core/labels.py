"""Plain words for a person: each status's class, label and suggested action, in Chinese or English.

Pure. ``mobile_status`` stays the stable machine vocabulary (``out_of_service``); these words go
in the columns, colours and summary sheet that operations staff read.

The classes decide the colour of a row and whether it "needs action" (``--problems``):

* live: the number is in service (``normal``);
* not live: the operator says it is out of service, cancelled, not in the network or unusable;
* invalid: the cell is not a mainland mobile number (or is empty), so it needs fixing, not calling;
* unknown: the API answered but could not tell (unknown, no record, unsupported range, an answer
  batchverify does not recognise): a person has to check;
* not final: no answer yet (busy, daily limit, error, pending): a later run fills it in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

from batchverify.models import OUTPUT_COLUMNS, Status

__all__ = [
    "LANGUAGES",
    "StatusClass",
    "action_of",
    "api_language",
    "billable_cell",
    "class_of",
    "column_aliases",
    "column_header",
    "default_language",
    "label_of",
    "needs_action",
    "own_result_headers",
    "phone_header",
    "reason_cell",
    "resolve_language",
    "result_positions",
    "source_cell",
]

LANGUAGES = ("zh-CN", "en")


class StatusClass(enum.StrEnum):
    LIVE = "live"
    NOT_LIVE = "not_live"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    NOT_FINAL = "not_final"


_CLASS: dict[Status, StatusClass] = {
    Status.NORMAL: StatusClass.LIVE,
    Status.OUT_OF_SERVICE: StatusClass.NOT_LIVE,
    Status.CANCELLED: StatusClass.NOT_LIVE,
    Status.OFFLINE: StatusClass.NOT_LIVE,
    Status.UNAVAILABLE: StatusClass.NOT_LIVE,
    Status.INVALID_NUMBER: StatusClass.INVALID,
    Status.EMPTY: StatusClass.INVALID,
    Status.UNKNOWN: StatusClass.UNKNOWN,
    Status.NOT_FOUND: StatusClass.UNKNOWN,
    Status.UNSUPPORTED_RANGE: StatusClass.UNKNOWN,
    Status.UNRECOGNIZED: StatusClass.UNKNOWN,
    Status.BUSY: StatusClass.NOT_FINAL,
    Status.DAILY_LIMIT: StatusClass.NOT_FINAL,
    Status.ERROR: StatusClass.NOT_FINAL,
    Status.PENDING: StatusClass.NOT_FINAL,
}

_LABELS: dict[str, dict[Status, str]] = {
    "zh-CN": {
        Status.NORMAL: "正常",
        Status.OUT_OF_SERVICE: "停机",
        Status.CANCELLED: "销号",
        Status.OFFLINE: "不在网",
        Status.UNAVAILABLE: "在网但不可用",
        Status.UNKNOWN: "状态未知",
        Status.NOT_FOUND: "查无记录",
        Status.INVALID_NUMBER: "号码格式错误",
        Status.BUSY: "查询繁忙",
        Status.DAILY_LIMIT: "超出当日查询次数",
        Status.UNSUPPORTED_RANGE: "号段不支持查询",
        Status.UNRECOGNIZED: "无法识别的结果",
        Status.ERROR: "查询出错",
        Status.EMPTY: "未填号码",
        Status.PENDING: "尚未查询",
    },
    "en": {
        Status.NORMAL: "normal",
        Status.OUT_OF_SERVICE: "suspended",
        Status.CANCELLED: "cancelled",
        Status.OFFLINE: "not in network",
        Status.UNAVAILABLE: "in network, unusable",
        Status.UNKNOWN: "status unknown",
        Status.NOT_FOUND: "no record",
        Status.INVALID_NUMBER: "not a valid mobile number",
        Status.BUSY: "service busy",
        Status.DAILY_LIMIT: "daily limit reached",
        Status.UNSUPPORTED_RANGE: "number range not supported",
        Status.UNRECOGNIZED: "unrecognised answer",
        Status.ERROR: "lookup failed",
        Status.EMPTY: "no number",
        Status.PENDING: "not checked yet",
    },
}

_ACTIONS: dict[str, dict[StatusClass, str]] = {
    "zh-CN": {
        StatusClass.LIVE: "可联系",
        StatusClass.NOT_LIVE: "建议剔除",
        StatusClass.INVALID: "核对号码",
        StatusClass.UNKNOWN: "人工核实",
        StatusClass.NOT_FINAL: "待重试",
    },
    "en": {
        StatusClass.LIVE: "keep",
        StatusClass.NOT_LIVE: "remove",
        StatusClass.INVALID: "fix the number",
        StatusClass.UNKNOWN: "check by hand",
        StatusClass.NOT_FINAL: "retry later",
    },
}


# The result columns' headers in each language (``headers="words"``); English keeps the stable
# ``mobile_*`` names, which read as English. ``headers="names"`` gives those names in every language.
_LOCAL_HEADERS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "mobile_normalized": "标准号码",
        "mobile_status": "状态代码",
        "mobile_status_label": "号码状态",
        "mobile_action": "处理建议",
        "mobile_previous_status": "上次状态代码",
        "mobile_previous_status_label": "上次状态",
        "mobile_status_code": "接口状态码",
        "mobile_result_code": "接口结果码",
        "mobile_billable": "是否计费",
        "mobile_description": "接口说明",
        "mobile_request_id": "请求编号",
        "mobile_checked_at": "核验时间",
        "mobile_error": "出错原因",
        "mobile_source": "结果来源",
    },
    "en": {},
}
# Cells that hold a code in ``headers="names"`` and words in ``headers="words"``.
_YES_NO: dict[str, tuple[bool | str, bool | str]] = {"zh-CN": ("是", "否"), "en": (True, False)}
_SOURCES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "api": "本次查询",
        "reused": "复用近期结果",
        "kept": "保留上次结果",
        "local": "未发送（本地判断）",
    },
    "en": {},
}


# Why a cell is not a number (``normalize_mobile``'s reasons), in words.
_REASONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "empty": "未填号码",
        "two dots in a row (never guessed)": "有两个连续的点（不做猜测）",
        "starts with a dot (never guessed)": "以点开头（不做猜测）",
        "scientific notation lost digits (never guessed)": "科学计数法已丢失数字（不做猜测）："
        "请把这一列设为文本后重新填写",
        "has a fractional part (never guessed)": "带有小数（不做猜测）",
        "contains letters or symbols": "含有字母或符号",
        "no digits": "没有数字",
        "not a mainland mobile number": "不是中国大陆手机号码",
    },
    "en": {},
}


def reason_cell(reason: str, language: str) -> str:
    """Why a cell is not a mainland mobile number, in ``language``."""
    words = _REASONS[language]
    if reason in words:
        return words[reason]
    count, _, rest = reason.partition(" ")
    if language == "zh-CN" and rest == "digits" and count.isdigit():
        return f"位数不对：{count} 位"
    return reason


def billable_cell(billable: bool, language: str) -> bool | str:
    """``mobile_billable`` as a person reads it: 是/否 in Chinese (TRUE/FALSE means nothing there)."""
    yes, no = _YES_NO[language]
    return yes if billable else no


def source_cell(source: str, language: str) -> str:
    """``mobile_source`` (api, reused, kept, local) in words."""
    return _SOURCES[language].get(source, source)


_PHONE_HEADER = {"zh-CN": "手机号码", "en": "mobile"}


def phone_header(language: str) -> str:
    """The header given to the phone column of a list that had none (its output gets a header row)."""
    return _PHONE_HEADER[language]


def column_header(column: str, language: str, style: str = "words") -> str:
    """The header a result column gets in an output in ``language`` (``style`` ``names``: its name)."""
    return _LOCAL_HEADERS[language].get(column, column) if style == "words" else column


# Result headers of outputs written before every header had its words (zh-CN: these three, beside
# the mobile_* names).
_OLD_WORDS = ("号码状态", "处理建议", "上次状态")
SIGNATURE = 10  # of the 14 result columns: a header row carrying this many is batchverify's output


def own_result_headers(header: Sequence[str]) -> frozenset[str]:
    """The headers of a header row that are batchverify's own result columns (an earlier output fed
    back in): the ``mobile_*`` names always; a language's words only when the row carries most of
    that language's result headers, so a customer's own 状态代码 or 核验时间 column is theirs."""
    present = {str(h).strip() for h in header}
    own = {c for c in OUTPUT_COLUMNS if c in present}
    for words in _LOCAL_HEADERS.values():
        found = {w for w in words.values() if w in present}
        if words and len(found) >= SIGNATURE:
            own |= found
    if len(own & set(OUTPUT_COLUMNS)) >= SIGNATURE:
        own |= {w for w in _OLD_WORDS if w in present}
    return frozenset(own)


def result_positions(header: Sequence[str]) -> list[int] | None:
    """Where an earlier output's result columns are: the last run of every result column side by
    side, in order, each under one of its headers (how batchverify writes them); None when the row
    has no such run. A column a person added before or after them, whatever its name, is theirs."""
    names = [str(h).strip() for h in header]
    width = len(OUTPUT_COLUMNS)
    known = [set(column_aliases(c)) for c in OUTPUT_COLUMNS]
    for start in range(len(names) - width, -1, -1):
        if all(names[start + k] in known[k] for k in range(width)):
            return list(range(start, start + width))
    return None


def column_aliases(column: str) -> tuple[str, ...]:
    """Every header this result column may carry in an earlier output (to replace it in place)."""
    return (column, *(names[column] for names in _LOCAL_HEADERS.values() if column in names))


def class_of(status: Status) -> StatusClass:
    return _CLASS[status]


def needs_action(status: Status) -> bool:
    """Whether a row belongs in the problems-only file: everything but a live number."""
    return _CLASS[status] is not StatusClass.LIVE


def label_of(status: Status, language: str) -> str:
    return _LABELS[language][status]


def action_of(status: Status, language: str) -> str:
    return _ACTIONS[language][_CLASS[status]]


def api_language(language: str) -> str:
    """The ``X-TC-Language`` value that asks the API for descriptions in ``language``."""
    return "zh-CN" if language == "zh-CN" else "en-US"


def resolve_language(value: str) -> str:
    """``zh-CN``/``zh``/``zh_CN.UTF-8``/``cn`` -> ``zh-CN``; ``en``/``en-US``/... -> ``en``."""
    folded = value.strip().replace("_", "-").casefold()
    if folded in ("zh", "cn", "chinese", "中文") or folded.startswith("zh-"):
        return "zh-CN"
    if folded in ("en", "english") or folded.startswith("en-"):
        return "en"
    raise ValueError(f"unknown language {value!r}: use zh-CN or en")


def default_language(env: Mapping[str, str], system_locale: str = "") -> str:
    """The language of the person at this machine: ``BATCHVERIFY_LANGUAGE``, else the locale
    (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, else ``system_locale``, e.g. Windows' user locale);
    Chinese -> zh-CN, anything else -> en.

    Following the locale, not a fixed default: a Chinese Windows desktop gets Chinese words without
    an option, while a server's C/en_US cron job keeps the English it had.
    """
    chosen = env.get("BATCHVERIFY_LANGUAGE", "").strip()
    if chosen:
        try:
            return resolve_language(chosen)
        except ValueError:
            return "en"
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "").strip()
        if value:
            return "zh-CN" if value.casefold().startswith("zh") else "en"
    return "zh-CN" if system_locale.casefold().startswith(("zh", "chinese")) else "en"
