"""§8 of bench/run.py: the upload server under five concurrent uploads.

``batchverify serve`` runs as its own process against the strict simulator (20/s sliding window,
50-250 ms latency). Five lists of distinct numbers are uploaded at once and started at once; while
they run, a client asks the JSON API (the job list, each job, in turn) every 50 ms and one event
stream stays open, as five open pages would. Targets: at least 0.98 of the cap combined, 0
``RequestLimitExceeded``, and the API's 95th-percentile latency under 100 ms during the run.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import datagen
from bench.proc import LOGS, ROOT, WORK, batchverify, child_env, ledger_rate
from bench.report import CAP, Context, _f, progress

TOKEN = "bench-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def section_serve(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    rep.add("## 8. The upload server: five uploads at once", "")
    n, jobs = sizes.serve_numbers, sizes.serve_jobs
    d = WORK / "serve"
    shutil.rmtree(d / "data", ignore_errors=True)
    runtime = d / "runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    lists = [
        datagen.numbers_csv(d / f"upload{i}.csv", datagen.distinct_numbers(n, seed=80 + i))
        for i in range(jobs)
    ]
    sim = ctx.sim("strict")
    sim.reset()
    env = child_env(sim.url)
    env.update(XDG_RUNTIME_DIR=str(runtime), BATCHVERIFY_TOKEN=TOKEN, BATCHVERIFY_LANGUAGE="en")
    log_path = LOGS / "serve.log"
    log = log_path.open("wb")
    argv = batchverify("serve", "--port", "0", "--data-dir", str(d / "data"))
    server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = _wait_ready(log_path, server)
        progress(f"§8 {jobs} uploads of {n:,} numbers at once to {base}")
        figures = asyncio.run(_drive(base, lists))
    finally:
        server.terminate()
        server.wait(timeout=120)
        log.close()
    ledger = sim.ledger()
    rate = ledger_rate(ledger)
    requests, limited = int(ledger["requests"]), int(ledger["rate_limited"])
    most = int(ledger["max_in_any_second"])
    share = rate.per_second / CAP
    lat = sorted(figures["latencies"])
    p50, p95 = _pct(lat, 50), _pct(lat, 95)
    worst = lat[-1] if lat else 0.0
    rep.raw["serve"] = {**{k: v for k, v in figures.items() if k != "latencies"}, "requests": requests,
                        "rate_limited": limited, "max_in_any_second": most, "rate": rate.per_second,
                        "p50_ms": p50, "p95_ms": p95, "max_ms": lat[-1] if lat else None,
                        "api_calls": len(lat)}  # fmt: skip
    rep.add(
        f"{jobs} lists of {n:,} distinct numbers uploaded together (upload + plan: median "
        f"{_f(figures['upload_median_ms'], 0)} ms, slowest {_f(figures['upload_max_ms'], 0)} ms) and started "
        f"together; all {figures['finished']} finished in {_f(figures['wall'], 1)} s. The simulator saw "
        f"{requests:,} requests, {limited} `RequestLimitExceeded`, at most {most} in any sliding second, "
        f"{_f(rate.per_second, 2)}/s combined ({_f(share, 3)} of the cap). The API answered {len(lat):,} "
        f"calls during the run: p50 {_f(p50, 1)} ms, p95 {_f(p95, 1)} ms, max {_f(worst, 1)} ms; "
        f"the open event stream delivered {figures['events']:,} updates.",
        "",
    )
    rep.target(
        "serve",
        f"{jobs} concurrent uploads of {n:,}: ≥ 0.98 of the cap, 0 RequestLimitExceeded, API p95 < 100 ms",
        f"{_f(share, 3)} of the cap, {limited} RLE, p95 {_f(p95, 1)} ms",
        share >= 0.98 and limited == 0 and p95 < 100 and figures["finished"] == jobs,
    )


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _wait_ready(log: Path, server: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"open (http://\S+?)/", log.read_text(errors="replace"))
        if match:
            return match.group(1)
        if server.poll() is not None:
            raise RuntimeError(f"batchverify serve exited {server.returncode}")
        time.sleep(0.1)
    raise RuntimeError("batchverify serve did not start")


async def _drive(base: str, lists: list[Path]) -> dict[str, Any]:
    async with aiohttp.ClientSession(base, headers=HEADERS) as client:

        async def upload(path: Path) -> tuple[str, float]:
            form = aiohttp.FormData()
            form.add_field("file", path.read_bytes(), filename=path.name)
            t0 = time.perf_counter()
            async with client.post("/api/jobs", data=form) as response:
                doc = await response.json()
                assert response.status == 201, doc
            return str(doc["id"]), (time.perf_counter() - t0) * 1000

        uploaded = await asyncio.gather(*(upload(p) for p in lists))
        ids = [job_id for job_id, _ in uploaded]
        upload_ms = sorted(ms for _, ms in uploaded)
        events = 0

        async def listen(job_id: str) -> None:
            nonlocal events
            async with client.get(f"/api/jobs/{job_id}/events") as stream:
                async for line in stream.content:
                    if line.startswith(b"data: "):
                        events += 1

        listener = asyncio.create_task(listen(ids[0]))
        t0 = time.perf_counter()
        await asyncio.gather(*(client.post(f"/api/jobs/{job_id}/start") for job_id in ids))
        latencies: list[float] = []
        paths = ["/api/jobs", *(f"/api/jobs/{job_id}" for job_id in ids)]
        finished: set[str] = set()
        turn = 0
        while len(finished) < len(ids) and time.perf_counter() - t0 < 3600:
            path = paths[turn % len(paths)]
            turn += 1
            start = time.perf_counter()
            async with client.get(path) as response:
                doc = await response.json()
            latencies.append((time.perf_counter() - start) * 1000)
            for job in doc.get("jobs", [doc]):
                if job["state"] in ("finished", "failed", "stopped"):
                    finished.add(job["id"])
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - t0
        listener.cancel()
    return {
        "latencies": latencies,
        "wall": wall,
        "finished": len(finished),
        "events": events,
        "upload_median_ms": statistics.median(upload_ms),
        "upload_max_ms": upload_ms[-1],
    }
