"""The upload page as a Chinese (or English) operations user meets it, in a real headless Chromium at
a 1366×768 laptop and a 390×844 phone: their own login code, a named job with a budget, what it may
cost and why, the pace and money while it runs, a job finished for today, the downloads on screen,
figures that agree with the workbook, a list whose phone column must be chosen, and two users who
never see each other's lists.

``BATCHVERIFY_SCREENSHOT_DIR=docs`` (``make screenshot``) keeps the pictures for the documentation.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batchverify.simulator import SimConfig, SimulatorServer
from batchverify.web.users import add_user
from tests.support.cli import cli_env
from tests.support.web import Served, start_server
from tests.web.test_web_browser import FLAGS, _missing, expect, playwright_api  # noqa: F401

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "customers.xlsx"
LAPTOP = (1366, 768)
PHONE = (390, 844)


@pytest.fixture
def open_page(playwright_api: Any, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    """``open_page(locale, size)``: a new page in a fresh Chromium profile, in Beijing time."""
    import shutil
    import tempfile

    executable = shutil.which("chromium")
    if executable is None:
        _missing("no chromium on PATH")
    contexts: list[Any] = []

    def make(locale: str, size: tuple[int, int]) -> Any:
        context = playwright_api.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp_path, prefix="profile-"),
            executable_path=executable,
            headless=True,
            args=FLAGS,
            locale=locale,
            timezone_id="Asia/Shanghai",
            accept_downloads=True,
            viewport={"width": size[0], "height": size[1]},
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[Served, SimulatorServer, dict[str, str]]]:
    """A server with a users file (alice, bob, and carol the admin), a price, and a pace slow enough
    to watch a run; the codes by name."""
    users = tmp_path / "users.txt"
    codes = {name: add_user(users, name, admin=name == "carol") for name in ("alice", "bob", "carol")}
    with SimulatorServer(SimConfig(seed=11, latency_ms=(20, 60))) as sim:
        env = cli_env(sim, tmp_path / "home")
        env.pop("BATCHVERIFY_TOKEN", None)
        args = ("--rate", "8", "--price", "0.05", "--users", str(users))
        server = start_server(env, tmp_path / "data", *args).wait_ready()
        try:
            yield server, sim, codes
        finally:
            server.stop()


def _login(page: Any, server: Served, code: str) -> None:
    page.goto(server.base + "/login")
    page.fill("#token", code)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready]")


def _on_screen(page: Any, selector: str) -> bool:
    """Whether the element is wholly inside the viewport, as it is scrolled now."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (
        bool(box)
        and box["y"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and (box["x"] >= 0 and box["x"] + box["width"] <= size["width"])
    )


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"


