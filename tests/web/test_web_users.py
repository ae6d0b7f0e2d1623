"""Who sees what on the upload server, through its JSON API against a real aiohttp server: each user
of ``--users`` their own jobs on every route, admins all, a removed user nowhere; the job's own fields
(name, zone, budget, result kind, headers) checked for every client alike; when open rows can be
tried again; the audit log."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest

from batchverify.errors import UsageError
from batchverify.web.jobview import next_try
from batchverify.web.users import Users, add_user, remove_user
from tests.support.web import AUTH, make_client, numbers_csv, upload, wait_state, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below


def _bearer(code: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {code}"}


@pytest.fixture
def users(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "users.txt"
    return path, {name: add_user(path, name, admin=name == "carol") for name in ("alice", "bob", "carol")}


async def test_each_user_sees_only_their_own_jobs_on_every_route(
    make_client: Any, tmp_path: Path, users: tuple[Path, dict[str, str]]
) -> None:
    path, codes = users
    client = await make_client(users_file=path)
    alice, bob, carol = (_bearer(codes[n]) for n in ("alice", "bob", "carol"))
    listed = numbers_csv(tmp_path / "list.csv", 3)
    made = await upload(client, listed, headers=alice, name="alice's list")
    assert made.status == 201
    job = await made.json()
    assert job["owner"] == "alice" and job["shown_name"] == "alice's list"
    base = f"/api/jobs/{job['id']}"
    for method, where in [
        ("GET", base),
        ("GET", base + "/events"),
        ("GET", base + "/result"),
        ("POST", base + "/plan"),
        ("POST", base + "/start"),
        ("POST", base + "/stop"),
        ("PATCH", base),
        ("DELETE", base),
    ]:
        answer = await client.request(method, where, headers=bob, json={"name": "mine"})
        assert answer.status == 404, (method, where, answer.status)
    assert (await (await client.get("/api/jobs", headers=bob)).json())["jobs"] == []
    # the same file from bob (even under alice's Idempotency-Key, from the same address): his own job,
    # no hint of alice's
    keyed = await (await upload(client, listed, headers={**alice, "Idempotency-Key": "k-1"})).json()
    theirs = await (await upload(client, listed, headers={**bob, "Idempotency-Key": "k-1"})).json()
    assert theirs["same_file"] is None and theirs["id"] != keyed["id"] and theirs["owner"] == "bob"
    everyone = (await (await client.get("/api/jobs", headers=carol)).json())["jobs"]
    assert {j["owner"] for j in everyone} == {"alice", "bob"}
    assert (await client.get(base, headers=carol)).status == 200
    # the server's token is the operator's, an admin's
    assert len((await (await client.get("/api/jobs", headers=AUTH)).json())["jobs"]) == 3

    logged_in = await client.post("/login", data={"token": codes["bob"]}, allow_redirects=False)
    assert logged_in.status == 303 and (await client.get("/api/jobs")).status == 200  # bob's session
    remove_user(path, "alice")
    remove_user(path, "bob")
    add_user(path, "bob")  # a leaked code rotated: bob again, with a new code
    await asyncio.sleep(2.1)  # the server reads the file again when it changed (every 2 s at most)
    assert (await client.get(base, headers=alice)).status == 401
    assert (await client.get("/api/jobs")).status == 401  # the old session is not the new bob's
    trail = [json.loads(line) for line in (tmp_path / "data" / "audit.log").read_text().splitlines()]
    actions = [(e["user"], e["action"]) for e in trail]
    assert actions == [("alice", "upload")] * 2 + [("bob", "upload"), ("bob", "login")]
    assert trail[0]["name"] == "alice's list" and trail[0]["list"] == "list.csv"


def test_the_users_file_is_checked_and_never_holds_a_code(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    code = add_user(path, "张三")
    assert code.startswith("bvu_") and code not in path.read_text(encoding="utf-8")
    assert Users.load(path).find(code).name == "张三"  # type: ignore[union-attr]
    assert Users.load(path).find(code + "x") is None
    for name in ("张三", "a b", "x#y", "", "operator"):
        with pytest.raises(UsageError):
            add_user(path, name)
    path.write_text(path.read_text(encoding="utf-8") + "bob admin nothex\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 3"):
        Users.load(path)


async def test_the_jobs_own_fields_are_checked_for_every_client(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 3)
    for field, value in [
        ("time_zone", "Mars/Olympus"),
        ("time_zone", "../../etc/passwd"),
        ("max_billable", "-1"),
        ("max_billable", "²"),
        ("output", "pdf"),
        ("headers", "both"),
    ]:
        form = aiohttp.FormData()
        form.add_field(field, value)
        form.add_field("file", listed.read_bytes(), filename="list.csv")
        bad = await client.post("/api/jobs", data=form, headers=AUTH)
        doc = await bad.json()
        assert bad.status == 400 and doc["field"] == field, (field, value, doc)
    job = await (
        await upload(
            client,
            listed,
            output="",
            name="  <b>名单</b>\u202e ",
            time_zone="Asia/Shanghai",
            max_billable="2",
        )
    ).json()
    assert job["title"] == "<b>名单</b>" and job["budget"] == 2 and job["time_zone"] == "Asia/Shanghai"
    assert job["plan"]["max_billable"] == 2  # the budget bounds the plan
    changed = await client.patch(
        f"/api/jobs/{job['id']}", json={"name": "", "max_billable": "x"}, headers=AUTH
    )
    assert changed.status == 400 and (await changed.json())["field"] == "max_billable"
    changed = await client.patch(
        f"/api/jobs/{job['id']}", json={"name": "", "max_billable": ""}, headers=AUTH
    )
    doc = await changed.json()
    assert changed.status == 200 and doc["shown_name"] == "list.csv" and doc["budget"] is None
    assert (await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)).status == 202
    done = await wait_state(client, job["id"], ("finished",))
    assert (
        sum(done["rows"].values()) == 3 and done["retry"] is None and done["expires_at"] > done["updated_at"]
    )
    # a CSV list comes back as a workbook, the zone sent with it named in the summary sheet
    result = await client.get(f"/api/jobs/{job['id']}/result", headers=AUTH)
    assert "list.verified.xlsx" in result.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(await result.read()))
    summary = {r[0]: r[1] for r in book.worksheets[-1].iter_rows(values_only=True) if r and r[0]}
    assert "Asia/Shanghai" in str(summary["Times in this workbook are"]) and summary["File"] == "list.csv"


async def test_a_zh_api_client_gets_the_same_chinese_workbook_as_the_page(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 2)
    zh = {**AUTH, "Accept-Language": "zh-CN"}
    job = await (await upload(client, listed, headers=zh, output="")).json()
    await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)
    await wait_state(client, job["id"], ("finished",))
    book = openpyxl.load_workbook(
        io.BytesIO(await (await client.get(f"/api/jobs/{job['id']}/result", headers=AUTH)).read())
    )
    header = [c.value for c in book.worksheets[0][1]]
    assert not any(str(h).startswith("mobile_") for h in header) and "号码状态" in header
    # a script asks for the stable names
    form = aiohttp.FormData()
    form.add_field("headers", "names")
    form.add_field("file", listed.read_bytes(), filename="list.csv")
    job = await (await client.post("/api/jobs", data=form, headers=zh)).json()
    await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)
    await wait_state(client, job["id"], ("finished",))
    book = openpyxl.load_workbook(
        io.BytesIO(await (await client.get(f"/api/jobs/{job['id']}/result", headers=AUTH)).read())
    )
    header = [c.value for c in book.worksheets[0][1]]
    assert "mobile_status" in header and "号码状态" not in header


def test_when_open_rows_can_be_tried_again() -> None:
    now = datetime.datetime(2026, 12, 7, 20, 0, tzinfo=datetime.UTC)  # 04:00 on the 8th in Beijing
    ended = {"finished_at": "2026-12-07T19:59:00Z"}

    def when(state: str, by_status: dict[str, int], reason: str | None = None, closed: bool = False) -> Any:
        return next_try(state, closed, {**ended, "by_status": by_status, "stop_reason": reason}, now)

    # a run that did all it could: each row by its status, the earliest group for the job
    mixed = when("finished", {"daily_limit": 1, "error": 2, "busy": 1, "normal": 5})
    assert [(g["when"], g["rows"]) for g in mixed["groups"]] == [("minutes", 3), ("tomorrow", 1)]
    assert mixed["when"] == "minutes" and mixed["rows"] == 4 and not mixed["ready"]
    assert mixed["groups"][1]["at"] == "2026-12-08T16:00:00Z"  # midnight in Beijing
    later = next_try(
        "finished", False, {**ended, "by_status": {"busy": 1}}, now + datetime.timedelta(minutes=5)
    )
    assert later is not None and later["ready"]
    only_quota = when("finished", {"daily_limit": 2})
    assert only_quota["when"] == "tomorrow" and not only_quota["ready"]
    # how the run ended decides for every row
    quota = when("finished", {"pending": 7, "error": 1}, "daily_limit")
    assert [g["when"] for g in quota["groups"]] == ["tomorrow"]
    stopped = when("stopped", {"pending": 60, "daily_limit": 2}, "interrupted")
    assert [g["when"] for g in stopped["groups"]] == ["now", "tomorrow"] and stopped["ready"]
    refused = when("failed", {"pending": 9}, "fatal")
    assert refused["when"] == "account" and refused["ready"]
    spent = when("finished", {"pending": 9}, "budget")
    assert spent["when"] == "budget"
    unreachable = when("stopped", {"pending": 9}, "network")
    assert unreachable["when"] == "minutes" and not unreachable["ready"]
    given_up = when("finished", {"error": 2}, closed=True)
    assert given_up["when"] == "never" and not given_up["ready"]
    assert when("finished", {"normal": 3}) is None
    assert when("running", {"error": 1}) is None


async def test_a_budget_is_the_jobs_across_its_runs(make_client: Any, web_sim: Any, tmp_path: Path) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 8)
    assert (await upload(client, listed, max_billable="0")).status == 400  # nothing: not a budget
    job = await (await upload(client, listed, max_billable="2")).json()
    assert (await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)).status == 202
    first = await wait_state(client, job["id"], ("finished", "stopped"))
    assert first["budget_left"] == 0 and first["retry"]["when"] == "budget" and not first["can_start"]
    again = await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)
    assert again.status == 409 and (await again.json())["code"] == "budget_spent"
    raised = await client.patch(f"/api/jobs/{job['id']}", json={"max_billable": "5"}, headers=AUTH)
    raised_doc = await raised.json()
    assert raised_doc["budget_left"] == 3 and raised_doc["can_start"] and raised_doc["retry"]["when"] == "now"
    assert (await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)).status == 202
    second = await wait_state(client, job["id"], ("finished", "stopped"))
    assert second["summary"]["job_billable"] <= 5 and web_sim.ledger()["billed"] <= 5


async def test_another_column_only_of_a_list_that_has_run(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    job = await (await upload(client, numbers_csv(tmp_path / "list.csv", 2), name="x" * 120)).json()
    refused = await client.post(f"/api/jobs/{job['id']}/another", headers=AUTH)
    assert refused.status == 409 and (await refused.json())["code"] == "not_run"
    await client.post(f"/api/jobs/{job['id']}/start", headers=AUTH)
    await wait_state(client, job["id"], ("finished",))
    made = await client.post(f"/api/jobs/{job['id']}/another", headers=AUTH)
    doc = await made.json()
    assert made.status == 201 and doc["needs_column"] and len(doc["title"]) <= 120
    assert doc["plan"]["checked_column"]["letter"] == "C" and not doc["can_start"]
