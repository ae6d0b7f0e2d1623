"""§7 of bench/run.py: one account shared by several processes, and a budget stop.

Two ``batchverify run`` processes on different lists and one key start together against the strict
simulator (20/s sliding window, 50-250 ms latency); the simulator's ledger says what the account
saw. Target: at most 0.5 % RequestLimitExceeded, at most 20 arrivals in any sliding second, at least
0.95 of the cap combined, and each run says that it shares the account. Then one run with
``--max-billable``: the ledger's billed answers against the cap.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

from bench import datagen
from bench.proc import LOGS, ROOT, WORK, Simulator, batchverify, child_env, cores_loaded, ledger_rate
from bench.report import CAP, Context, _f, progress


def section_sharing(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    rep.add("## 7. One account, several processes; a budget", "")
    n = sizes.sharing_numbers
    d = WORK / "sharing"
    runtime = d / "runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    lists = [
        datagen.numbers_csv(d / f"list{i}.csv", datagen.distinct_numbers(n, seed=40 + i)) for i in range(2)
    ]
    sim = ctx.sim("strict")
    sim.reset()
    env = child_env(sim.url)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    progress(f"§7 two processes, {n:,} numbers each, one key")
    codes, wall, said = _together("sharing", lists, [env, env])
    ledger = sim.ledger()
    rate = ledger_rate(ledger)
    requests, limited = int(ledger["requests"]), int(ledger["rate_limited"])
    most = int(ledger["max_in_any_second"])
    share = rate.per_second / CAP
    sharing_said = sum("shared with 1 other batchverify process" in text for text in said)
    rep.raw["sharing"] = {
        "requests": requests,
        "rate_limited": limited,
        "max_in_any_second": most,
        "rate": rate.per_second,
        "wall": wall,
        "exit_codes": codes,
        "said": sharing_said,
    }
    rep.add(
        f"Two runs of {n:,} numbers each, started together (exit codes {codes}, {_f(wall, 1)} s): the "
        f"simulator saw {requests:,} requests, {limited} `RequestLimitExceeded` "
        f"({100 * limited / max(1, requests):.2f} %), at most {most} in any sliding second, "
        f"{_f(rate.per_second, 2)}/s combined from the first request to the last ({_f(share, 3)} of the "
        f"cap); {sharing_said} of 2 runs said they shared the account.",
        "",
    )
    rep.target(
        "sharing",
        "two processes on one key: ≤ 0.5 % RequestLimitExceeded, ≤ 20 in any second, ≥ 0.95 of the cap",
        f"{100 * limited / max(1, requests):.2f} %, max {most}, {_f(rate.per_second, 2)}/s ({_f(share, 3)})",
        limited <= 0.005 * requests
        and most <= CAP
        and share >= 0.95
        and codes == [0, 0]
        and sharing_said >= 1,
    )
    _crowded(ctx, sim, d)
    # A budget: a third list, --max-billable well below its size.
    cap = max(10, n // 10)
    src = datagen.numbers_csv(d / "budget.csv", datagen.distinct_numbers(n, seed=49))
    _clean(src)
    sim.reset()
    progress(f"§7 a budget of {cap} on {n:,} numbers")
    summary_path = LOGS / "budget.summary.json"
    argv = batchverify(
        "run", str(src), "--column", "mobile", "--yes", "--progress", "off",
        "--max-billable", str(cap), "--summary-json", str(summary_path),
    )  # fmt: skip
    code = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False).returncode
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    billed = int(sim.ledger()["billed"])
    pending = int(summary.get("by_status", {}).get("pending", 0))
    rep.raw["budget"] = {"cap": cap, "billed": billed, "exit": code, "pending": pending, "summary": summary}
    rep.add(
        f"`--max-billable {cap}` on {n:,} numbers: the simulator billed {billed} answers; the run stopped "
        f"with stop reason `{summary.get('stop_reason')}`, exit {code}, {pending:,} rows left pending.",
        "",
    )
    rep.target(
        "sharing",
        f"--max-billable {cap}: billed answers never past it",
        f"{billed} billed, stop reason {summary.get('stop_reason')}",
        billed <= cap and summary.get("stop_reason") == "budget" and code == 5,
    )


def _crowded(ctx: Context, sim: Simulator, d: Path) -> None:
    """Three runs on one key, each from another environment, beside ``crowd_burners`` busy
    processes: the host's window and the lag-following margin hold the cap on a machine whose
    loops wake late."""
    sizes, rep = ctx.sizes, ctx.report
    n, burners = sizes.crowd_numbers, sizes.crowd_burners
    lists = [
        datagen.numbers_csv(d / f"crowd{i}.csv", datagen.distinct_numbers(n, seed=70 + i)) for i in range(3)
    ]
    base = child_env(sim.url)
    shell = {**base, "XDG_RUNTIME_DIR": str(d / "runtime")}
    cron = {k: v for k, v in base.items() if k != "XDG_RUNTIME_DIR"}
    private_tmp = d / "private-tmp"
    private_tmp.mkdir(exist_ok=True, mode=0o700)
    service = {**cron, "TMPDIR": str(private_tmp)}
    envs = {"login shell": shell, "cron": cron, "service": service}
    sim.reset()
    progress(f"§7 three processes in three environments, {n:,} numbers each, {burners} busy processes beside")
    with cores_loaded(burners):
        codes, wall, said = _together("crowd", lists, list(envs.values()))
    windows = {_window(text) for text in said}
    ledger = sim.ledger()
    rate = ledger_rate(ledger)
    requests, limited = int(ledger["requests"]), int(ledger["rate_limited"])
    most = int(ledger["max_in_any_second"])
    rep.raw["crowded"] = {"requests": requests, "rate_limited": limited, "max_in_any_second": most,
                          "rate": rate.per_second, "wall": wall, "exit_codes": codes, "burners": burners,
                          "windows": sorted(windows)}  # fmt: skip
    rep.add(
        f"Three runs of {n:,} numbers each on one key, started together from a login shell, a cron-like "
        f"environment (no `XDG_RUNTIME_DIR`) and a service-like one (its own `TMPDIR`), with {burners} "
        f"busy processes on {os.cpu_count()} cores beside them (exit codes {codes}, {_f(wall, 1)} s). "
        f"Windows named by the runs: {', '.join(sorted(windows))}. The simulator saw {requests:,} "
        f"requests, {limited} `RequestLimitExceeded`, at most {most} in any sliding second, "
        f"{_f(rate.per_second, 2)}/s combined ({_f(rate.per_second / CAP, 3)} of the cap).",
        "",
    )
    rep.target(
        "sharing",
        f"three environments, one key, {burners} busy processes beside: 0 RequestLimitExceeded, ≤ 20 in any "
        "second, one window",
        f"{limited} RLE, max {most}, {len(windows)} window(s), {_f(rate.per_second, 2)}/s",
        limited == 0 and most <= CAP and len(windows) == 1 and codes == [0, 0, 0],
    )


def _together(
    label: str, lists: list[Path], envs: list[dict[str, str]]
) -> tuple[list[int], float, list[str]]:
    """``batchverify run`` on each list at once, each in its environment: exit codes, wall time, logs."""
    procs, logs = [], []
    for i, (src, env) in enumerate(zip(lists, envs, strict=True)):
        _clean(src)
        log = (LOGS / f"{label}-{i}.log").open("wb")
        logs.append(log)
        argv = batchverify("run", str(src), "--column", "mobile", "--yes", "--progress", "off")
        procs.append(subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
    t0 = time.perf_counter()
    codes = [p.wait(timeout=3600) for p in procs]
    wall = time.perf_counter() - t0
    for log in logs:
        log.close()
    return codes, wall, [(LOGS / f"{label}-{i}.log").read_text(errors="replace") for i in range(len(lists))]


def _window(said: str) -> str:
    match = re.search(r"rate window: ([^;\n(]+)", said)
    return match.group(1).strip() if match else "(not said)"


def _clean(src: Path) -> None:
    """No output or checkpoint of an earlier benchmark run: every number is asked."""
    for path in src.parent.glob(f"{src.stem}.verified*"):
        path.unlink()