def _chips(page: Any) -> dict[str, int]:
    found = {}
    for chip in page.locator("#counts li").all():
        status = chip.get_attribute("data-status")
        found[status] = int(chip.locator("b").inner_text())
    return found


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    shots = Path(os.environ.get("BATCHVERIFY_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / name), full_page=True)


@pytest.mark.parametrize(
    ("locale", "size"), [("zh-CN", LAPTOP), ("zh-CN", PHONE), ("en-US", LAPTOP), ("en-US", PHONE)]
)
def test_a_named_job_with_a_budget_from_plan_to_workbook(
    team: tuple[Served, SimulatorServer, dict[str, str]],
    open_page: Any,
    tmp_path: Path,
    locale: str,
    size: tuple[int, int],
) -> None:
    server, sim, codes = team
    zh = locale == "zh-CN"
    page = open_page(locale, size)
    page.goto(server.base + "/login")
    help_text = page.inner_text("form.login p")
    assert ("访问码" if zh else "access code") in help_text and "BATCHVERIFY_TOKEN" not in help_text
    _login(page, server, codes["alice"])
    assert ("只有你和管理员" if zh else "Only you and the administrators") in page.inner_text("#who-note")
    assert ("30 天" if zh else "30 days") in page.inner_text("#kept-note")
    if size == PHONE:
        logout = page.locator("form.logout button").bounding_box()
        assert logout is not None and logout["height"] < 40  # one line, not wrapped
        _no_sideways_scroll(page)

    page.fill("#upload-name", "十二月回访" if zh else "December call-backs")
    page.fill("#upload-budget", "100")
    page.set_input_files("#file", str(SAMPLE))
    page.wait_for_selector("#job:not([hidden])")
    expect(page.locator("#job-name")).to_have_text("十二月回访" if zh else "December call-backs")
    cost = page.inner_text("#cost")
    why = (
        "最多计费 57 次：52 个待核验号码，加上最多 5 次重发"
        if zh
        else "Billed at most 57 times: 52 numbers to check, plus up to 5 repeats"
    )
    budget = "最多 100 次（还剩 100 次）" if zh else "at most 100 billed answers (100 left)"
    assert why in cost and budget in cost and "2.85" in cost, cost
    assert _on_screen(page, "#start") and page.is_enabled("#start")
    phone = page.locator("#preview th.phone").bounding_box()
    box = page.locator("#preview-box").bounding_box()
    assert (
        phone
        and box
        and phone["x"] >= box["x"]
        and phone["x"] + phone["width"] <= box["x"] + box["width"] + 1
    )
    assert sim.ledger()["requests"] == 0

    page.click("#start")
    page.wait_for_selector("#job[data-state=running]")
    expect(page.locator("#live")).to_contain_text("每秒" if zh else "per second", timeout=15_000)
    live = page.inner_text("#live")
    assert ("预计还需" if zh else "left") in live and ("已花费" if zh else "cost so far") in live
    assert page.is_visible("#close-tab") and _on_screen(page, "#stop")
    page.wait_for_selector("#job[data-state=finished]", timeout=90_000)

    # What is open and when trying again can help: the busy and failed rows in a few minutes, the
    # daily-limited one tomorrow; nothing offered before then
    retry = page.inner_text("#retry")
    assert ("这次没有查到结果" if zh else "no answer this time") in retry
    assert ("超出当日查询次数（超出当日查询次数 1）" if zh else "reached a daily limit") in retry
    assert "(GMT+8)" in retry and page.is_hidden("#resume")
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#job").scroll_into_view_if_needed()
    assert _on_screen(page, "#download") and _on_screen(page, "#download-problems")
    chips = _chips(page)
    assert sum(chips.values()) == 60  # rows, as the workbook counts them
    with page.expect_download() as info:
        page.click("#download")
    book = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    summary = book.worksheets[-1]
    cells = {row[0]: row[1:] for row in summary.iter_rows(values_only=True) if row and row[0]}
    by_status = {
        row[3]: row[1] for row in summary.iter_rows(values_only=True) if row and len(row) > 3 and row[3]
    }
    by_status.pop("状态代码" if zh else "Status code", None)
    assert by_status == chips, (by_status, chips)  # the page and the workbook: one set of figures
    assert cells["文件" if zh else "File"][0] == "customers.xlsx"
    assert "Asia/Shanghai" in str(cells["表中时间均为" if zh else "Times in this workbook are"][0])
    header = [c.value for c in book.worksheets[0][2]]
    added = [h for h in header if str(h).startswith("mobile_")]
    assert (added == []) if zh else len(added) == 14
    assert any("点“继续”" in str(k) or "click Resume" in str(k) for k in cells)

    # A new name, kept in the history, whose times read to the second
    page.click("#rename")
    page.fill("#rename-input", "回访 A" if zh else "Call-backs A")
    page.click("#rename-form button[type=submit]")
    expect(page.locator("#job-name")).to_have_text("回访 A" if zh else "Call-backs A")
    row = page.locator("#history tbody tr").first
    expect(row.locator("td.name")).to_contain_text("回访 A" if zh else "Call-backs A")
    assert re.search(r"\d\d:\d\d:\d\d", row.locator("td.when").inner_text())
    if size == PHONE:
        _no_sideways_scroll(page)
        button = row.locator("button[data-id]").bounding_box()
        assert button is not None and button["x"] + button["width"] <= size[0]
    else:
        headers = page.locator("#history thead th").all_inner_texts()
        assert ("名称" if zh else "Name") in headers and ("上传时间" if zh else "Uploaded") in headers
    _shot(page, f"serve-{'zh' if zh else 'en'}-{size[0]}.png", tmp_path)


@pytest.mark.parametrize("size", [LAPTOP, PHONE])
def test_a_list_whose_phone_column_cannot_be_told_asks_for_it(
    team: tuple[Served, SimulatorServer, dict[str, str]],
    open_page: Any,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    server, sim, codes = team
    page = open_page("zh-CN", size)
    _login(page, server, codes["bob"])
    two = tmp_path / "两列号码.csv"
    two.write_text(
        "姓名,客户电话,联系方式\n张三,13800138000,13900000001\n李四,13800138002,13900000003\n",
        encoding="utf-8",
    )
    page.set_input_files("#file", str(two))
    page.wait_for_selector("#question:not([hidden])")
    assert "两列号码.csv" in page.inner_text("#question-text")
    assert page.is_disabled("#start")
    candidates = page.locator("#candidates li")
    expect(candidates).to_have_count(3)
    assert "13900000001" in candidates.nth(2).inner_text() and "2 个" in candidates.nth(2).inner_text()
    if size == LAPTOP:
        _shot(page, "serve-column-question-zh.png", tmp_path)
    else:
        _no_sideways_scroll(page)
    page.click("#candidates li:nth-child(3) button")
    page.wait_for_selector("#question", state="hidden")
    expect(page.locator("#plan-figures")).to_contain_text("2 个待核验")
    assert page.is_enabled("#start") and page.inner_text("#preview th.phone") == "联系方式"

    # checked, the other column of the same list is a choice: no upload again, no warning about paying twice
    page.click("#start")
    page.wait_for_selector("#job[data-state=finished]", timeout=60_000)
    first = page.locator("#history tbody tr").first.get_attribute("data-id")
    page.click("#another")
    page.wait_for_selector("#question:not([hidden])")
    assert "原任务已核验这一列" in page.inner_text("#candidates li:nth-child(3)")
    expect(page.locator("#job-name")).to_have_text("两列号码.csv · 另一列")
    page.click("#candidates li:nth-child(2) button")
    page.wait_for_selector("#question", state="hidden")
    assert page.is_hidden("#same-file") and page.inner_text("#preview th.phone") == "客户电话"
    assert page.locator("#history tbody tr").first.get_attribute("data-id") != first
    page.click("#start")
    page.wait_for_selector("#job[data-state=finished]", timeout=60_000)
    asked = set(sim.ledger()["calls_by_number"])  # two numbers a column: both columns asked
    assert asked == {"13800138000", "13800138002", "13900000001", "13900000003"}, asked
    sent = sim.ledger()["requests"]

    nothing = tmp_path / "没有号码.csv"
    nothing.write_text("姓名,城市\n张三,北京\n李四,上海\n", encoding="utf-8")
    page.set_input_files("#file", str(nothing))
    expect(page.locator("#job-name")).to_have_text("没有号码.csv")
    question = page.inner_text("#question-text")
    assert "没有号码.csv" in question and "没有找到手机号码列" in question
    page.click("#candidates li:nth-child(1) button")  # the names: nothing to check there
    expect(page.locator("#column-empty")).to_be_visible()
    assert page.is_disabled("#start")
    assert sim.ledger()["requests"] == sent


@pytest.mark.parametrize("size", [LAPTOP, PHONE])
def test_two_users_never_see_each_others_lists(
    team: tuple[Served, SimulatorServer, dict[str, str]],
    open_page: Any,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    server, _sim, codes = team
    alice = open_page("zh-CN", size)
    _login(alice, server, codes["alice"])
    listed = tmp_path / "alice.csv"
    # a number at its daily limit: the job is finished for today, and says when to come back
    listed.write_text("姓名,手机\n甲,13800138000\n乙,13900000004\n", encoding="utf-8")
    alice.set_input_files("#file", str(listed))
    alice.wait_for_selector("#job:not([hidden])")
    job_id = alice.locator("#history tbody tr").first.get_attribute("data-id")
    alice.click("#start")
    alice.wait_for_selector("#job[data-state=finished]", timeout=60_000)
    expect(alice.locator("#job-state")).to_have_text("今天已完成")
    assert "超出当日查询次数" in alice.inner_text("#retry") and "00:00:00 (GMT+8)" in alice.inner_text(
        "#retry"
    )
    assert alice.is_hidden("#resume") and _on_screen(alice, "#download")
    expect(alice.locator("#history tbody tr .badge").first).to_have_text("今天已完成")

    bob = open_page("zh-CN", size)
    _login(bob, server, codes["bob"])
    assert bob.is_visible("#no-jobs") and bob.locator("#history tbody tr").count() == 0
    seen = bob.evaluate(
        "async (id) => [(await fetch('/api/jobs/' + id)).status,"
        " (await fetch('/api/jobs/' + id + '/result')).status,"
        " (await fetch('/api/jobs/' + id, {method: 'DELETE'})).status]",
        job_id,
    )
    assert seen == [404, 404, 404]

    carol = open_page("zh-CN", size)  # the admin: every list, with who uploaded it
    _login(carol, server, codes["carol"])
    expect(carol.locator("#history tbody tr")).to_have_count(1)
    assert carol.locator("#history tbody tr td.owner").inner_text() == "alice"
    assert carol.is_visible("#history thead th.owner") == (size == LAPTOP)  # a phone: cards

    trail = [json.loads(line) for line in (tmp_path / "data" / "audit.log").read_text().splitlines()]
    actions = [(e["user"], e["action"]) for e in trail]
    assert ("alice", "login") in actions and ("alice", "upload") in actions and ("bob", "login") in actions
    assert ("alice", "start") in actions
    assert not any(e["action"] == "delete" for e in trail)  # bob's try never reached the job
    assert all(codes["alice"] not in json.dumps(e) for e in trail)
