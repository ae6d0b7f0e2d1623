"""The nightly job as a monitor reads it, through the real command line against a simulator: an exit
code per ending (the same in the summary JSON and the metrics file), the changes file on every
night, a signed notification, and the metrics in the Prometheus text format."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from batchverify.errors import EXIT_BUDGET, EXIT_OK, EXIT_QUOTA, EXIT_UNREACHABLE, EXIT_USAGE
from batchverify.simulator import SimConfig, SimulatorServer
from tests.support.cli import cli_env, run_cli
from tests.support.receiver import Receiver
from tests.support.tables import read_dicts, spread_numbers, write_list

pytestmark = pytest.mark.timeout(240)

SECRET = "notify-secret-0123456789abcdef"


@pytest.fixture
def sim() -> Any:
    with SimulatorServer(SimConfig(seed=11, latency_ms=(1, 5))) as server:
        yield server


def _samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics file, parsed with prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels`` (and ``list="in.csv"``)."""
    wanted = {"list": "in.csv", **labels}.items()
    found = [v for (n, have), v in samples.items() if n == name and wanted <= dict(have).items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_each_ending_has_its_own_exit_code_in_the_process_the_summary_and_the_metrics(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(sim, tmp_path / "home")
    cases: list[tuple[str, int, str | None, list[str], dict[str, str]]] = [
        ("complete", EXIT_OK, None, [], {}),
        ("budget", EXIT_BUDGET, "budget", ["--max-billable", "5"], {}),
        (
            "unreachable",
            EXIT_UNREACHABLE,
            "network",
            [],
            {"BATCHVERIFY_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"},
        ),
    ]
    with SimulatorServer(SimConfig(seed=12, daily_quota=3)) as quota:
        env_quota = {"BATCHVERIFY_ENDPOINT": quota.url}
        cases.append(("quota", EXIT_QUOTA, "daily_limit", [], env_quota))
        for name, code, reason, args, extra in cases:
            folder = tmp_path / name
            folder.mkdir()
            src = write_list(folder / "in.csv", spread_numbers(40))
            summary, metrics = folder / "summary.json", folder / "batchverify.prom"
            result = run_cli(
                "run", src, "--yes", "--summary-json", summary, "--metrics-file", metrics, *args,
                env={**env, **extra},
            )  # fmt: skip
            assert result.returncode == code, (name, result.stdout, result.stderr)
            doc = json.loads(summary.read_text())
            assert doc["exit_code"] == code and doc["stop_reason"] == reason, (name, doc)
            assert f"exit {code}" in result.stdout.splitlines()[-1]
            samples = _samples(metrics)
            assert _value(samples, "batchverify_run_exit_code") == code
            if name == "budget":  # a stop the user asked for is not an error; its reason is said
                assert doc["error"] is None and "budget" in doc["stop_message"]
                assert doc["outcome"] == "incomplete" and doc["not_final"] == 35
            elif reason is not None:
                assert doc["error"] == doc["stop_message"] and doc["error"]


def test_a_night_stopped_by_its_budget_writes_its_changes_with_the_summarys_count(tmp_path: Path) -> None:
    with SimulatorServer(SimConfig()) as server:
        env = cli_env(server, tmp_path / "home")
    env.pop("BATCHVERIFY_ENDPOINT")  # the built-in simulator (--simulator), which rehearses nights
    src = write_list(tmp_path / "in.csv", spread_numbers(200))
    changes, summary = tmp_path / "changes.csv", tmp_path / "summary.json"
    first = run_cli(
        "run", src, "--simulator", "--simulator-night", "1", "--yes", "--changes", changes, env=env
    )
    assert first.returncode == EXIT_OK, first.stderr
    assert read_dicts(changes, "utf-8-sig") == []  # the baseline: nothing to compare with
    night = run_cli(
        "run", src, "--simulator", "--simulator-night", "2", "--yes", "--changes", changes,
        "--summary-json", summary, "--max-billable", "120", "--language", "zh-CN", env=env,
    )  # fmt: skip
    assert night.returncode == EXIT_BUDGET, night.stdout
    doc = json.loads(summary.read_text())
    rows = read_dicts(changes, "utf-8-sig")
    assert doc["changed"] == len(rows) > 0 and doc["not_final"] == 80 and not doc["job_closed"]
    assert sum(doc["transitions"].values()) == len(rows)
    assert "80 rows still without a final answer" in night.stdout
    labels = {"normal": "正常", "cancelled": "销号", "out_of_service": "停机"}
    for row in rows:  # a Chinese night: its added headers in Chinese
        assert row["上次状态代码"] != row["状态代码"]
        assert row["上次状态"] == labels[row["上次状态代码"]]


def test_the_notification_is_signed_retried_and_never_changes_the_exit_code(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {**cli_env(sim, tmp_path / "home"), "BATCHVERIFY_NOTIFY_SECRET": SECRET}
    src = write_list(tmp_path / "in.csv", spread_numbers(10))
    with Receiver(answers=[503, 502, 200]) as receiver:
        result = run_cli("run", src, "--yes", "--notify", receiver.url, "--price", "0.5", env=env)
        got = receiver.wait_for(3)
    assert result.returncode == EXIT_OK, result.stderr
    assert len(got) == 3
    assert len({r.headers["X-Batchverify-Delivery"] for r in got}) == 1  # one notification, three tries
    assert got[2].at - got[0].at >= 1.0 + 4.0  # backed off
    for r in got:
        expected = "sha256=" + hmac.new(SECRET.encode(), r.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(r.headers["X-Batchverify-Signature"], expected)
        assert r.headers["X-Batchverify-Event"] == "run.finished"
    doc = got[-1].doc
    assert doc["exit_code"] == 0 and doc["outcome"] == "complete" and doc["event"] == "run.finished"
    assert doc["cost"] == 5.0 and doc["job_cost"] == 5.0 and doc["billable_calls"] == 10
    assert "transitions" in doc and "changed" in doc
    said = result.stdout + result.stderr
    assert "notification delivered" in said and "attempt 3" in said
    assert "secret-path" not in said and "hidden" not in said and SECRET not in said  # the URL's secret parts
    # A receiver that refuses: said once, not tried again, the run's exit code stands.
    with Receiver(answers=[403]) as refusing:
        again = run_cli("run", src, "--yes", "--restart", "--notify", refusing.url, env=env)
        assert refusing.wait_for(1) and len(refusing.received) == 1
    assert again.returncode == EXIT_OK and "not delivered (HTTP 403)" in again.stderr


def test_notify_without_a_secret_is_refused_before_anything_is_sent(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(sim, tmp_path / "home")
    env.pop("BATCHVERIFY_NOTIFY_SECRET", None)
    src = write_list(tmp_path / "in.csv", spread_numbers(3))
    for url, why in [
        ("http://127.0.0.1:9/x", "BATCHVERIFY_NOTIFY_SECRET"),
        ("ftp://example.com", "http"),
        ("http://[::1/hook", "malformed"),
        ("http://example.com:port/", "malformed"),
    ]:
        secret = "short" if "SECRET" in why else SECRET
        result = run_cli(
            "run", src, "--yes", "--notify", url, env={**env, "BATCHVERIFY_NOTIFY_SECRET": secret}
        )
        assert result.returncode == EXIT_USAGE and why in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sim.ledger()["requests"] == 0


def test_a_run_that_fails_before_sending_is_notified_and_its_metrics_keep_the_last_success(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = {**cli_env(sim, tmp_path / "home"), "BATCHVERIFY_NOTIFY_SECRET": SECRET}
    src = write_list(tmp_path / "in.csv", spread_numbers(5))
    metrics = tmp_path / "m.prom"
    ok = run_cli("run", src, "--yes", "--metrics-file", metrics, env=env)
    assert ok.returncode == EXIT_OK
    first = _samples(metrics)
    success = _value(first, "batchverify_last_success_timestamp_seconds")
    assert _value(first, "batchverify_rows", status="normal") >= 1
    assert oct(metrics.stat().st_mode & 0o777) == "0o644"  # the collector runs as another user
    with Receiver() as receiver:
        failed = run_cli(
            "run",
            src,
            "--yes",
            "--column",
            "nope",
            "--metrics-file",
            metrics,
            "--notify",
            receiver.url,
            env=env,
        )
        got = receiver.wait_for(1)
    assert failed.returncode == EXIT_USAGE
    after = _samples(metrics)
    assert _value(after, "batchverify_run_exit_code") == EXIT_USAGE
    assert _value(after, "batchverify_last_success_timestamp_seconds") == success
    assert (
        _value(after, "batchverify_run_info", outcome="error", stop_reason="", version=first_version(first))
        == 1
    )
    assert got and got[0].doc["event"] == "run.failed" and got[0].doc["exit_code"] == EXIT_USAGE
    assert not list(tmp_path.glob(".m.prom.*"))  # no temporary file left beside it


def first_version(samples: dict[Any, float]) -> str:
    for name, labels in samples:
        if name == "batchverify_run_info":
            return dict(labels)["version"]
    raise AssertionError("no batchverify_run_info")


def test_a_metrics_file_that_is_one_of_the_jobs_files_is_refused(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = cli_env(sim, tmp_path / "home")
    src = write_list(tmp_path / "in.csv", spread_numbers(3))
    for target in (src, tmp_path / "in.verified.csv", tmp_path / "missing" / "m.prom"):
        result = run_cli("run", src, "--yes", "--metrics-file", target, env=env)
        assert result.returncode == EXIT_USAGE and "--metrics-file" in result.stderr, result.stderr
    same = tmp_path / "both.json"
    result = run_cli("run", src, "--yes", "--metrics-file", same, "--summary-json", same, env=env)
    assert result.returncode == EXIT_USAGE and "one file" in result.stderr
    assert sim.ledger()["requests"] == 0 and src.read_text().startswith("name,phone")


def test_a_list_whose_name_is_not_utf8_is_reported_like_any_other(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """A GBK file name (客户.csv from a Chinese Windows share): the run, its metrics and its
    notification all go through, the name escaped where a label or JSON must be UTF-8."""
    env = {**cli_env(sim, tmp_path / "home"), "BATCHVERIFY_NOTIFY_SECRET": SECRET}
    src = Path(os.fsdecode(bytes(tmp_path) + b"/\xbf\xcd\xbb\xa7.csv"))
    write_list(src, spread_numbers(4))
    metrics = tmp_path / "m.prom"
    with Receiver() as receiver:
        result = run_cli("run", src, "--yes", "--metrics-file", metrics, "--notify", receiver.url, env=env)
        got = receiver.wait_for(1)
    assert result.returncode == EXIT_OK, result.stderr
    samples = _samples(metrics)
    names = {dict(labels).get("list") for name, labels in samples if name == "batchverify_run_exit_code"}
    assert names == {
        b"\xbf\xcd\xbb\xa7.csv".decode("utf-8", "backslashreplace")
    }  # what is not UTF-8, escaped
    assert got and got[0].doc["exit_code"] == 0
