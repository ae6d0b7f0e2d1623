"""The upload server's JSON API against aiohttp's test server and a real simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest

from batchverify.models import Status
from batchverify.simulator import SimulatorServer
from batchverify.web.pages import AUTH as AUTH_KEY
from tests.support.web import AUTH, TOKEN, make_client, numbers_csv, upload, wait_done, wait_state, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below

pytestmark = pytest.mark.timeout(180)


def _workbook(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [header, *rows]:
        sheet.append(row)
    book.save(path)
    return path


async def test_every_api_call_needs_the_token(make_client: Any) -> None:
    client = await make_client()
    for method, path in [
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs"),
        ("GET", "/api/jobs/0123456789abcdef"),
        ("POST", "/api/jobs/0123456789abcdef/start"),
        ("GET", "/api/jobs/0123456789abcdef/events"),
        ("GET", "/api/jobs/0123456789abcdef/result"),
        ("DELETE", "/api/jobs/0123456789abcdef"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic x"}):
            response = await client.request(method, path, headers=headers)
            assert response.status == 401, (method, path, headers)
            doc = await response.json()  # a problem document (RFC 9457) that keeps "error"
            assert response.content_type == "application/problem+json"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert set(doc) == {"type", "title", "status", "detail", "error"} and doc["status"] == 401
            client.server.app[AUTH_KEY].brake.succeeded("127.0.0.1")  # guesses are braked (tested below)
    page = await client.get("/", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"
    login = await client.get("/login")
    assert login.status == 200 and 'name="token"' in await login.text()


def _code(client: Any) -> str:
    """A one-time login code, as the server prints in its link."""
    return str(client.server.app[AUTH_KEY].codes.new())


async def test_the_login_link_sets_a_strict_session_cookie_once(make_client: Any) -> None:
    client = await make_client()
    wrong = await client.get("/login?code=nope", allow_redirects=False)
    assert wrong.status == 401 and "batchverify_session" not in wrong.cookies
    # The token is never taken from an address (histories, proxies and logs keep addresses).
    assert (await client.get(f"/login?token={TOKEN}", allow_redirects=False)).status == 400
    code = _code(client)
    response = await client.get(f"/login?code={code}", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "test-token" not in cookie
    page = await client.get("/")  # the client keeps the cookie
    assert page.status == 200 and "/static/app.js" in await page.text()
    assert "Set-Cookie" not in page.headers  # set at login only
    assert (await client.get("/api/jobs")).status == 200
    client.session.cookie_jar.clear()
    assert (await client.get(f"/login?code={code}", allow_redirects=False)).status == 401  # once only


async def test_the_login_form_takes_the_token(make_client: Any) -> None:
    client = await make_client()
    bad = await client.post("/login", data={"token": "not it"}, allow_redirects=False)
    assert bad.status == 401
    good = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert good.status == 303
    assert (await client.get("/api/jobs")).status == 200


async def test_cookie_sessions_refuse_cross_site_changes(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    await client.get(f"/login?code={_code(client)}")
    listed = numbers_csv(tmp_path / "list.csv", 3)
    own = f"http://{client.server.host}:{client.server.port}"
    for origin in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {},
        {"Referer": "http://evil.example/x"},
    ):
        response = await upload(client, listed, headers=origin)
        assert response.status == 403, origin
        assert "error" in await response.json()
    assert (await (await client.get("/api/jobs")).json())["jobs"] == []
    accepted = await upload(client, listed, headers={"Origin": own})
    assert accepted.status == 201
    # A script with the token sends no Origin: accepted; with a foreign Origin: refused.
    assert (await upload(client, listed)).status == 201
    assert (await upload(client, listed, headers={**AUTH, "Origin": "http://evil.example"})).status == 403


async def test_an_upload_is_planned_and_nothing_is_sent(
    make_client: Any, web_sim: SimulatorServer, tmp_path: Path
) -> None:
    client = await make_client()
    listed = numbers_csv(
        tmp_path / "客户名单.csv",
        10,
        extra="10,dup,13512340003\n11,bad,12345\n12,none,\n13,plus,+86 135 1234 0004\n",
    )
    response = await upload(client, listed)
    assert response.status == 201
    doc = await response.json()
    assert response.headers["Location"] == f"/api/jobs/{doc['id']}"
    assert doc["state"] == "planned" and doc["name"] == "客户名单.csv"
    plan = doc["plan"]
    assert {
        k: plan[k] for k in ("rows", "distinct", "invalid", "empty", "duplicates", "reused", "to_send")
    } == {
        "rows": 14,
        "distinct": 10,
        "invalid": 1,
        "empty": 1,
        "duplicates": 2,
        "reused": 0,
        "to_send": 10,
    }
    assert plan["max_billable"] >= 10
    assert plan["column"]["letter"] == "C" and plan["column"]["name"] == "mobile"
    assert [c["name"] for c in plan["candidates"]] == ["id", "name", "mobile"]
    assert plan["candidates"][2]["valid"] == plan["candidates"][2]["filled"] - 1  # the bad one
    assert len(plan["preview"]) == 5 and plan["preview"][0]["cells"] == ["0", "name 0", "13512340000"]
    assert web_sim.ledger()["requests"] == 0


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("list.xlsx", b"id,mobile\n1,13800138000\n", "has an Excel extension but contains text"),
        ("list.csv", b"", "the file is empty"),
        ("list.csv", b"\x00\x01\x02binary\x00" * 50, "list.csv"),
        ("list.xlsx", b"PK\x03\x04 not really a zip", "list.xlsx"),
    ],
)
async def test_a_file_that_cannot_be_read_is_one_line_400(
    make_client: Any, tmp_path: Path, name: str, body: bytes, expected: str
) -> None:
    client = await make_client()
    path = tmp_path / "in"
    path.write_bytes(body)
    response = await upload(client, path, filename=name)
    assert response.status == 400
    error = (await response.json())["error"]
    assert expected in error and "\n" not in error
    assert str(tmp_path) not in error and "upload" not in error  # no server path, no stored name
    assert list((tmp_path / "data" / "jobs").iterdir()) == []  # nothing kept


async def test_a_request_without_a_file_is_400(make_client: Any) -> None:
    client = await make_client()
    form = aiohttp.FormData()
    form.add_field("column", "C")
    response = await client.post("/api/jobs", data=form, headers=AUTH)
    assert response.status == 400 and "file" in (await response.json())["error"]
    plain = await client.post("/api/jobs", data=b"id,mobile\n", headers={**AUTH, "Content-Type": "text/csv"})
    assert plain.status == 400


async def test_the_size_cap_is_enforced_while_reading(make_client: Any, tmp_path: Path) -> None:
    client = await make_client(max_upload=200_000)
    chunks_sent = 0

    async def body() -> Any:
        nonlocal chunks_sent
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        yield b"id,mobile\n"
        for _ in range(200):  # 13 MB announced by nothing: no Content-Length
            chunks_sent += 1
            yield b"1,13800138000\n" * 5000
        yield b"\r\n--B--\r\n"

    headers = {**AUTH, "Content-Type": "multipart/form-data; boundary=B"}
    try:
        response = await client.post("/api/jobs", data=body(), headers=headers)
        assert response.status == 413
        assert "limit" in (await response.json())["error"]
    except aiohttp.ClientError:
        pass  # the server may close the connection while the client still sends: refused either way
    assert chunks_sent < 200  # the server answered before the whole body was sent
    await asyncio.sleep(0.2)
    assert list((tmp_path / "data" / "jobs").iterdir()) == []  # the partial file is gone
    listed = numbers_csv(tmp_path / "big.csv", 20000)  # ~ 400 KB with a Content-Length
    response = await upload(client, listed)
    assert response.status == 413
    small = numbers_csv(tmp_path / "small.csv", 100)
    assert (await upload(client, small)).status == 201


async def test_a_client_filename_never_forms_a_path(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 3)
    for name in (
        "../../../etc/passwd.csv",
        "..\\..\\x.csv",
        "/abs/olute.csv",
        "%2e%2e%2fx.csv",
        "..",
        "%E5%AE%A2/../../y.csv",
    ):
        response = await upload(client, listed, filename=name)
        assert response.status == 201, name
        doc = await response.json()
        assert "/" not in doc["name"] and "\\" not in doc["name"] and "\n" not in doc["name"]
        folder = tmp_path / "data" / "jobs" / doc["id"]
        assert sorted(p.name for p in folder.iterdir()) == ["job.json", "upload.csv"]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "data" / "x.csv").exists()


async def test_the_column_can_be_chosen_at_upload_and_changed_before_start(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    path = tmp_path / "two.csv"
    path.write_text(
        "name,mobile,backup\n" + "".join(f"n{i},1351234{i:04d},1361234{i:04d}\n" for i in range(8)),
        encoding="utf-8",
    )
    doc = await (await upload(client, path, column="C")).json()
    assert doc["plan"]["column"]["letter"] == "C"
    job = doc["id"]
    moved = await client.post(f"/api/jobs/{job}/plan", json={"column": "2"}, headers=AUTH)
    assert moved.status == 200 and (await moved.json())["plan"]["column"]["name"] == "mobile"
    bad = await client.post(f"/api/jobs/{job}/plan", json={"column": "nope"}, headers=AUTH)
    assert bad.status == 400 and "nope" in (await bad.json())["error"]
    kept = await (await client.get(f"/api/jobs/{job}", headers=AUTH)).json()
    assert kept["plan"]["column"]["name"] == "mobile"  # a failed change leaves the plan as it was
    bad_row = await client.post(f"/api/jobs/{job}/plan", json={"header_row": "-1"}, headers=AUTH)
    assert bad_row.status == 400
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    late = await client.post(f"/api/jobs/{job}/plan", json={"column": "3"}, headers=AUTH)
    assert late.status == 409


async def test_a_job_runs_to_the_end_and_its_results_download(
    make_client: Any, web_sim: SimulatorServer, tmp_path: Path
) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "客户 名单.csv", 30, extra="30,bad,12345\n")
    doc = await (await upload(client, listed, headers={**AUTH, "Accept-Language": "zh-CN,zh;q=0.9"})).json()
    job = doc["id"]
    assert (await client.get(f"/api/jobs/{job}/result", headers=AUTH)).status == 404  # not started
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    finished = await wait_state(client, job, ("finished", "failed", "stopped"))
    assert finished["state"] == "finished" and finished["error"] is None
    assert finished["total"] == 30 and finished["done"] == 30
    assert sum(finished["counts"].values()) == 30
    assert finished["summary"]["outcome"] == "complete" and "input" not in finished["summary"]
    ledger = web_sim.ledger()
    assert ledger["requests"] == 30 and ledger["rate_limited"] == 0
    assert finished["summary"]["billable_calls"] == ledger["billed"]

    result = await client.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert result.status == 200
    disposition = result.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E5%AE%A2%E6%88%B7%20%E5%90%8D%E5%8D%95.verified.csv" in disposition
    text = (await result.read()).decode("utf-8-sig")
    lines = text.splitlines()
    assert len(lines) == 32 and "号码状态" in lines[0]  # the uploader's language
    problems = await client.get(f"/api/jobs/{job}/result?rows=problems", headers=AUTH)
    assert problems.status == 200 and ".problems.csv" in problems.headers["Content-Disposition"]
    problem_lines = (await problems.read()).decode("utf-8-sig").splitlines()
    assert 2 <= len(problem_lines) < len(lines) and any("12345" in line for line in problem_lines)
    assert (await client.get(f"/api/jobs/{job}/result?rows=other", headers=AUTH)).status == 400
    again = await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    assert again.status == 409 and "finished" in (await again.json())["error"]
    assert web_sim.ledger()["requests"] == 30


async def test_an_xlsx_upload_gets_an_xlsx_result(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    path = _workbook(
        tmp_path / "list.xlsx", ["客户", "手机号码"], [[f"c{i}", f"1351234{i:04d}"] for i in range(6)]
    )
    job = (await (await upload(client, path)).json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_state(client, job, ("finished",))
    result = await client.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert result.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    out = openpyxl.load_workbook(io.BytesIO(await result.read()), read_only=True)
    rows = list(out.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:3] == ("客户", "手机号码", "mobile_normalized") and len(rows) == 7
    assert all(Status(str(row[3])).is_final for row in rows[1:])


async def test_stop_then_resume_pays_for_nothing_twice(
    make_client: Any, web_sim: SimulatorServer, tmp_path: Path
) -> None:
    client = await make_client(rate=8.0)
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 60))).json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_done(client, job, 5)
    running = await (await client.get(f"/api/jobs/{job}", headers=AUTH)).json()
    assert running["state"] == "running" and running["downloads"]["result"] is None
    assert (await client.get(f"/api/jobs/{job}/result", headers=AUTH)).status == 409
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 409
    stopping = await client.post(f"/api/jobs/{job}/stop", headers=AUTH)
    assert stopping.status == 202 and (await stopping.json())["stopping"] is True
    stopped = await wait_state(client, job, ("stopped",))
    assert 5 <= stopped["done"] < 60 and stopped["can_start"] and stopped["stopping"] is False
    assert (await client.post(f"/api/jobs/{job}/stop", headers=AUTH)).status == 409
    partial = await client.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert partial.status == 200  # what is answered so far
    assert "not checked yet" in (await partial.read()).decode("utf-8")
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    finished = await wait_state(client, job, ("finished",))
    assert finished["done"] == 60 and finished["runs"] == 2
    ledger = web_sim.ledger()
    assert ledger["requests"] == 60 and max(ledger["calls_by_number"].values()) == 1


async def test_the_event_stream_follows_the_job(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 25))).json())["id"]
    seen: list[dict[str, Any]] = []  # the job as the page sees it after each event
    deltas: list[dict[str, Any]] = []
    async with client.get(f"/api/jobs/{job}/events", headers=AUTH) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        await client.post(f"/api/jobs/{job}/start", headers=AUTH)
        while not seen or seen[-1]["state"] != "finished":
            line = (await asyncio.wait_for(stream.content.readline(), 30)).decode()
            if line.startswith("data: "):
                delta = json.loads(line[6:])
                deltas.append(delta)
                seen.append({**(seen[-1] if seen else {}), **delta})  # merged, as the page does
    assert seen[0]["state"] == "planned" and "plan" in deltas[0]
    assert any(e["state"] == "running" and 0 < e["done"] < 25 for e in seen)  # live progress
    dones = [e["done"] for e in seen]
    assert dones == sorted(dones) and seen[-1]["done"] == 25
    # After the first, an event carries what changed: never the unchanged plan again.
    assert all("plan" not in d and set(d) - {"id"} for d in deltas[1:])


async def test_event_streams_are_bounded(make_client: Any, tmp_path: Path) -> None:
    from batchverify.web.routes import MAX_LISTENERS_PER_JOB

    client = await make_client()
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    streams = [
        await client.get(f"/api/jobs/{job}/events", headers=AUTH) for _ in range(MAX_LISTENERS_PER_JOB)
    ]
    await asyncio.sleep(0.2)
    one_more = await client.get(f"/api/jobs/{job}/events", headers=AUTH)
    assert one_more.status == 429 and (await one_more.json())["code"] == "too_many_streams"
    for stream in streams:
        stream.close()
    await asyncio.sleep(0.5)
    again = await client.get(f"/api/jobs/{job}/events", headers=AUTH)
    assert again.status == 200
    again.close()


async def test_delete_removes_every_file_and_unknown_ids_are_404(make_client: Any, tmp_path: Path) -> None:
    client = await make_client(rate=5.0)
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 40))).json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_done(client, job, 2)
    response = await client.delete(f"/api/jobs/{job}", headers=AUTH)  # while it runs
    assert response.status == 204
    assert not (tmp_path / "data" / "jobs" / job).exists()
    assert (await client.get(f"/api/jobs/{job}", headers=AUTH)).status == 404
    assert (await (await client.get("/api/jobs", headers=AUTH)).json())["jobs"] == []
    for bad in ("0123456789abcdef", "..%2F..%2Fetc", "ZZZ", "0123456789ABCDEF"):
        assert (await client.get(f"/api/jobs/{bad}", headers=AUTH)).status == 404, bad
        assert (await client.delete(f"/api/jobs/{bad}", headers=AUTH)).status == 404, bad


async def test_two_jobs_at_once_share_the_accounts_rate(
    make_client: Any, web_sim: SimulatorServer, tmp_path: Path
) -> None:
    client = await make_client()
    ids = []
    for n in range(2):
        listed = numbers_csv(tmp_path / f"l{n}.csv", 50, start=13512340000 + 1000 * n)
        ids.append((await (await upload(client, listed)).json())["id"])
    for job in ids:
        assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    for job in ids:
        assert (await wait_state(client, job, ("finished",)))["done"] == 50
    ledger = web_sim.ledger()
    assert ledger["requests"] == 100 and ledger["rate_limited"] == 0
    assert ledger["max_in_any_second"] <= 20


async def test_old_jobs_are_removed_after_keep(make_client: Any, tmp_path: Path) -> None:
    import datetime

    from batchverify.web.routes import MANAGER

    client = await make_client(keep=datetime.timedelta(days=2))
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    manager = client.server.app[MANAGER]
    now = datetime.datetime.now(datetime.UTC)
    assert await manager.sweep(now + datetime.timedelta(days=1)) == []
    assert await manager.sweep(now + datetime.timedelta(days=3)) == [job]
    assert not (tmp_path / "data" / "jobs" / job).exists()


async def test_responses_carry_security_headers(make_client: Any) -> None:
    client = await make_client()
    for response in (await client.get("/login"), await client.get("/api/jobs", headers=AUTH)):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_queued_job_stops_without_waiting_for_its_turn(
    make_client: Any, web_sim: SimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("batchverify.web.manager.MAX_RUNNING", 1)
    client = await make_client(rate=5.0)
    first = (await (await upload(client, numbers_csv(tmp_path / "a.csv", 30))).json())["id"]
    second = (await (await upload(client, numbers_csv(tmp_path / "b.csv", 30, start=13612340000))).json())[
        "id"
    ]
    await client.post(f"/api/jobs/{first}/start", headers=AUTH)
    await wait_state(client, first, ("running",))
    assert (await client.post(f"/api/jobs/{second}/start", headers=AUTH)).status == 202
    queued = await (await client.get(f"/api/jobs/{second}", headers=AUTH)).json()
    assert queued["state"] == "queued"
    assert (await client.post(f"/api/jobs/{second}/stop", headers=AUTH)).status == 202
    stopped = await wait_state(client, second, ("stopped",), timeout=5)
    assert stopped["done"] == 0 and stopped["can_start"]
    assert (await (await client.get(f"/api/jobs/{first}", headers=AUTH)).json())["state"] == "running"
    assert not any(n.startswith("1361234") for n in web_sim.ledger()["calls_by_number"])
    await client.post(f"/api/jobs/{first}/stop", headers=AUTH)
    await wait_state(client, first, ("stopped",))


def test_a_run_that_closed_its_job_is_finished_whatever_stopped_it() -> None:
    from batchverify.engine.summary import Summary
    from batchverify.web.jobs import state_after

    def ended(outcome: str, stop: str | None = None, closed: bool = False) -> str:
        return state_after(Summary("in", "out", "cp", outcome=outcome, stop_reason=stop, job_closed=closed))

    # A Stop that lands while the output is written, after every number got its answer: starting
    # again would open a new job and pay for the whole list again, so it is finished.
    assert ended("interrupted", "interrupted", closed=True) == "finished"
    assert ended("interrupted", "interrupted") == "stopped"
    assert ended("complete") == "finished"
    assert ended("incomplete") == "finished"  # busy numbers left: resumable later
    assert ended("incomplete", "daily_limit") == "finished"
    assert ended("incomplete", "network") == "stopped"
    assert ended("fatal", "fatal") == "failed"


async def test_behind_a_proxy_the_forwarded_host_and_scheme_count(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    proxy = {"X-Forwarded-Host": "verify.example.com", "X-Forwarded-Proto": "https"}
    login = await client.get(f"/login?code={_code(client)}", headers=proxy, allow_redirects=False)
    assert "Secure" in login.headers["Set-Cookie"]
    listed = numbers_csv(tmp_path / "l.csv", 3)
    # (the Secure cookie stays in the test client, which speaks plain HTTP: the token carries these)
    ok = await upload(client, listed, headers={**AUTH, **proxy, "Origin": "https://verify.example.com"})
    assert ok.status == 201
    other = await upload(client, listed, headers={**AUTH, **proxy, "Origin": "https://evil.example.com"})
    assert other.status == 403


async def test_logging_out_ends_the_session_on_the_server(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    await client.post("/login", data={"token": TOKEN})
    assert (await client.get("/api/jobs")).status == 200
    copied = {c.key: c.value for c in client.session.cookie_jar}["batchverify_session"]
    own = f"http://{client.server.host}:{client.server.port}"
    out = await client.post("/logout", headers={"Origin": own}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert (await client.get("/api/jobs")).status == 401
    # A copy of the cookie (another browser, a stolen one) is worth nothing after logout.
    stolen = await client.get("/api/jobs", headers={"Cookie": f"batchverify_session={copied}"})
    assert stolen.status == 401
    # Sessions are kept with the jobs, hashed: a restart keeps them, and the file holds no id.
    await client.post("/login", data={"token": TOKEN})
    kept = {c.key: c.value for c in client.session.cookie_jar}["batchverify_session"]
    stored = (tmp_path / "data" / "sessions.json").read_text()
    assert kept not in stored and oct((tmp_path / "data" / "sessions.json").stat().st_mode & 0o777) == "0o600"
    await client.close()
    again = await make_client()
    assert (await again.get("/api/jobs", headers={"Cookie": f"batchverify_session={kept}"})).status == 200


async def test_repeated_failed_logins_are_slowed_down_and_logged(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()
    statuses = [
        (await client.post("/login", data={"token": f"guess-{i}"}, allow_redirects=False)).status
        for i in range(7)
    ]
    assert statuses[:5] == [401] * 5 and statuses[6] == 429
    held = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
    assert held.status == 429 and int(held.headers["Retry-After"]) > 0  # even the right one waits
    api = await client.get("/api/jobs", headers={"Authorization": "Bearer guess"})
    assert api.status == 429
    assert sum("failed login from" in r.getMessage() for r in caplog.records) >= 5
    assert not any(f"guess-{i}" in r.getMessage() for r in caplog.records for i in range(7))


async def test_start_waits_for_no_column_change_in_progress(make_client: Any, tmp_path: Path) -> None:
    from batchverify.web.routes import MANAGER

    client = await make_client()
    job_id = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    job = client.server.app[MANAGER].jobs[job_id]
    async with job.plan_lock:  # a column change is being planned
        response = await client.post(f"/api/jobs/{job_id}/start", headers=AUTH)
        assert response.status == 409 and "plan" in (await response.json())["error"]
    assert (await client.post(f"/api/jobs/{job_id}/start", headers=AUTH)).status == 202


async def test_a_phone_column_far_to_the_right_is_shown_and_offered(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    header = [f"c{i}" for i in range(60)] + ["mobile"]
    rows = [[str(i)] * 60 + [str(13512340000 + i)] for i in range(6)]
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    plan = (await (await upload(client, path)).json())["plan"]
    assert plan["column"]["column"] == "61" and plan["column"]["letter"] == "BI"
    assert plan["candidates"][60]["name"] == "mobile" and plan["candidates"][60]["valid"] == 6
    assert plan["preview"][0]["cells"][60] == "13512340000"


async def test_a_folder_without_a_record_is_removed_unless_it_holds_answers(
    make_client: Any, tmp_path: Path
) -> None:
    import os

    from batchverify.web.routes import MANAGER

    client = await make_client()
    jobs = tmp_path / "data" / "jobs"
    cut_off = jobs / "0123456789abcdef"  # an upload cut off by a crash
    cut_off.mkdir()
    (cut_off / "upload.part").write_bytes(b"x")
    paid = jobs / "fedcba9876543210"  # answers paid for, whose record was lost
    paid.mkdir()
    (paid / "result.csv.checkpoint.sqlite").write_bytes(b"")
    for folder in (cut_off, paid):
        os.utime(folder, (1, 1))
    await client.server.app[MANAGER].sweep()
    assert not cut_off.exists() and paid.exists()


async def test_an_xlsm_upload_plans_and_runs(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    rows = [[f"n{i}", f"1351234{i:04d}"] for i in range(4)] + [["bad", "12345"]]
    path = _workbook(tmp_path / "macro.xlsm", ["name", "mobile"], rows)
    response = await upload(client, path)
    assert response.status == 201, await response.text()
    job = (await response.json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_state(client, job, ("finished",))
    result = await client.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert "macro.verified.xlsm" in result.headers["Content-Disposition"]
    problems = await client.get(f"/api/jobs/{job}/result?rows=problems", headers=AUTH)
    assert problems.status == 200 and "macro.problems.csv" in problems.headers["Content-Disposition"]
    assert "12345" in (await problems.read()).decode("utf-8-sig")


async def test_errors_stay_one_short_json_line(make_client: Any, tmp_path: Path) -> None:
    client = await make_client(max_upload=5 * 1024 * 1024)
    huge = tmp_path / "one-cell.csv"
    huge.write_text("x" * 3_000_000, encoding="utf-8")
    response = await upload(client, huge)
    assert response.status == 201 and len(await response.read()) < 20_000  # a job that asks
    question = (await response.json())["plan"]["needs_column"]
    assert len(question["error"]) <= 400 and question["error"].startswith("no phone column found")
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 3))).json())["id"]
    for value in ("²", "-1", "x", "9" * 12):
        bad = await client.post(f"/api/jobs/{job}/plan", json={"header_row": value}, headers=AUTH)
        assert bad.status == 400, value
    long_column = await client.post(f"/api/jobs/{job}/plan", json={"column": "c" * 900_000}, headers=AUTH)
    assert long_column.status == 400 and len((await long_column.json())["error"]) <= 400
    for method, path in [
        ("PUT", f"/api/jobs/{job}"),
        ("GET", f"/api/jobs/{job}/start"),
        ("GET", "/api/nothing"),
    ]:
        response = await client.request(method, path, headers=AUTH)
        assert response.status in (404, 405), (method, path)
        doc = await response.json()
        assert set(doc) == {"type", "title", "status", "detail", "error"}, (method, path)
    too_big = await client.post(
        f"/api/jobs/{job}/plan",
        data=io.BytesIO(b"{" + b" " * 2_000_000 + b"}"),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert too_big.status == 413 and "error" in await too_big.json()


def test_upload_names_are_shown_as_the_person_named_them() -> None:
    from batchverify.web.records import clean_name

    assert clean_name("客户 名单%22终版%22.xlsx") == '客户 名单"终版".xlsx'  # Chrome escapes " as %22
    assert clean_name("a%0Ab%0D%0Ac.csv") == "abc.csv"
    assert clean_name("%E5%AE%A2%E6%88%B7.csv") == "客户.csv"  # RFC 5987 from a script
    assert clean_name("\u202egnp.csv") == "gnp.csv"  # no right-to-left override: it reads as it is
    assert clean_name("../../etc/passwd") == "passwd" and clean_name("..") == "upload"


async def test_a_chinese_browser_gets_the_common_errors_in_chinese(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    zh = {**AUTH, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    empty = tmp_path / "空.csv"
    empty.write_bytes(b"")
    doc = await (await upload(client, empty, headers=zh)).json()
    assert {k: doc[k] for k in ("error", "code", "message")} == {
        "error": "the file is empty",
        "code": "empty_file",
        "message": "文件是空的",
    }
    assert doc["detail"] == "文件是空的" and doc["title"] == "Bad Request" and doc["type"] == "about:blank"
    names = tmp_path / "names.csv"
    names.write_text("姓名,城市\n张三,北京\n", encoding="utf-8")
    asked = await upload(client, names, headers=zh)
    doc = await asked.json()  # not refused: a job that asks which column holds the numbers
    assert asked.status == 201 and doc["needs_column"] and not doc["can_start"]
    question = doc["plan"]["needs_column"]
    assert question["error"].startswith("no phone column found") and question["code"] == "no_phone_column"
    assert question["message"].startswith("没有找到手机号码列") and "A=姓名" in question["message"]
    assert "names.csv" in question["message"] or doc["name"] == "names.csv"
    english = await (await upload(client, empty)).json()
    assert english["message"] == english["error"] == "the file is empty"


async def test_the_same_file_uploaded_again_is_pointed_out(make_client: Any, tmp_path: Path) -> None:
    client = await make_client()
    listed = numbers_csv(tmp_path / "list.csv", 5)
    first = await (await upload(client, listed)).json()
    assert first["same_file"] is None
    again = await (await upload(client, listed, filename="renamed.csv")).json()
    assert again["same_file"]["id"] == first["id"] and again["same_file"]["name"] == "list.csv"
    other = await (await upload(client, numbers_csv(tmp_path / "other.csv", 6))).json()
    assert other["same_file"] is None
    listing = (await (await client.get("/api/jobs", headers=AUTH)).json())["jobs"]
    assert all("plan" not in job for job in listing)
    assert [job["id"] for job in listing] == [other["id"], again["id"], first["id"]]
    # Another column of the same list is a choice, not a repeat: not pointed out
    second = await (await upload(client, listed, column="1")).json()
    assert second["same_file"] is None


async def test_no_error_names_a_server_path(make_client: Any, tmp_path: Path) -> None:
    """Errors without values of their own (an encoding problem, a damaged workbook) still name the
    upload as the uploader called it, never the job's folder on the server."""
    client = await make_client()
    broken = tmp_path / "名单.csv"
    broken.write_bytes(b"\xef\xbb\xbfname,phone\n\xff\xfe,13800138000\n")
    response = await upload(client, broken)
    doc = await response.json()
    assert response.status == 400, doc
    assert str(tmp_path) not in json.dumps(doc, ensure_ascii=False) and "upload.csv" not in doc["error"]
    assert "名单.csv" in doc["error"]
    workbook = tmp_path / "book.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    response = await upload(client, workbook)
    doc = await response.json()
    assert response.status == 400 and str(tmp_path) not in json.dumps(doc, ensure_ascii=False), doc
