"""§8 of bench/run.py, the server with a very large list: a job of ``stop_rows`` numbers started and
stopped while it sends; how long the stop takes to be final and the server's peak memory.

The stop comes once answers arrive (the run has planned the list again and sends) and 5 s more. It is
timed from ``POST /api/jobs/{id}/stop`` until the job's state says ``stopped`` (nothing more is sent),
and on until its file of every row is written (``writing`` false). The peak is VmHWM, read after the
file is written and before the server exits; a fresh server is started for it, so nothing else is in
it.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import datagen
from bench.proc import LOGS, ROOT, batchverify
from bench.report import Context, _f, progress

STOP_SECONDS = 10.0
PEAK_MIB = 300.0
ENDED = ("finished", "failed", "stopped")


async def _stop_one(base: str, headers: dict[str, str], src: Path, sending: float) -> dict[str, Any]:
    async with aiohttp.ClientSession(
        base, headers=headers, timeout=aiohttp.ClientTimeout(total=None)
    ) as client:
        form = aiohttp.FormData()
        form.add_field("file", src.read_bytes(), filename=src.name)
        form.add_field("output", "same")
        t0 = time.perf_counter()
        async with client.post("/api/jobs", data=form) as response:
            doc = await response.json()
            if response.status != 201:
                raise RuntimeError(f"upload answered {response.status}: {doc}")
        job_id = str(doc["id"])
        planned = time.perf_counter() - t0
        async with client.post(f"/api/jobs/{job_id}/start") as response:
            if response.status >= 300:
                raise RuntimeError(f"start answered {response.status}: {await response.text()}")
        started = time.perf_counter()
        while time.perf_counter() - started < 600:
            async with client.get(f"/api/jobs/{job_id}") as response:
                if (await response.json())["done"] > 0:
                    break
            await asyncio.sleep(0.1)
        replanned = time.perf_counter() - started
        await asyncio.sleep(sending)
        t1 = time.perf_counter()
        async with client.post(f"/api/jobs/{job_id}/stop") as response:
            if response.status >= 300:
                raise RuntimeError(f"stop answered {response.status}: {await response.text()}")
        state, stop_s, writing = "", None, True
        while time.perf_counter() - t1 < 900:
            async with client.get(f"/api/jobs/{job_id}") as response:
                doc = await response.json()
            state, writing = doc["state"], bool(doc.get("writing"))
            if state in ENDED and stop_s is None:
                stop_s = time.perf_counter() - t1
            if state in ENDED and not writing:
                break
            await asyncio.sleep(0.1)
        return {
            "planned_s": planned,
            "replanned_s": replanned,
            "stop_s": stop_s if stop_s is not None else time.perf_counter() - t1,
            "written_s": time.perf_counter() - t1,
            "state": state,
            "written": not writing,
            "done": doc["done"],
        }


def big_stop(ctx: Context, d: Path, env: dict[str, str], wait_ready: Any, rss_mib: Any) -> None:
    rep = ctx.report
    rows = ctx.sizes.stop_rows
    src = d / f"stop-{rows}.csv"
    datagen.numbers_csv(src, datagen.distinct_numbers(rows, seed=89))
    data = d / "data-stop"
    shutil.rmtree(data, ignore_errors=True)
    log_path = LOGS / "serve-stop.log"
    log = log_path.open("wb")
    argv = batchverify("serve", "--port", "0", "--data-dir", str(data), "--max-upload-mb", "1000")
    server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = wait_ready(log_path, server)
        progress(f"§8 a job of {rows:,} numbers started and stopped")
        headers = {"Authorization": f"Bearer {env['BATCHVERIFY_TOKEN']}"}
        result = asyncio.run(_stop_one(base, headers, src, 5.0))
        peak = rss_mib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=300)
        log.close()
    result.update(rows=rows, peak_mib=peak, mib=src.stat().st_size / 2**20)
    rep.raw["serve_stop"] = result
    rep.add(
        f"A list of {rows:,} distinct numbers ({_f(result['mib'], 1)} MiB) uploaded to a fresh server "
        f"(planned in {_f(result['planned_s'], 1)} s), started (planned again and sending after "
        f"{_f(result['replanned_s'], 1)} s), and stopped after 5 s more of sending: the job was "
        f"{result['state']} {_f(result['stop_s'], 1)} s after the stop, with {result['done']:,} numbers "
        f"answered, and its file of every row was written {_f(result['written_s'], 1)} s after the stop; "
        f"the server's peak memory was {_f(peak, 0)} MiB.",
        "",
    )
    rep.target(
        "serve",
        f"stopping a {rows:,}-row job: final within {STOP_SECONDS:g} s, server peak under {PEAK_MIB:g} MiB",
        f"{result['state']} in {_f(result['stop_s'], 1)} s (file written in {_f(result['written_s'], 0)} s), "
        f"peak {_f(peak, 0)} MiB",
        result["state"] == "stopped" and result["stop_s"] <= STOP_SECONDS and peak < PEAK_MIB,
    )
