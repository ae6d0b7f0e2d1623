"""``batchverify serve`` as a process: the token, the warnings, one server per data dir, and jobs
that survive a kill -9 or a clean stop, against a real simulator on 127.0.0.1."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env, run_cli
from tests.support.web import http, numbers_csv, start_server

pytestmark = pytest.mark.timeout(240)

TOKEN = "serve-test-token-0123456789abcdef0123456789"


@pytest.fixture
def sim20() -> Any:
    with SimulatorServer(SimConfig(seed=5, latency_ms=(20, 60))) as server:
        yield server


@pytest.fixture
def env(sim20: SimulatorServer, tmp_path: Path) -> dict[str, str]:
    return cli_env(sim20, tmp_path / "home")


def _wait(url: str, token: str, predicate: Any, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, doc = http("GET", url, token)
        assert status == 200, doc
        if predicate(doc):
            return doc  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, doc
        time.sleep(0.1)


def _upload(base: str, token: str, path: Path) -> str:
    with path.open("rb") as f:
        status, doc = http("POST", f"{base}/api/jobs", token, files={"file": (path.name, f)})
    assert status == 201, doc
    return str(doc["id"])


def test_a_generated_token_is_shown_once_and_never_logged(env: dict[str, str], tmp_path: Path) -> None:
    env.pop("BATCHVERIFY_TOKEN", None)
    served = start_server(env, tmp_path / "data").wait_ready()
    try:
        token = served.token
        assert len(token) >= 32 and "token=" not in served.login
        assert http("GET", f"{served.base}/api/jobs")[0] == 401
        assert http("GET", f"{served.base}/api/jobs", token)[0] == 200
        first = http(
            "GET", served.login, allow_redirects=False
        )  # the one-time link: logged without its query
        again = http("GET", served.login, allow_redirects=False)  # used: worth nothing now
        assert (first[0], again[0]) == (303, 401)
        assert http("GET", f"{served.base}/login?token={token}", allow_redirects=False)[0] == 400
        http("GET", f"{served.base}/api/jobs?token={token}")
    finally:
        assert served.stop() == 0
    log = served.text()
    assert log.count(token) == 1, log
    assert "GET /login 303" in log and "GET /api/jobs 401" in log
    code = served.login.split("code=")[1]
    assert log.count(code) == 1, log


def test_a_given_token_is_never_printed(env: dict[str, str], tmp_path: Path) -> None:
    env["BATCHVERIFY_TOKEN"] = TOKEN
    served = start_server(env, tmp_path / "data").wait_ready()
    try:
        assert served.token == "" and "code=" in served.login
        assert http("GET", f"{served.base}/api/jobs", TOKEN)[0] == 200
    finally:
        served.stop()
    assert TOKEN not in served.text()


def test_listening_beyond_this_machine_is_warned_about(env: dict[str, str], tmp_path: Path) -> None:
    env["BATCHVERIFY_TOKEN"] = TOKEN
    served = start_server(env, tmp_path / "data", "--host", "0.0.0.0").wait_ready()
    try:
        assert served.base.startswith("http://127.0.0.1:")
        assert http("GET", f"{served.base}/api/jobs", TOKEN)[0] == 200
    finally:
        served.stop()
    assert "WARNING listening on 0.0.0.0, not only on this machine" in served.text()


def test_one_server_per_data_dir_and_bad_options_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    env["BATCHVERIFY_TOKEN"] = TOKEN
    data = tmp_path / "data"
    first = start_server(env, data).wait_ready()
    try:
        second = run_cli("serve", "--port", "0", "--data-dir", data, env=env)
        assert second.returncode == 2
        assert "another batchverify serve uses the data dir" in second.stderr
        port = int(first.base.rsplit(":", 1)[1])
        taken = run_cli("serve", "--port", str(port), "--data-dir", tmp_path / "other", env=env)
        assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    finally:
        first.stop()
    for args, message in [
        (["--keep", "soon"], "bad duration 'soon'"),
        (
            ["--simulator", "--endpoint", "http://127.0.0.1:1"],
            "--simulator and --endpoint exclude each other",
        ),
        (["--rate", "0"], "--rate"),
        (["--language", "fr"], "--language must be zh-CN or en, not 'fr'"),
    ]:
        result = run_cli("serve", "--port", "0", "--data-dir", data, *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    short = run_cli("serve", "--port", "0", "--data-dir", data, env={**env, "BATCHVERIFY_TOKEN": "short"})
    assert short.returncode == 2 and "BATCHVERIFY_TOKEN is too short" in short.stderr
    blocked = tmp_path / "file"
    blocked.write_text("x")
    not_dir = run_cli("serve", "--port", "0", "--data-dir", blocked / "d", env=env)
    assert not_dir.returncode == 2 and "cannot create the data dir" in not_dir.stderr


def test_after_kill_9_running_jobs_resume_by_themselves(
    env: dict[str, str], sim20: SimulatorServer, tmp_path: Path
) -> None:
    env["BATCHVERIFY_TOKEN"] = TOKEN
    data = tmp_path / "data"
    served = start_server(env, data, "--rate", "10").wait_ready()
    listed = numbers_csv(tmp_path / "list.csv", 120)
    job = _upload(served.base, TOKEN, listed)
    planned_only = _upload(served.base, TOKEN, numbers_csv(tmp_path / "other.csv", 5, start=13612340000))
    assert http("POST", f"{served.base}/api/jobs/{job}/start", TOKEN)[0] == 202
    _wait(f"{served.base}/api/jobs/{job}", TOKEN, lambda d: d["done"] >= 20)
    served.proc.kill()  # kill -9: no clean stop, calls in flight are lost
    served.proc.wait(timeout=10)
    billed_before = sim20.ledger()["billed"]
    assert billed_before < 120

    again = start_server(env, data, "--rate", "10").wait_ready()
    try:
        listing = http("GET", f"{again.base}/api/jobs", TOKEN)[1]
        assert {j["id"] for j in listing["jobs"]} == {job, planned_only}
        done = _wait(f"{again.base}/api/jobs/{job}", TOKEN, lambda d: d["state"] == "finished")
        assert done["done"] == 120 and done["summary"]["outcome"] == "complete"
        other = http("GET", f"{again.base}/api/jobs/{planned_only}", TOKEN)[1]
        assert other["state"] == "planned"  # never started: still waits for its Start
    finally:
        again.stop()
    assert "resuming job" in again.text()
    ledger = sim20.ledger()
    repeats = sum(n - 1 for n in ledger["billed_by_number"].values() if n > 1)
    assert len(ledger["billed_by_number"]) <= 120 and repeats <= 20  # at most the calls in flight
    assert ledger["rate_limited"] == 0


def test_a_clean_stop_lets_running_jobs_resume_at_the_next_start(
    env: dict[str, str], sim20: SimulatorServer, tmp_path: Path
) -> None:
    env["BATCHVERIFY_TOKEN"] = TOKEN
    data = tmp_path / "data"
    served = start_server(env, data, "--rate", "10").wait_ready()
    job = _upload(served.base, TOKEN, numbers_csv(tmp_path / "list.csv", 80))
    http("POST", f"{served.base}/api/jobs/{job}/start", TOKEN)
    _wait(f"{served.base}/api/jobs/{job}", TOKEN, lambda d: d["done"] >= 10)
    started = time.monotonic()
    assert served.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 20
    again = start_server(env, data, "--rate", "10").wait_ready()
    try:
        done = _wait(f"{again.base}/api/jobs/{job}", TOKEN, lambda d: d["state"] == "finished")
        assert done["done"] == 80 and done["runs"] == 2
    finally:
        again.stop()
    ledger = sim20.ledger()
    assert ledger["requests"] == 80 and max(ledger["calls_by_number"].values()) == 1


def test_a_command_line_run_shares_the_servers_rate(
    env: dict[str, str], sim20: SimulatorServer, tmp_path: Path
) -> None:
    env["BATCHVERIFY_TOKEN"] = TOKEN
    served = start_server(env, tmp_path / "data").wait_ready()
    try:
        job = _upload(served.base, TOKEN, numbers_csv(tmp_path / "web.csv", 80))
        http("POST", f"{served.base}/api/jobs/{job}/start", TOKEN)
        cli_list = numbers_csv(tmp_path / "cli.csv", 80, start=13712340000)
        result = run_cli("run", cli_list, "--yes", "--progress", "off", env=env)
        assert result.returncode == 0, result.stderr
        assert "shared with 1 other batchverify process" in result.stderr
        _wait(f"{served.base}/api/jobs/{job}", TOKEN, lambda d: d["state"] == "finished")
    finally:
        served.stop()
    ledger = sim20.ledger()
    assert ledger["requests"] == 160 and ledger["rate_limited"] == 0 and ledger["max_in_any_second"] <= 20


def _raw_exchange(base: str, request: bytes) -> tuple[int, str, dict[str, Any]]:
    """Send ``request`` as it is over a socket of our own; the status, Content-Type and JSON body."""
    import json
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body or b"null")


def test_what_aiohttp_cannot_parse_is_a_json_4xx_and_one_log_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    served = start_server(env, tmp_path / "data").wait_ready()
    try:
        host = served.base.split("//", 1)[1]
        token = served.token
        assert len(token) >= 32
        cases = [
            # A token read from a file with CRLF line ends: the parser quotes the line it refuses.
            b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\r\r\n\r\n",
            b"GET /api/jobs HTTP/1.1\r\nHost: "
            + host.encode()
            + b"\r\nX-Long: "
            + b"a" * 20000
            + b"\r\n\r\n",
            b"NOT HTTP AT ALL\r\n\r\n",
            b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
            b"GET /api/jobs HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
        ]
        for request in cases:
            status, kind, doc = _raw_exchange(served.base, request)
            assert 400 <= status < 500 and kind.startswith("application/problem+json"), (
                request[:40],
                status,
                kind,
            )
            assert doc["code"] == "bad_request" and doc["error"].startswith("malformed request")
            assert "\n" not in doc["error"] and len(doc["error"]) < 300 and token not in doc["error"]
        assert http("GET", f"{served.base}/api/jobs", served.token)[0] == 200  # still serving
    finally:
        served.stop()
    log = served.text()
    assert log.count("malformed request from") == 1  # garbage in a loop is one line per 10 s
    assert "Traceback" not in log and "a" * 300 not in log
    assert log.count(token) == 1 and "later logins and the API use the token" in log  # shown once, at start


def test_sighup_is_harmless_and_the_probes_answer_without_the_token(
    env: dict[str, str], tmp_path: Path
) -> None:
    served = start_server(env, tmp_path / "data").wait_ready()
    try:
        served.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert served.proc.poll() is None  # still serving
        assert http("GET", f"{served.base}/healthz")[0] == 200
        assert http("GET", f"{served.base}/readyz")[0] == 200
    finally:
        code = served.stop(signal.SIGTERM)
    assert code == 0
    log = served.text()
    assert "SIGHUP: nothing to reload" in log and "/healthz" not in log and "/readyz" not in log
