"""§8 of bench/run.py: the upload server under five concurrent uploads.

``batchverify serve`` runs as its own process against the strict simulator (20/s sliding window,
50-250 ms latency). Five lists of distinct numbers are uploaded at once and started at once; while
they run, a client asks the JSON API (the job list, each job, in turn) every 50 ms and one event
stream stays open, as five open pages would. Targets: at least 0.98 of the cap combined, 0
``RequestLimitExceeded``, the API's 95th-percentile latency under 100 ms and the server's own loop
lag (``GET /api/health``) under 20 ms during the run. Then a fresh server gets many large uploads at
once: every one planned (after ``429``s with ``Retry-After``) and its peak memory under 400 MiB.
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
from bench.sections.serve_stop import big_stop

TOKEN = "bench-token-0123456789abcdef-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def section_serve(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    rep.add("## 8. The upload server: five jobs at once, many large uploads", "")
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
    lag_worst, ticks, late = figures["lag_worst_ms"], figures["lag_ticks"], figures["lag_late"]
    rep.add(
        f"The server's own event loop (`GET /api/health`, a timer every 50 ms) while the {jobs} jobs sent "
        f"and the pages were asked: worst wake {_f(lag_worst, 1)} ms late (the worst of each 10 s, from "
        f"10 s after the start); {late} of {ticks:,} ticks ({100 * late / max(1, ticks):.2f} %) were more "
        "than 20 ms late.",
        "",
    )
    rep.target(
        "serve",
        f"{jobs} jobs sending, pages asked every 50 ms: the server's loop lag under 20 ms",
        f"worst {_f(lag_worst, 1)} ms; {late} of {ticks:,} ticks over 20 ms",
        lag_worst < 20,
    )
    rep.target(
        "serve",
        f"{jobs} concurrent uploads of {n:,}: ≥ 0.98 of the cap, 0 RequestLimitExceeded, API p95 < 100 ms",
        f"{_f(share, 3)} of the cap, {limited} RLE, p95 {_f(p95, 1)} ms",
        share >= 0.98 and limited == 0 and p95 < 100 and figures["finished"] == jobs,
    )
    _big_uploads(ctx, d, env)
    big_stop(ctx, d, env, _wait_ready, _rss_mib)


def _big_uploads(ctx: Context, d: Path, env: dict[str, str]) -> None:
    """``big_uploads`` lists of ``big_upload_rows`` rows sent at once from four client addresses
    (127.0.0.1-4, two each): the server takes four at a time and answers the rest 429 with
    Retry-After; its peak memory (VmHWM) is read before it stops."""
    sizes, rep = ctx.sizes, ctx.report
    rows, count = sizes.big_upload_rows, sizes.big_uploads
    src = d / f"big-{rows}.csv"
    datagen.numbers_csv(src, datagen.distinct_numbers(rows, seed=88))
    mib = src.stat().st_size / 2**20
    data = d / "data-big"
    shutil.rmtree(data, ignore_errors=True)
    log_path = LOGS / "serve-big.log"
    log = log_path.open("wb")
    argv = batchverify("serve", "--port", "0", "--data-dir", str(data), "--max-upload-mb", "200")
    server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = _wait_ready(log_path, server)
        time.sleep(1)
        idle = _rss_mib(server.pid, "VmRSS")
        progress(f"§8 {count} uploads of {rows:,} rows ({mib:.1f} MiB) at once")
        t0 = time.perf_counter()
        results = asyncio.run(_upload_many(base, src, count))
        wall = time.perf_counter() - t0
        peak = _rss_mib(server.pid, "VmHWM")
        after = _rss_mib(server.pid, "VmRSS")
    finally:
        server.terminate()
        server.wait(timeout=120)
        log.close()
    planned = sum(1 for status, _ in results if status == 201)
    busy = sum(tries for _, tries in results)
    rep.raw["serve_big"] = {
        "rows": rows,
        "count": count,
        "mib": mib,
        "idle_mib": idle,
        "peak_mib": peak,
        "after_mib": after,
        "planned": planned,
        "busy_answers": busy,
        "wall": wall,
    }
    rep.add(
        f"{count} lists of {rows:,} rows ({mib:.1f} MiB each) uploaded at once from four client addresses "
        f"to a fresh server: {planned} planned in {_f(wall, 1)} s; {busy} answers were `429` with "
        f"`Retry-After` (at most four uploads at once, two per address) and were sent again after it. "
        f"The server's memory: {_f(idle, 0)} MiB idle, {_f(peak, 0)} MiB at its peak, {_f(after, 0)} MiB "
        "after.",
        "",
    )
    rep.target(
        "serve",
        f"{count} uploads of {rows:,} rows at once: every one planned, server peak under 400 MiB",
        f"{planned}/{count} planned, peak {_f(peak, 0)} MiB",
        planned == count and peak < 400,
    )


def _rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _upload_many(base: str, src: Path, count: int) -> list[tuple[int, int]]:
    body = src.read_bytes()
    done = await asyncio.gather(*(_upload(base, body, f"big{i}.csv", i) for i in range(count)))
    return [(status, refused) for status, _doc, refused in done]


async def _upload(base: str, body: bytes, name: str, i: int) -> tuple[int, dict[str, Any], int]:
    """One upload from client address 127.0.0.(1 + i % 4), sent again after each 429's Retry-After
    (the server takes four uploads at once, two per address). Returns status, answer, 429s."""
    refused = 0
    connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{1 + i % 4}", 0))
    async with aiohttp.ClientSession(base, headers=HEADERS, connector=connector) as client:
        while True:
            form = aiohttp.FormData()
            form.add_field("file", body, filename=name)
            async with client.post("/api/jobs", data=form) as response:
                doc = await response.json()
                if response.status != 429:
                    return response.status, doc, refused
                refused += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "5")))


async def _health(client: aiohttp.ClientSession) -> dict[str, Any]:
    async with client.get("/api/health") as response:
        doc: dict[str, Any] = (await response.json())["loop_lag"]
    return doc


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

        async def upload(i: int, path: Path) -> tuple[str, float]:
            t0 = time.perf_counter()
            status, doc, _refused = await _upload(base, path.read_bytes(), path.name, i)
            assert status == 201, doc
            return str(doc["id"]), (time.perf_counter() - t0) * 1000

        uploaded = await asyncio.gather(*(upload(i, p) for i, p in enumerate(lists)))
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
        lag_before = await _health(client)
        lag_seen: list[float] = []

        async def watch_lag() -> None:
            # Every 10 s, the worst wake of the last 10 s: the sending phase alone, uploads left out.
            while True:
                await asyncio.sleep(10)
                lag_seen.append(float((await _health(client))["last_10s_worst_ms"]))

        watcher = asyncio.create_task(watch_lag())
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
        watcher.cancel()
        lag_after = await _health(client)
    ticks = int(lag_after["samples"]) - int(lag_before["samples"])
    late = int(lag_after["over_20ms"]) - int(lag_before["over_20ms"])
    return {
        "lag_worst_ms": max(lag_seen, default=float("nan")),
        "lag_ticks": ticks,
        "lag_late": late,
        "latencies": latencies,
        "wall": wall,
        "finished": len(finished),
        "events": events,
        "upload_median_ms": statistics.median(upload_ms),
        "upload_max_ms": upload_ms[-1],
    }
