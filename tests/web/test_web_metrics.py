"""``GET /metrics`` and ``serve --notify``: the server's jobs as a monitor reads them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from batchverify.report.notify import Notifier
from batchverify.simulator import SimulatorServer
from tests.support.receiver import Receiver
from tests.support.web import AUTH, make_client, numbers_csv, upload, wait_state, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below

pytestmark = pytest.mark.timeout(90)

SECRET = b"serve-notify-secret-0123456789"


def _parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _run_one(client: Any, path: Path) -> dict[str, Any]:
    job = (await (await upload(client, path)).json())["id"]
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    return await wait_state(client, job, ("finished", "failed", "stopped"))


async def test_metrics_need_the_token_and_count_what_the_jobs_did(
    make_client: Any, web_sim: SimulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="batchverify")
    client = await make_client()
    refused = await client.get("/metrics", allow_redirects=False)
    assert refused.status == 401  # a scraper gets an answer it understands, not the login page
    before = _parse(await (await client.get("/metrics", headers=AUTH)).text())
    assert before[("batchverify_requests_total", ())] == 0
    assert before[("batchverify_jobs", (("state", "running"),))] == 0
    done = await _run_one(client, numbers_csv(tmp_path / "a.csv", 12))
    assert done["state"] == "finished"
    response = await client.get("/metrics", headers=AUTH)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    after = _parse(await response.text())
    ledger = web_sim.ledger()
    assert after[("batchverify_requests_total", ())] == ledger["requests"] == 12
    assert after[("batchverify_billable_answers_total", ())] == ledger["billed"]
    assert after[("batchverify_runs_total", (("outcome", "complete"),))] == 1
    assert after[("batchverify_last_run_exit_code", ())] == 0
    assert after[("batchverify_jobs", (("state", "finished"),))] == 1
    assert sum(v for (name, _), v in after.items() if name == "batchverify_rows") == 12
    gate = [k for k in after if k[0] == "batchverify_gate_sends_total"]
    assert gate and after[gate[0]] >= 12
    assert ("batchverify_event_loop_lag_seconds", ()) in after
    said = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith(f"job {done['id']} (a.csv): ")
    ]
    assert [line.split(": ", 1)[1].split(" ")[0] for line in said] == ["uploaded", "started", "finished:"], (
        said
    )
    assert "12 rows, 12 distinct numbers, 12 to send" in said[0] and "12 of 12 numbers answered" in said[2]


async def test_metrics_public_opens_only_the_metrics(make_client: Any) -> None:
    client = await make_client(metrics_public=True)
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/api/jobs")).status == 401


async def test_each_jobs_end_is_notified_signed(make_client: Any, tmp_path: Path) -> None:
    with Receiver(answers=[500, 200]) as receiver:
        notifier = Notifier(receiver.url, SECRET, backoff=(0.05, 0.05, 0.05))
        client = await make_client(notifier=notifier)
        done = await _run_one(client, numbers_csv(tmp_path / "名单.csv", 5))
        for _ in range(200):
            if len(receiver.received) >= 2:
                break
            await asyncio.sleep(0.05)
    got = receiver.received
    assert len(got) == 2 and got[0].body == got[1].body
    expected = "sha256=" + hmac.new(SECRET, got[1].body, hashlib.sha256).hexdigest()
    assert got[1].headers["X-Batchverify-Signature"] == expected
    assert got[1].headers["X-Batchverify-Event"] == "job.finished"
    doc = got[1].doc
    assert doc["job_id"] == done["id"] and doc["job_name"] == "名单.csv" and doc["job_state"] == "finished"
    assert doc["exit_code"] == 0 and doc["rows"] == 5
    assert "input" not in doc and "checkpoint" not in doc  # the server's paths stay on the server
