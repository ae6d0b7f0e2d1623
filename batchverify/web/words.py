"""The upload page's words in Chinese and English, and the language a browser asks for."""

from __future__ import annotations

from typing import Any

from batchverify.core.labels import LANGUAGES, class_of, label_of
from batchverify.models import Status

__all__ = ["browser_language", "page_words"]

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "batchverify: check whether mobile numbers are live",
        "drop": "Drop a customer list here (CSV or Excel), or click to choose one",
        "uploading": "Uploading…",
        "plan": "Before anything is sent",
        "plan_after": "The list",
        "last_run": "Last run",
        "same_file": "This very file was uploaded before",
        "same_file_tail": "checking it again bills every number again; for the same list, open that job.",
        "reuse": "Reuse them",
        "unit_s": " seconds",
        "unit_m": " minutes",
        "unit_h": " hours",
        "unit_d": " days",
        "unit_w": " weeks",
        "reuse_offer": "Answers younger than {age} are kept for {numbers} of these numbers: "
        "reusing them saves {calls} billable calls.",
        "reusing": "Reusing answers younger than {age} (from earlier lists, jobs and runs): "
        "{numbers} numbers.",
        "requests": "requests",
        "billable": "billable answers",
        "rows": "rows",
        "distinct": "distinct numbers",
        "invalid": "invalid",
        "empty": "empty",
        "duplicates": "duplicates",
        "reused": "already answered",
        "to_send": "to check",
        "max_billable": "billed at most",
        "column": "Phone column",
        "header_row": "header row",
        "no_header": "no header row",
        "valid": "valid",
        "by_values": "chosen by its values: please check it",
        "preview": "First rows",
        "start": "Start checking",
        "stop": "Stop",
        "resume": "Resume",
        "delete": "Delete",
        "download": "Download the list with results",
        "download_problems": "Download only the rows that need action",
        "history": "Jobs",
        "progress": "checked",
        "nothing": "No jobs yet.",
        "state_planned": "planned",
        "state_queued": "waiting",
        "state_running": "running",
        "state_stopped": "stopped",
        "state_finished": "finished",
        "state_failed": "failed",
        "stopping": "stopping: writing what is answered so far…",
        "confirm_delete": "Delete this job and all its files?",
        "login_title": "batchverify: log in",
        "login_help": "Paste the token the server printed when it started (or BATCHVERIFY_TOKEN).",
        "token": "Token",
        "login": "Log in",
        "bad_token": "That token is not this server's (or the login link was used or has expired).",
        "too_many": "Too many failed attempts from this computer: wait {wait} seconds and try again.",
        "error": "Error",
        "not_final": "still to retry later (Resume)",
        "sheet": "Sheet",
        "open": "Open",
        "logout": "Log out",
        "too_large": "The file is larger than this server accepts",
        "lost": "The connection to the server was lost; reload the page.",
    },
    "zh-CN": {
        "title": "batchverify：手机号码状态批量核验",
        "drop": "把客户名单（CSV 或 Excel）拖到这里，或点击选择文件",
        "uploading": "正在上传…",
        "plan": "核验前确认（尚未发送任何查询）",
        "plan_after": "名单概况",
        "last_run": "上次运行",
        "same_file": "这个文件之前已经上传过",
        "same_file_tail": "再次核验会对每个号码重新计费；如果是同一份名单，请打开那个任务。",
        "reuse": "复用这些结果",
        "unit_s": " 秒",
        "unit_m": " 分钟",
        "unit_h": " 小时",
        "unit_d": " 天",
        "unit_w": " 周",
        "reuse_offer": "其中 {numbers} 个号码已有 {age}内的核验结果：复用可省下 {calls} 次计费查询。",
        "reusing": "正在复用 {age}内的核验结果（来自之前的名单、任务和运行）：{numbers} 个号码。",
        "requests": "次请求",
        "billable": "次计费",
        "rows": "行",
        "distinct": "个不重复号码",
        "invalid": "个格式错误",
        "empty": "个未填",
        "duplicates": "个重复",
        "reused": "个已有结果",
        "to_send": "个待核验",
        "max_billable": "最多计费次数",
        "column": "手机号码列",
        "header_row": "表头行",
        "no_header": "无表头",
        "valid": "有效",
        "by_values": "按内容推断，请确认",
        "preview": "前几行预览",
        "start": "开始核验",
        "stop": "停止",
        "resume": "继续",
        "delete": "删除",
        "download": "下载带结果的名单",
        "download_problems": "只下载需要处理的行",
        "history": "任务记录",
        "progress": "已核验",
        "nothing": "还没有任务。",
        "state_planned": "待开始",
        "state_queued": "排队中",
        "state_running": "核验中",
        "state_stopped": "已停止",
        "state_finished": "已完成",
        "state_failed": "失败",
        "stopping": "正在停止：正在写出已有结果…",
        "confirm_delete": "删除这个任务及其所有文件？",
        "login_title": "batchverify：登录",
        "login_help": "请粘贴服务启动时显示的令牌（或 BATCHVERIFY_TOKEN）。",
        "token": "令牌",
        "login": "登录",
        "bad_token": "令牌不正确（或登录链接已用过、已过期）。",
        "too_many": "这台电脑登录失败的次数太多：请等 {wait} 秒后再试。",
        "error": "错误",
        "not_final": "个需稍后重试（点“继续”）",
        "sheet": "工作表",
        "open": "打开",
        "logout": "退出",
        "too_large": "文件超过服务器允许的大小",
        "lost": "与服务器的连接已断开，请刷新页面。",
    },
}


def browser_language(accept_language: str, default: str) -> str:
    """The first language of ``Accept-Language`` (by q) that the page speaks, else ``default``."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, position, tag.strip().casefold()))
    for neg_q, _, tag in sorted(ranked):
        if neg_q >= 0:
            continue
        if tag == "zh" or tag.startswith("zh-"):
            return "zh-CN"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return default if default in LANGUAGES else "en"


def page_words(language: str) -> dict[str, Any]:
    """What the page's script needs: its words, and each status's label and colour class."""
    return {
        "lang": language,
        "words": _WORDS[language],
        "labels": {s.value: label_of(s, language) for s in Status},
        "classes": {s.value: class_of(s).value for s in Status},
    }


def words(language: str) -> dict[str, str]:
    return _WORDS[language]
