"""The upload page's words in Chinese and English, and the language a browser asks for."""

from __future__ import annotations

from typing import Any

from batchverify.core.labels import LANGUAGES, action_of, class_of, label_of
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
        "invalid": "invalid rows (not sent)",
        "empty": "empty rows",
        "duplicates": "duplicate rows",
        "reused": "numbers already answered",
        "to_send": "to check",
        "max_billable": "billed at most (times)",
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
        "numbers": "numbers",
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
        "token": "Token",
        "login": "Log in",
        "bad_token": "That code or token is not this service's (or the login link was used or has expired).",
        "too_many": "Too many failed attempts from this computer: wait {wait} seconds and try again.",
        "error": "Error",
        "not_final": "numbers still to retry later",
        "sheet": "Sheet",
        "open": "Open",
        "logout": "Log out",
        "too_large": "The file is larger than this server accepts",
        "lost": "The connection to the server was lost; reload the page.",
        "signed_in": "Signed in as",
        "colon": ": ",
        "comma": ", ",
        "name_label": "Job name (optional)",
        "budget_label": "Bill at most (optional)",
        "budget_hint": "It stops before it would be billed more; the rest can be checked later.",
        "kept_for": "Lists and results are deleted {keep} after a job's last change.",
        "who_users": "Only you and the administrators see the lists you upload.",
        "who_token": "Everyone who has this service's access token sees every list here.",
        "deleted_at": "Deleted automatically on {when}.",
        "rename": "Rename",
        "save": "Save",
        "cancel": "Cancel",
        "column_question": "Which column holds the mobile numbers?",
        "use_column": "Use this column",
        "another": "Check another column",
        "checked_column": "checked in the first job",
        "valid_of": "{valid} of {filled} values look like mobile numbers",
        "column_empty": "This column holds no valid mobile number: choose another.",
        "why_max": "Billed at most {n} times: {send} numbers to check, plus up to {extra} repeats of "
        "calls whose answer was lost (each may have been billed).",
        "why_budget": "Your budget: at most {n} billed answers.",
        "money_most": "Cost at most {money}.",
        "money": "{money}",
        "rate": "{rate} per second",
        "time_left": "about {time} left",
        "billed_so_far": "billed so far: {n}",
        "cost_so_far": "cost so far: {money}",
        "close_tab": "You can close this page: the check goes on on the "
        "server. Open it again from the list below.",
        "rows_caption": "Rows per result: the same counts as the summary sheet of the downloaded workbook.",
        "numbers_caption": "Numbers checked so far (each distinct number once).",
        "retry_tomorrow": "{rows} rows have no final answer yet ({statuses}) and today's queries are used "
        "up: Resume after {when} fills them in; answers already paid for are not paid again.",
        "retry_minutes": "{rows} rows have no final answer yet ({statuses}); the service was busy: "
        "Resume after {when} tries them again.",
        "retry_now": "{rows} rows have no final answer yet ({statuses}): Resume tries them again; "
        "answers already paid for are not paid again.",
        "retry_never": "{rows} rows got no answer after several tries and are no longer retried: "
        "check them by hand (action in the workbook: retry later).",
        "finished_today": "finished for today",
        "took": "took {time}",
        "d_d": "{n} days",
        "d_h": "{n} h",
        "d_m": "{n} min",
        "d_s": "{n} seconds",
        "col_name": "Name",
        "col_uploaded": "Uploaded",
        "col_state": "State",
        "col_progress": "Numbers checked",
        "col_owner": "Uploaded by",
        "login_help_users": "Enter the access code you were given (ask whoever runs this service for one).",
        "login_help_token": "Enter this service's access token (ask whoever runs this service for it).",
        "code": "Access code",
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
        "invalid": "行号码格式错误（不发送）",
        "empty": "行未填号码",
        "duplicates": "行重复",
        "reused": "个号码已有结果",
        "to_send": "个待核验",
        "max_billable": "次最多计费",
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
        "numbers": "个号码",
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
        "token": "令牌",
        "login": "登录",
        "bad_token": "访问码或令牌不正确（或登录链接已用过、已过期）。",
        "too_many": "这台电脑登录失败的次数太多：请等 {wait} 秒后再试。",
        "error": "错误",
        "not_final": "个号码待重试",
        "sheet": "工作表",
        "open": "打开",
        "logout": "退出",
        "too_large": "文件超过服务器允许的大小",
        "lost": "与服务器的连接已断开，请刷新页面。",
        "signed_in": "当前用户",
        "colon": "：",
        "comma": "，",
        "name_label": "任务名称（可不填）",
        "budget_label": "最多计费次数（可不填）",
        "budget_hint": "达到这个次数前就会停下，其余号码之后可以继续核验。",
        "kept_for": "名单和结果在任务最后一次变动 {keep}后自动删除。",
        "who_users": "只有你和管理员能看到你上传的名单。",
        "who_token": "所有拿到这个服务访问令牌的人都能看到这里的全部名单。",
        "deleted_at": "将于 {when} 自动删除。",
        "rename": "改名",
        "save": "保存",
        "cancel": "取消",
        "column_question": "哪一列是手机号码？",
        "use_column": "用这一列",
        "another": "核验另一列",
        "checked_column": "原任务已核验这一列",
        "valid_of": "{filled} 个值中有 {valid} 个像手机号码",
        "column_empty": "这一列没有有效的手机号码：请换一列。",
        "why_max": "最多计费 {n} 次：{send} 个待核验号码，加上最多 "
        "{extra} 次重发（应答丢失的请求可能已计费）。",
        "why_budget": "你设的上限：最多计费 {n} 次。",
        "money_most": "费用最多 {money}。",
        "money": "{money}",
        "rate": "每秒 {rate} 个",
        "time_left": "预计还需 {time}",
        "billed_so_far": "已计费 {n} 次",
        "cost_so_far": "已花费 {money}",
        "close_tab": "可以关闭这个页面：核验会在服务器上继续，之后在下面的任务记录里再打开。",
        "rows_caption": "各结果的行数：与下载表格中“核验汇总”的数字一致。",
        "numbers_caption": "目前已核验的号码（同一号码只算一次）。",
        "retry_tomorrow": "{rows} 行还没有最终结果（{statuses}），今天的查询次数已用完："
        "{when} 之后点“继续”即可补全，已有结果不会重复计费。",
        "retry_minutes": "{rows} 行还没有最终结果（{statuses}），查询服务繁忙：{when} 之后点“继续”再试。",
        "retry_now": "{rows} 行还没有最终结果（{statuses}），处理建议为“待重试”："
        "点“继续”再试一次，已有结果不会重复计费。",
        "retry_never": "{rows} 行多次查询仍没有结果，已不再重试："
        "请人工核实（表格里处理建议为“待重试”的行）。",
        "finished_today": "今天已完成",
        "took": "用时 {time}",
        "d_d": "{n} 天",
        "d_h": "{n} 小时",
        "d_m": "{n} 分",
        "d_s": "{n} 秒",
        "col_name": "名称",
        "col_uploaded": "上传时间",
        "col_state": "状态",
        "col_progress": "已核验号码",
        "col_owner": "上传人",
        "login_help_users": "请输入发给你的访问码（没有的话，请向负责这个服务的同事索取）。",
        "login_help_token": "请输入这个服务的访问令牌（没有的话，请向负责这个服务的同事索取）。",
        "code": "访问码",
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
        "actions": {s.value: action_of(s, language) for s in Status},
    }


def words(language: str) -> dict[str, str]:
    return _WORDS[language]
