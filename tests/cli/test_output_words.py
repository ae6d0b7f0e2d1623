"""Output a person acts on: plain words in their language, the rows that need action, a CSV that
Excel on Chinese Windows opens without mojibake, and conversions between CSV and Excel."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import pytest

from batchverify.core.labels import (
    LANGUAGES,
    StatusClass,
    action_of,
    class_of,
    default_language,
    label_of,
    needs_action,
    resolve_language,
)
from batchverify.models import Status
from batchverify.simulator import SimulatorServer
from tests.support.cli import run_cli
from tests.support.tables import read_rows as read_any
from tests.support.tables import write_csv


def read_rows(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    return read_any(path, encoding)


# Scripted simulator numbers, one per class.
LIVE, SUSPENDED, CANCELLED, BUSY, NO_RECORD = (
    "13800000000",
    "13800000001",
    "13800000002",
    "13900000003",
    "13900000001",
)


def write_rows(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)


def customer_list(path: Path) -> list[list[str]]:
    rows = [
        ["编号", "姓名", "手机号码"],
        ["1", "甲", LIVE],
        ["2", "乙", SUSPENDED],
        ["3", "丙", CANCELLED],
        ["4", "丁", BUSY],
        ["5", "戊", "12345"],
        ["6", "己", NO_RECORD],
        ["7", "庚", LIVE],
    ]
    write_rows(path, rows)
    return rows


def test_every_status_has_a_class_label_and_action_in_every_language() -> None:
    for language in LANGUAGES:
        for status in Status:
            assert label_of(status, language) and action_of(status, language)
    assert class_of(Status.NORMAL) is StatusClass.LIVE
    assert [s for s in Status if not needs_action(s)] == [Status.NORMAL]
    assert (
        label_of(Status.OUT_OF_SERVICE, "zh-CN") == "停机"
        and action_of(Status.CANCELLED, "zh-CN") == "建议剔除"
    )
    assert action_of(Status.BUSY, "en") == "retry later"


def test_the_language_follows_the_option_then_the_locale() -> None:
    assert resolve_language("zh_CN.UTF-8") == "zh-CN" and resolve_language("en-US") == "en"
    with pytest.raises(ValueError, match="zh-CN or en"):
        resolve_language("fr")
    assert default_language({"LANG": "zh_CN.UTF-8"}) == "zh-CN"
    assert default_language({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}) == "en"
    assert default_language({"BATCHVERIFY_LANGUAGE": "zh", "LANG": "C"}) == "zh-CN"
    assert default_language({}, "Chinese (Simplified)_China") == "zh-CN"
    assert default_language({}) == "en"


def test_chinese_words_headers_and_api_descriptions(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "名单.csv"
    customer_list(src)
    result = run_cli("run", src, "--yes", "--language", "zh-CN", env=env)
    assert result.returncode == 1, result.stderr  # the busy number is not final
    out = read_rows(tmp_path / "名单.verified.csv")
    col = {name: i for i, name in enumerate(out[0])}
    assert "号码状态" in col and "处理建议" in col and "状态代码" in col
    assert not any(name.startswith("mobile_") for name in col)  # every added header in Chinese
    by_phone = {row[2]: row for row in out[1:]}
    assert by_phone[SUSPENDED][col["号码状态"]] == "停机"
    assert by_phone[SUSPENDED][col["处理建议"]] == "建议剔除"
    assert by_phone[LIVE][col["处理建议"]] == "可联系"
    assert by_phone[BUSY][col["处理建议"]] == "待重试"
    assert by_phone["12345"][col["处理建议"]] == "核对号码"
    assert by_phone[NO_RECORD][col["处理建议"]] == "人工核实"
    assert by_phone[LIVE][col["接口说明"]] == "成功"  # asked with X-TC-Language: zh-CN
    assert (
        by_phone[LIVE][col["是否计费"]] == "是" and by_phone["12345"][col["结果来源"]] == "未发送（本地判断）"
    )


def test_a_previous_output_in_another_language_has_its_columns_replaced(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.csv"
    customer_list(src)
    assert run_cli("run", src, "--yes", "--language", "zh-CN", env=env).returncode == 1
    again = tmp_path / "again.csv"
    result = run_cli("run", tmp_path / "list.verified.csv", "-o", again, "--yes", "--language", "en", env=env)
    assert result.returncode == 1, result.stderr
    header = read_rows(again)[0]
    assert header.count("mobile_status") == 1
    assert "号码状态" not in header and "状态代码" not in header and "mobile_status_label" in header
    assert len(header) == 3 + 14
    # and back: the English output's columns replaced by Chinese ones, one of each
    third = tmp_path / "third.csv"
    assert run_cli("run", again, "-o", third, "--yes", "--language", "zh-CN", env=env).returncode == 1
    header = read_rows(third)[0]
    assert header.count("状态代码") == 1 and "mobile_status" not in header and len(header) == 3 + 14


def test_problems_file_holds_only_rows_that_need_action(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.csv"
    rows = customer_list(src)
    problems = tmp_path / "problems.csv"
    result = run_cli("run", src, "--yes", "--problems", problems, env=env)
    assert result.returncode == 1, result.stderr
    back = read_rows(problems)
    assert back[0][:3] == rows[0]
    phones = [row[2] for row in back[1:]]
    # grouped by what to do: remove, fix the number, check by hand, retry (the list's order within)
    assert phones == [SUSPENDED, CANCELLED, "12345", NO_RECORD, BUSY]
    status = back[0].index("mobile_status")
    assert {row[status] for row in back[1:]} == {
        "out_of_service",
        "cancelled",
        "busy",
        "invalid_number",
        "not_found",
    }
    # The full output is still complete.
    assert len(read_rows(tmp_path / "list.verified.csv")) == len(rows)


def test_problems_path_checks_come_before_sending(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.csv"
    customer_list(src)
    mine = tmp_path / "mine.csv"
    mine.write_text("my own file", encoding="utf-8")
    for bad, message in [
        (src, "would overwrite"),
        (tmp_path / "list.verified.csv", "would overwrite"),
        (mine, "did not write it"),
        (tmp_path / "p.pdf", "must be one of"),
        (tmp_path / "missing" / "p.csv", "does not exist"),
    ]:
        result = run_cli("run", src, "--yes", "--problems", bad, env=env)
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fast_sim.ledger()["requests"] == 0
    assert mine.read_text(encoding="utf-8") == "my own file"


def test_utf8_csv_with_chinese_gets_a_bom_and_says_so(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "list.csv"
    customer_list(src)  # UTF-8 without a BOM
    result = run_cli("run", src, "--yes", env=env)
    assert "byte-order mark" in result.stdout
    assert (tmp_path / "list.verified.csv").read_bytes().startswith(codecs.BOM_UTF8)
    plain = tmp_path / "plain.csv"
    result = run_cli("run", src, "-o", plain, "--yes", "--output-encoding", "utf-8", env=env)
    assert "byte-order mark" not in result.stdout
    assert not plain.read_bytes().startswith(codecs.BOM_UTF8)


def test_an_ascii_csv_in_english_keeps_its_bytes_without_a_bom(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "ascii.csv"
    write_rows(src, [["id", "phone"], ["1", LIVE], ["2", SUSPENDED]])
    result = run_cli("run", src, "--yes", env=env)
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "ascii.verified.csv").read_bytes()
    assert not data.startswith(codecs.BOM_UTF8) and data.isascii()


def test_gbk_input_stays_gbk_which_excel_reads_natively(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    src = tmp_path / "gbk.csv"
    write_rows(src, [["编号", "手机"], ["1", LIVE]], encoding="gbk")
    result = run_cli("run", src, "--yes", "--language", "zh-CN", env=env)
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "gbk.verified.csv", encoding="gbk")
    assert rows[1][rows[0].index("处理建议")] == "可联系"


def test_a_customers_own_columns_named_like_result_headers_are_theirs(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    """状态代码 and 核验时间 of a CRM export are the customer's columns, kept as they were and never taken
    for an earlier output's result columns; a phone column headed 标准号码 is found."""
    src = tmp_path / "crm.csv"
    src.write_text("姓名,标准号码,状态代码,核验时间\n张三,13800138000,VIP,2024-01-01\n", encoding="utf-8")
    result = run_cli("run", src, "--yes", "--language", "zh-CN", "--answers", "none", env=env)
    assert result.returncode in (0, 1), result.stderr
    out = read_rows(tmp_path / "crm.verified.csv")
    assert out[0][:4] == ["姓名", "标准号码", "状态代码", "核验时间"] and out[1][:4] == [
        "张三",
        "13800138000",
        "VIP",
        "2024-01-01",
    ]
    assert len(out[0]) == 4 + 14 and out[0].count("状态代码") == 2
    fed = tmp_path / "crm.verified.csv"
    again = run_cli(
        "run", fed, "-o", tmp_path / "again.csv", "--yes", "--language", "zh-CN", "--answers", "none", env=env
    )
    assert again.returncode in (0, 1), again.stderr
    back = read_rows(tmp_path / "again.csv")
    assert back[0] == out[0] and back[1][:4] == out[1][:4]  # fed back: ours replaced, theirs kept


def test_a_column_added_after_the_results_is_the_customers(
    tmp_path: Path, fast_sim: SimulatorServer, env: dict[str, str]
) -> None:
    """The result columns fed back are the run of them side by side: a 核验时间 the person added after
    them is theirs, and the results are refreshed where they are."""
    src = tmp_path / "l.csv"
    src.write_text("姓名,手机\n张三,13800138000\n", encoding="utf-8")
    assert run_cli("run", src, "--yes", "--language", "zh-CN", "--answers", "none", env=env).returncode in (
        0,
        1,
    )
    out = read_rows(tmp_path / "l.verified.csv")
    edited = tmp_path / "edited.csv"
    write_csv(edited, [[*out[0], "核验时间"], [*out[1], "回访-张三"]])
    again = run_cli(
        "run",
        edited,
        "-o",
        tmp_path / "again.csv",
        "--yes",
        "--language",
        "zh-CN",
        "--answers",
        "none",
        env=env,
    )
    assert again.returncode in (0, 1), again.stderr
    back = read_rows(tmp_path / "again.csv")
    assert back[0] == [*out[0], "核验时间"] and back[1][-1] == "回访-张三"
    checked = out[0].index("核验时间")
    assert back[1][checked] and back[1][checked] != "回访-张三"
