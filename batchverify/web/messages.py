"""The upload server's errors in the uploader's words: each ``BatchVerifyError`` (the engine's, and the
server's own below) rendered by its ``code``, naming the API's fields instead of the command line's
flags, and in Chinese for a Chinese browser. Nothing here reads a message's text."""

from __future__ import annotations

from typing import Any

from batchverify.errors import BatchVerifyError, OptionNames

__all__ = ["WEB_NAMES", "JobConflict", "PlanError", "UploadError", "in_words", "one_line"]

_FIELDS = {
    "column": "the column field",
    "sheet": "the sheet field",
    "header_row": "the header_row field",
    "max_age": "the max_age field",
}
# The options a job does not set through the API are the server's own (serve --rate, ...).
WEB_NAMES = OptionNames(lambda field: _FIELDS.get(field) or "--" + field.replace("_", "-"))
_ZH_FIELDS = {
    "column": "“手机号码列”",
    "sheet": "“工作表”",
    "header_row": "“表头行”",
    "max_age": "“复用期限”",
}
ZH_NAMES = OptionNames(lambda field: _ZH_FIELDS.get(field) or "--" + field.replace("_", "-"))


class UploadError(BatchVerifyError):
    """The request does not carry a list the server can take (400)."""

    default_code = "bad_upload"


class TooLarge(UploadError):
    """The upload is over ``--max-upload-mb`` (413)."""

    default_code = "too_large"


class ServerBusy(UploadError):
    """Too many uploads are being received or planned at once (429, with Retry-After)."""

    default_code = "busy_uploads"


class JobConflict(BatchVerifyError):
    """The action does not fit the job's state (409)."""

    default_code = "conflict"


class PlanError(BatchVerifyError):
    """The upload or its choices cannot be planned (400): the engine's error, with the server's paths
    of the job and what the uploader calls them (``names``)."""

    default_code = "plan"

    def __init__(self, message: str = "", *, names: dict[str, str] | None = None, **params: Any) -> None:
        self.names = names or {}
        super().__init__(message, **params)


# The Chinese words of the errors an uploader meets, by code, filled from the error's params.
_ZH: dict[str, str] = {
    "too_large": "文件超过服务器允许的大小（{mb} MB）",
    "empty_file": "文件是空的",
    "empty_sheet": "工作表 {sheet!r} 是空的",
    "no_file": "没有收到文件：请选择一个名单文件",
    "no_phone_column": "没有找到手机号码列，请在{o[column]}中选择（表头：{headers}）",
    "ambiguous_column": "有几列都可能是手机号码：{columns}；请在{o[column]}中选择一列",
    "column_not_found": "找不到列 {column!r}",
    "bad_header_row": "{o[header_row]}不对：请填写表头所在的行号（0 表示没有表头）",
    "excel_name_text_content": "文件扩展名是 Excel，内容却是文本：如果是 CSV，请改为 .csv 后再上传",
    "xlsx_named_csv": "这是 Excel 工作簿（.xlsx），不是 CSV 文本：请改为 .xlsx 后再上传",
    "xls_named_csv": "这是旧版 Excel 工作簿（.xls）：请改为 .xls 后再上传",
    "protected_workbook": "这是旧版或加了密码的工作簿：请在 Excel 中另存为不加密的 .xlsx",
    "unreadable_workbook": "无法读取这个 Excel 工作簿：请在 Excel 中打开并另存为 .xlsx",
    "not_text": "这不是文本表格（含有二进制内容）：请上传 CSV 或 Excel 名单",
    "unknown_text_encoding": "无法识别文件的文字编码：请在 Excel 中另存为 .xlsx 或 UTF-8 CSV",
    "no_sheet": "没有名为 {sheet!r} 的工作表（现有：{sheets}）",
    "no_content": "表格前面若干行都是空的",
    "bad_duration": "{o[max_age]}不对：请写成 30m、12h 或 7d 这样的时长",
    "out_of_range": "{o[max_age]}超出范围",
    "job_active": "任务正在进行，请等待完成或先停止",
    "job_finished": "任务已完成：每个号码都有结果了",
    "writing": "任务已停止，正在写出结果文件，请稍候",
    "replanning": "正在按新的列重新统计，请稍候再开始",
    "server_stopping": "服务正在停止，请稍后再试",
    "not_planned": "任务已经开始，不能再更改号码列",
    "cross_site": "拒绝来自其他网站的请求",
    "busy_uploads": "服务器正在处理其他上传，请 {retry} 秒后再试",
    "bad_multipart": "上传不完整或格式不对，请重新上传",
    "upload_too_slow": "上传太慢或中断了，请重新上传",
    "unclosed_quote": "第 {line} 行的引号没有结束，后面的行会被当成一个单元格：请改正引号后重新上传",
    "unsaved_formulas": "手机号码列有 {count} 个单元格（{first}）是没有保存结果的公式，读出来是空的："
    "请在 Excel 或 WPS 中打开并保存后重新上传",
    "bad_field": "“{field_zh}”填写不对：应为{expected_zh}",
    "choose_column": "请先选择手机号码所在的列",
    "budget_spent": "这个任务的计费上限（{budget} 次）已用完：请先提高上限",
    "input_changed": "名单在处理过程中被修改了：已查询的结果都保存着，请重新开始",
}


def one_line(message: str, most: int = 400) -> str:
    """A message as one line of at most ``most`` characters (an error echoing a 3 MB cell too)."""
    line = " ".join(message.split())
    return line if len(line) <= most else line[: most - 1] + "…"


def in_words(exc: BatchVerifyError, language: str, names: dict[str, str]) -> tuple[str, str]:
    """(the English line, the line in ``language``). ``names`` maps server paths to what the uploader
    calls them (the upload's file name), so no server path is ever shown."""
    params: dict[str, Any] = {k: _shown(v, names) for k, v in exc.params.items()}
    # A plain message (no params) may name a server path too: it is rewritten as well.
    english = str(_shown(_plain(exc, params, exc.render(WEB_NAMES)), names))
    if language != "zh-CN" or exc.code not in _ZH:
        return english, english
    return english, _fill(_ZH[exc.code], params)


def _shown(value: object, names: dict[str, str]) -> object:
    if not isinstance(value, str):
        return value
    for path, name in names.items():
        value = value.replace(path, name)
    return value


def _plain(exc: BatchVerifyError, params: dict[str, Any], fallback: str) -> str:
    if not exc.params:
        return fallback
    try:
        return exc.template.format(o=WEB_NAMES, **params)
    except (KeyError, IndexError, ValueError, AttributeError):
        return fallback


def _fill(template: str, params: dict[str, Any]) -> str:
    try:
        return template.format(o=ZH_NAMES, **params)
    except (KeyError, IndexError, ValueError, AttributeError):
        return template.split("：")[0]
