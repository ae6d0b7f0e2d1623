"""A Stop on the server is final when sending ends, not when a long list's file is written: the job
says stopped at once, and while its file is written it offers no download, no Start and no change of
budget. Real server, real simulator; the file's writing (or the plan made again) is held open by a
gate so the window between the two can be looked at."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import batchverify.engine.job as engine_job
import batchverify.web.jobs as web_jobs
from batchverify.simulator import SimulatorServer
from batchverify.web.routes import MANAGER
from tests.support.web import AUTH, make_client, numbers_csv, upload, wait_done, wait_state, web_sim

__all__ = ["make_client", "web_sim"]  # fixtures used below

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def held_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The output's writing waits until the event is set (the real writer then writes)."""
    release = threading.Event()
    real = engine_job.write_output

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_job, "write_output", held)
    yield release
    release.set()


def _requests(sim: SimulatorServer) -> int:
    return int(sim.ledger()["requests"])


async def _job(client: Any, job_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = await (await client.get(f"/api/jobs/{job_id}", headers=AUTH)).json()
    return doc


async def _stopped_while_sending(client: Any, tmp_path: Path) -> tuple[str, dict[str, Any], float]:
    """An 80-number job stopped once 4 answers are in, its file held: (id, its view, seconds the
    Stop took to be final)."""
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 80))).json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_done(client, job, 4)
    asked = time.monotonic()
    assert (await client.post(f"/api/jobs/{job}/stop", headers=AUTH)).status == 202
    # Stopped while the file is still held: the stop does not wait for it.
    stopped = await wait_state(client, job, ("stopped",), timeout=10, written=False)
    return job, stopped, time.monotonic() - asked


async def test_a_stop_is_final_when_sending_ends_and_the_file_follows(
    make_client: Any, web_sim: SimulatorServer, held_writes: threading.Event, tmp_path: Path
) -> None:
    client = await make_client(rate=8.0)
    job, stopped, took = await _stopped_while_sending(client, tmp_path)
    assert took < 5
    assert stopped["writing"] is True and stopped["stopping"] is False
    assert stopped["can_start"] is False and stopped["downloads"]["result"] is None
    assert stopped["retry"] is None and stopped["rows"] is None
    requests = _requests(web_sim)
    await asyncio.sleep(1.0)
    assert _requests(web_sim) == requests, "sent after the job said stopped"
    result = await client.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert result.status == 409 and (await result.json())["code"] == "writing"
    start = await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    assert start.status == 409 and (await start.json())["code"] == "writing"
    budget = await client.patch(f"/api/jobs/{job}", json={"max_billable": "5"}, headers=AUTH)
    assert budget.status == 409
    assert (await client.post(f"/api/jobs/{job}/stop", headers=AUTH)).status == 409
    assert (await _job(client, job))["writing"] is True  # still held: nothing above waited for it
    held_writes.set()
    written = await wait_state(client, job, ("stopped",))
    assert written["writing"] is False and written["can_start"] is True
    assert written["runs"] == 1 and 4 <= written["done"] < 80
    partial = await client.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert partial.status == 200 and "not checked yet" in (await partial.read()).decode("utf-8")
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    finished = await wait_state(client, job, ("finished",))
    assert finished["done"] == 80 and finished["runs"] == 2
    ledger = web_sim.ledger()
    assert ledger["requests"] == 80 and max(ledger["calls_by_number"].values()) == 1


async def test_a_stop_while_the_plan_is_made_again_sends_nothing_and_writes_nothing(
    make_client: Any, web_sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    release = threading.Event()
    real = web_jobs.prepare

    async def held(*args: Any, **kwargs: Any) -> Any:
        await asyncio.to_thread(release.wait, 60)
        return await real(*args, **kwargs)

    monkeypatch.setattr(web_jobs, "prepare", held)
    client = await make_client()
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 30))).json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_state(client, job, ("running",))
    asked = time.monotonic()
    assert (await client.post(f"/api/jobs/{job}/stop", headers=AUTH)).status == 202
    stopped = await _job(client, job)
    assert time.monotonic() - asked < 2
    assert stopped["state"] == "stopped" and stopped["writing"] is True and not stopped["can_start"]
    release.set()
    settled = await wait_state(client, job, ("stopped",))
    assert settled["can_start"] is True and settled["runs"] == 0
    assert settled["downloads"]["result"] is None  # no run wrote a file: nothing was sent
    assert _requests(web_sim) == 0
    monkeypatch.setattr(web_jobs, "prepare", real)
    assert (await client.post(f"/api/jobs/{job}/start", headers=AUTH)).status == 202
    finished = await wait_state(client, job, ("finished",))
    assert finished["done"] == 30 and _requests(web_sim) == 30


async def test_a_stop_after_the_last_call_is_final_at_once_and_the_job_finishes(
    make_client: Any, web_sim: SimulatorServer, held_writes: threading.Event, tmp_path: Path
) -> None:
    client = await make_client()
    job = (await (await upload(client, numbers_csv(tmp_path / "l.csv", 10))).json())["id"]
    await client.post(f"/api/jobs/{job}/start", headers=AUTH)
    await wait_done(client, job, 10)
    await asyncio.sleep(0.5)  # the last answer is in: the run writes (held)
    assert (await client.post(f"/api/jobs/{job}/stop", headers=AUTH)).status == 202
    stopped = await _job(client, job)
    assert stopped["state"] == "stopped" and stopped["writing"] is True and stopped["stopping"] is False
    held_writes.set()
    finished = await wait_state(client, job, ("finished",))
    assert finished["done"] == 10 and finished["writing"] is False and _requests(web_sim) == 10


async def test_a_file_a_stop_left_unwritten_is_written_by_the_next_server_sending_nothing(
    make_client: Any, web_sim: SimulatorServer, held_writes: threading.Event, tmp_path: Path
) -> None:
    client = await make_client(rate=8.0)
    job, stopped, _ = await _stopped_while_sending(client, tmp_path)
    assert stopped["writing"] is True
    task = client.server.app[MANAGER].jobs[job].task
    task.cancel()  # what the server's close does to a run that outlives its wait
    await asyncio.sleep(0.2)
    record = json.loads((tmp_path / "data" / "jobs" / job / "job.json").read_text(encoding="utf-8"))
    assert record["state"] == "stopped" and record["writing"] is True
    assert not (tmp_path / "data" / "jobs" / job / "result.xlsx").exists()
    sent = _requests(web_sim)
    held_writes.set()  # the cancelled run's writing thread ends and lets go of the checkpoint
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert json.loads((tmp_path / "data" / "jobs" / job / "job.json").read_text(encoding="utf-8"))["writing"]
    await client.close()
    again = await make_client(rate=8.0)
    again.server.app[MANAGER].resume()  # as `batchverify serve` does once it listens
    written = await wait_state(again, job, ("stopped",))
    assert written["writing"] is False and written["can_start"] is True
    assert written["downloads"]["result"] is not None and _requests(web_sim) == sent
    result = await again.get(f"/api/jobs/{job}/result", headers=AUTH)
    assert result.status == 200
