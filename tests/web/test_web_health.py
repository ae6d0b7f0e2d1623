"""``GET /api/health``: what a monitor reads of the server itself (its loop's lag, its load)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from batchverify import __version__
from batchverify.web.looplag import LoopLag
from tests.support.web import AUTH, make_client, numbers_csv, upload, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below

pytestmark = pytest.mark.timeout(60)


async def test_health_needs_the_token_and_says_what_the_server_holds(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    refused = await client.get("/api/health")
    assert refused.status == 401
    doc = await (await client.get("/api/health", headers=AUTH)).json()
    assert doc["status"] == "ok" and doc["version"] == __version__
    assert (doc["jobs"], doc["jobs_running"], doc["uploads_in_progress"]) == (0, 0, 0)
    assert (await upload(client, numbers_csv(tmp_path / "l.csv", 5))).status == 201
    doc = await (await client.get("/api/health", headers=AUTH)).json()
    assert doc["jobs"] == 1 and doc["jobs_running"] == 0


async def test_a_blocked_loop_shows_in_the_lag_and_the_log(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client()  # the test and the server share this loop: blocking one blocks both
    await asyncio.sleep(0.2)
    before = (await (await client.get("/api/health", headers=AUTH)).json())["loop_lag"]
    assert before["samples"] >= 1 and before["worst_ms"] < 250
    with caplog.at_level(logging.WARNING, logger="batchverify"):
        time.sleep(0.3)
        await asyncio.sleep(0.15)
    after = (await (await client.get("/api/health", headers=AUTH)).json())["loop_lag"]
    assert after["worst_ms"] >= 250 and after["last_minute_worst_ms"] >= 250
    assert after["over_20ms"] >= before["over_20ms"] + 1
    assert any("event loop woke" in r.getMessage() for r in caplog.records)


def test_the_lag_window_forgets_after_a_minute_and_warns_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lag = LoopLag()
    with caplog.at_level(logging.WARNING, logger="batchverify"):
        lag.note(0.5, now=100.0)
        lag.note(0.4, now=130.0)
        lag.note(0.001, now=161.0)
    assert lag.last_minute() == 0.4 and lag.worst == 0.5 and lag.last(10.0) == 0.001
    assert lag.view()["over_20ms"] == 2 and lag.view()["samples"] == 3
    assert sum("event loop woke" in r.getMessage() for r in caplog.records) == 1
    lag.note(-0.01, now=200.0)  # a timer never wakes early; a negative reading counts as on time
    assert lag.last_minute() == 0.001


async def test_the_probes_need_no_token_and_readyz_says_when_the_data_folder_fails(
    make_client: Any, tmp_path: Path
) -> None:
    client = await make_client()
    alive = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert alive.status == 200 and (await alive.json()) == {"status": "ok"}
    assert ready.status == 200 and (await ready.json())["checks"]["data_dir_writable"] is True
    jobs = tmp_path / "data" / "jobs"
    away = jobs.rename(tmp_path / "data" / "moved")  # a folder removed or unmounted under the server
    try:
        refused = await client.get("/readyz")
        doc = await refused.json()
    finally:
        away.rename(jobs)
    assert refused.status == 503 and doc["checks"]["data_dir_writable"] is False
    assert (await client.get("/readyz")).status == 200
    assert not list(jobs.glob(".ready.*"))  # the probe's file is gone
