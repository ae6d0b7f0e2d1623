"""``make bench`` / ``make bench-quick``: batchverify against the local simulator, written to RESULTS.md.

    python -m bench.run [--quick] [--only ceiling,peers,headroom,scale] [--repeats N]

Sections:
  1. ceiling   2,000 numbers, strict 20/s simulator with 50-250 ms latency; also --faults 0.05, and
               aiolimiter side by side.
  2. peers     the same numbers through scripts users would write with the official SDK.
  3. headroom  20,000 numbers, limit off and no latency: rows/s and CPU per row of batchverify.
  4. scale     generated 1,000,000-row CSV and 200,000-row XLSX: dry runs, writing a finished
               job, resuming a 99 %-done job, per-answer checkpoint cost.

Every measured program runs as its own process (CPU and peak RSS from ``os.wait4``); the simulator
is another process. Generated inputs go to bench/work/ (not committed). Full mode writes
bench/RESULTS.md, quick mode bench/RESULTS-quick.md.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import platform
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from batchverify.models import Status
from bench import datagen, notes, store
from bench.proc import (
    LOGS,
    PYTHON,
    ROOT,
    STATES,
    WORK,
    Measured,
    Simulator,
    batchverify,
    child_env,
    cpu_ticks,
    ledger_rate,
    loadavg,
    machine_state,
    run_measured,
    steal_share,
)

CAP = 20.0
SECTIONS = ("ceiling", "peers", "headroom", "scale")


@dataclass(frozen=True)
class Sizes:
    mode: str
    ceiling_numbers: int
    ceiling_repeats: int
    faults_repeats: int
    aiolimiter_numbers: int
    headroom_numbers: int
    headroom_repeats: int
    csv_rows: int
    xlsx_rows: int
    scale_repeats: int
    checkpoint_answers: int
    checkpoint_paced: int
    component_count: int
    insitu_answers: int
    rerun_budget_s: int  # per peer: how long to keep running it again on the rows it left


FULL = Sizes("full", 2000, 3, 1, 600, 20_000, 3, 1_000_000, 200_000, 3, 2000, 100, 20_000, 400, 150)
QUICK = Sizes("quick", 150, 2, 1, 100, 2000, 2, 50_000, 10_000, 2, 500, 40, 5000, 100, 15)


# --------------------------------------------------------------------------------------------------
# Report


@dataclass
class Target:
    section: str
    target: str
    measured: str
    met: bool


@dataclass
class Report:
    sizes: Sizes
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            self.lines.append("| " + " | ".join(str(c) for c in row) + " |")
        self.lines.append("")

    def target(self, section: str, target: str, measured: str, met: bool) -> Target:
        t = Target(section, target, measured, met)
        self.targets.append(t)
        return t

    def targets_table(self, section: str) -> None:
        rows = [(t.target, t.measured, _met(t.met)) for t in self.targets if t.section == section]
        if rows:
            self.table(("target", "measured", ""), rows)


def _met(ok: bool) -> str:
    return "met" if ok else "**NOT MET**"


def _f(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --------------------------------------------------------------------------------------------------
# Helpers


def output_statuses(path: Path) -> Counter[str]:
    """Rows per ``mobile_status`` of a batchverify CSV output."""
    with path.open(newline="", encoding="utf-8") as f:
        return Counter(row["mobile_status"] for row in csv.DictReader(f))


def final_rows(counts: Counter[str]) -> int:
    return sum(n for status, n in counts.items() if Status(status).is_final)


def clean_output(output: Path) -> None:
    output.unlink(missing_ok=True)
    store.remove_store(output.with_name(output.name + ".checkpoint.sqlite"))


def run_batchverify(
    sim: Simulator, inp: Path, log_name: str, *extra: str, while_running: Any = None
) -> tuple[Measured, dict[str, Any]]:
    summary_path = LOGS / f"{log_name}.summary.json"
    summary_path.unlink(missing_ok=True)
    argv = batchverify(
        "run",
        str(inp),
        "--column",
        "mobile",
        "--yes",
        "--progress",
        "off",
        "--summary-json",
        str(summary_path),
        *extra,
    )
    m = run_measured(argv, env=child_env(sim.url), log_name=log_name, while_running=while_running)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return m, summary


def ledger_numbers(ledger: dict[str, Any]) -> dict[str, Any]:
    rate = ledger_rate(ledger)
    billed_by_number: dict[str, int] = ledger["billed_by_number"]
    return {
        "requests": ledger["requests"],
        "accepted": rate.accepted,
        "span": rate.span,
        "rate": rate.per_second,
        "share": rate.per_second / CAP,
        "rle": ledger["rate_limited"],
        "max_in_1s": ledger["max_in_any_second"],
        "max_accepted_in_1s": ledger["max_accepted_in_any_second"],
        "billed": ledger["billed"],
        "billed_twice": sum(1 for n in billed_by_number.values() if n > 1),
        "faults": ledger["faults_injected"],
        "first_request_at": ledger["first_request_at"],
    }


def machine_info() -> list[str]:
    cpu = "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    dists = ["batchverify", "aiohttp", "click", "python-calamine", "openpyxl", "tqdm", "cryptography"]
    dists += ["aiolimiter", "tencentcloud-sdk-python-common", "tencentcloud-sdk-python-faceid", "httpx"]
    versions = ", ".join(f"{d} {version(d)}" for d in dists)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return [
        f"- CPU: {os.cpu_count()} × {cpu}; memory {mem}; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable}); SQLite {sqlite3.sqlite_version}; "
        f"{ssl.OPENSSL_VERSION}",
        f"- {versions}",
        f"- batchverify tree: git {commit or 'unknown'} (plus any uncommitted changes)",
    ]


# --------------------------------------------------------------------------------------------------
# Context: simulators shared between sections


class Context:
    def __init__(self, sizes: Sizes, repeats: int | None) -> None:
        self.sizes = sizes
        self.repeats_override = repeats
        self.report = Report(sizes)
        self._sims: dict[str, Simulator] = {}
        self.ceiling_runs: list[dict[str, Any]] = []
        self.numbers_csv: Path | None = None

    def repeats(self, default: int) -> int:
        return self.repeats_override or default

    def sim(self, name: str) -> Simulator:
        if name not in self._sims:
            if name == "strict":
                sim = Simulator("strict", rate_limit=20, latency_ms=(50, 250), seed=7)
            elif name == "faults":
                sim = Simulator("faults", rate_limit=20, latency_ms=(50, 250), faults=0.05, seed=7)
            else:
                sim = Simulator("unlimited", rate_limit=0, latency_ms=(0, 0), seed=7)
            self._sims[name] = sim.start()
        return self._sims[name]

    def stop_sim(self, name: str) -> None:
        sim = self._sims.pop(name, None)
        if sim is not None:
            sim.stop()

    def close(self) -> None:
        for name in list(self._sims):
            self.stop_sim(name)

    def ceiling_input(self) -> Path:
        if self.numbers_csv is None:
            numbers = datagen.distinct_numbers(self.sizes.ceiling_numbers, seed=101)
            self.numbers_csv = datagen.numbers_csv(WORK / "ceiling" / "numbers.csv", numbers)
        return self.numbers_csv


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# 1. The ceiling


def bv_ceiling_run(ctx: Context, sim: Simulator, label: str) -> dict[str, Any]:
    inp = ctx.ceiling_input()
    output = inp.with_name(f"{inp.stem}.verified.csv")
    clean_output(output)
    sim.reset()
    m, summary = run_batchverify(sim, inp, label)
    led = ledger_numbers(sim.ledger())
    counts = output_statuses(output) if output.exists() else Counter()
    rows = sum(counts.values())
    final = final_rows(counts)
    return {
        "label": label,
        "exit": m.returncode,
        "wall": m.wall,
        "cpu": m.cpu,
        "maxrss_mb": m.maxrss_mb,
        "steal": m.steal,
        "rows": rows,
        "final": final,
        "finished_per_s": final / m.wall,
        "statuses": dict(counts),
        "retries": summary.get("retries"),
        "bv_rate": summary.get("achieved_rate"),
        **led,
    }


def section_ceiling(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    n = sizes.ceiling_numbers
    rep.add("## 1. The ceiling", "")
    rep.add(f"Before: {machine_state()}.", "")
    sim = ctx.sim("strict")
    rep.add(
        f"{n:,} distinct numbers, simulator {sim.describe()}; `batchverify run` with its defaults "
        "(`--rate 20 --concurrency 50`). Rate = accepted requests per second from the first to the "
        "last accepted request in the simulator's ledger; max in 1 s = the ledger's largest count of "
        "arrivals (accepted) in any sliding one-second window.",
        "",
    )
    runs = []
    for i in range(ctx.repeats(sizes.ceiling_repeats)):
        progress(f"§1 batchverify run {i + 1}")
        runs.append(bv_ceiling_run(ctx, sim, f"ceiling-{i + 1}"))
    ctx.ceiling_runs = runs
    rep.raw["ceiling"] = runs
    rep.table(
        (
            "run",
            "requests",
            "rate /s",
            "share of 20",
            "RequestLimitExceeded",
            "max in 1 s (accepted)",
            "final rows",
            "wall s",
            "CPU s",
            "peak RSS MiB",
            "steal %",
        ),
        [
            (
                r["label"],
                r["requests"],
                _f(r["rate"], 3),
                _f(r["share"], 4),
                r["rle"],
                f"{r['max_in_1s']} ({r['max_accepted_in_1s']})",
                f"{r['final']}/{r['rows']}",
                _f(r["wall"], 1),
                _f(r["cpu"], 2),
                _f(r["maxrss_mb"], 0),
                f"{r['steal'] * 100:.0f}",
            )
            for r in runs
        ],
    )
    med = _median_run(runs, "rate")
    total_rle = sum(r["rle"] for r in runs)
    rep.target(
        "ceiling",
        "rate ≥ 0.98 of the cap (19.6/s), median",
        f"{_f(med['rate'], 3)}/s = {_f(med['share'], 4)} of 20",
        med["share"] >= 0.98,
    )
    rep.target(
        "ceiling",
        "zero RequestLimitExceeded",
        f"{total_rle} in {len(runs)} runs; max {max(r['max_in_1s'] for r in runs)} arrivals in any 1 s",
        total_rle == 0,
    )
    all_final = all(r["final"] == r["rows"] == n for r in runs)
    rep.target("ceiling", "every row final", f"{med['final']}/{n} (median run)", all_final)

    # aiolimiter side by side, same simulator.
    alim_rows = []
    for max_rate, period in ((20.0, 1.0), (1.0, 0.05)):
        label = f"AsyncLimiter({max_rate:g}, {period:g})"
        progress(f"§1 {label}")
        sim.reset()
        out = LOGS / f"aiolimiter-{max_rate:g}-{period:g}.json"
        m = run_measured(
            [
                PYTHON,
                "-m",
                "bench.peers.aiolimiter_client",
                "--endpoint",
                sim.host,
                "--numbers",
                str(ctx.ceiling_input()),
                "--out",
                str(out),
                "--limit",
                str(sizes.aiolimiter_numbers),
                "--max-rate",
                str(max_rate),
                "--period",
                str(period),
            ],
            env=child_env(),
            log_name=f"aiolimiter-{max_rate:g}-{period:g}",
        )
        led = ledger_numbers(sim.ledger())
        peer = json.loads(out.read_text()) if out.exists() else {}
        alim_rows.append(
            {"label": label, "exit": m.returncode, "wall": m.wall, "steal": m.steal, **led, "peer": peer}
        )
    rep.raw["aiolimiter"] = alim_rows

    # Faults.
    fsim = ctx.sim("faults")
    fault_runs = []
    for i in range(ctx.repeats(sizes.faults_repeats)):
        progress(f"§1 batchverify with faults, run {i + 1}")
        fault_runs.append(bv_ceiling_run(ctx, fsim, f"faults-{i + 1}"))
    ctx.stop_sim("faults")
    rep.raw["faults"] = fault_runs
    fmed = _median_run(fault_runs, "rate")
    rep.add(f"With `--faults 0.05` (simulator {fsim.describe()}):", "")
    rep.table(
        (
            "run",
            "requests",
            "faults injected",
            "retries",
            "rate /s",
            "share of 20",
            "RequestLimitExceeded",
            "max in 1 s",
            "final rows",
            "billed (numbers billed twice)",
            "wall s",
            "steal %",
        ),
        [
            (
                r["label"],
                r["requests"],
                r["faults"],
                r["retries"],
                _f(r["rate"], 3),
                _f(r["share"], 4),
                r["rle"],
                r["max_in_1s"],
                f"{r['final']}/{r['rows']}",
                f"{r['billed']} ({r['billed_twice']})",
                _f(r["wall"], 1),
                f"{r['steal'] * 100:.0f}",
            )
            for r in fault_runs
        ],
    )
    rep.target(
        "ceiling",
        "with --faults 0.05: every row final",
        f"{fmed['final']}/{fmed['rows']}",
        all(r["final"] == r["rows"] == n for r in fault_runs),
    )
    rep.target(
        "ceiling",
        "with --faults 0.05: rate > 0.9 of the cap (18/s)",
        f"{_f(fmed['rate'], 3)}/s = {_f(fmed['share'], 4)}",
        fmed["share"] > 0.9,
    )
    rep.add(
        f"aiolimiter side by side (same strict simulator, first {sizes.aiolimiter_numbers} of the "
        "numbers, 50 workers, batchverify's signed aiohttp client, no retries; one run each):",
        "",
    )
    rep.table(
        (
            "limiter",
            "requests",
            "rate /s",
            "share of 20",
            "RequestLimitExceeded",
            "max in 1 s (accepted)",
            "steal %",
        ),
        [
            (
                a["label"],
                a["requests"],
                _f(a["rate"], 3),
                _f(a["share"], 4),
                a["rle"],
                f"{a['max_in_1s']} ({a['max_accepted_in_1s']})",
                f"{a['steal'] * 100:.0f}",
            )
            for a in [*alim_rows, {**med, "label": "batchverify SlidingWindowLimiter (median run above)"}]
        ],
    )
    rep.add("Targets:", "")
    rep.targets_table("ceiling")
    rep.add(f"After: {machine_state()}.", "")


# --------------------------------------------------------------------------------------------------
# 2. Peers


PEERS = (
    ("official sync SDK, plain loop", "bench.peers.sdk_sync_loop"),
    ("official async SDK, gather + Semaphore(20), no limiter", "bench.peers.sdk_async_gather"),
    ("official SDK StandardRetryer(3), 20 threads", "bench.peers.sdk_retryer_pool"),
)


def section_peers(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    n = sizes.ceiling_numbers
    rep.add("## 2. Against what users would write instead", "")
    rep.add(f"Before: {machine_state()}.", "")
    sim = ctx.sim("strict")
    inp = ctx.ceiling_input()
    if ctx.ceiling_runs:
        bv = _median_run(ctx.ceiling_runs, "finished_per_s")
        bv_note = f"batchverify: the median (by finished rows/s) of the {len(ctx.ceiling_runs)} runs of §1"
    else:
        progress("§2 batchverify run")
        bv = bv_ceiling_run(ctx, sim, "peers-batchverify")
        bv_note = "batchverify: one run"
    rows = [
        {
            "who": "**batchverify**",
            "wall": bv["wall"],
            "final": bv["final"],
            "rows": bv["rows"],
            "finished_per_s": bv["finished_per_s"],
            "rle": bv["rle"],
            "billed": bv["billed"],
            "billed_twice": bv["billed_twice"],
            "maxrss_mb": bv["maxrss_mb"],
            "cpu": bv["cpu"],
            "steal": bv["steal"],
            "outcomes": bv["statuses"],
        }
    ]
    # batchverify finishes in one run: its row here is its row above.
    completions = [{"passes": 1, **rows[0]}]
    for who, module in PEERS:
        progress(f"§2 {who}")
        sim.reset()
        m, peer = _peer_pass(sim, module, inp, module.rsplit(".", 1)[1])
        led = ledger_numbers(sim.ledger())
        rows.append(
            {
                "who": who,
                "exit": m.returncode,
                "wall": m.wall,
                "final": peer["finished"],
                "rows": n,
                "finished_per_s": peer["finished"] / m.wall,
                "rle": led["rle"],
                "billed": led["billed"],
                "billed_twice": led["billed_twice"],
                "maxrss_mb": m.maxrss_mb,
                "cpu": m.cpu,
                "steal": m.steal,
                "outcomes": peer["outcomes"],
            }
        )
        completions.append(_peer_until_done(ctx, sim, who, module, n, m, peer))
    rep.raw["peers"] = rows
    rep.raw["peers_until_done"] = completions
    rep.add(
        f"The same {n:,} numbers, the same strict simulator ({sim.describe()}), one run of each peer "
        f"(the sync loop alone takes minutes); {bv_note}. Finished = rows that ended with a final "
        "answer (a business Result other than -3/-4, not an exception); finished/s = finished rows "
        "divided by the process's wall time, start-up included. RequestLimitExceeded and billed "
        "calls are the simulator's ledger; peak RSS is the process's own (`wait4`).",
        "",
    )
    rep.table(
        (
            "client",
            "wall s",
            "finished rows",
            "share final",
            "finished /s",
            "RequestLimitExceeded",
            "billed calls (numbers billed twice)",
            "peak RSS MiB",
            "CPU s",
            "steal %",
        ),
        [
            (
                r["who"],
                _f(r["wall"], 1),
                f"{r['final']}/{r['rows']}",
                _f(r["final"] / r["rows"] if r["rows"] else 0, 3),
                _f(r["finished_per_s"], 2),
                r["rle"],
                f"{r['billed']} ({r['billed_twice']})",
                _f(r["maxrss_mb"], 0),
                _f(r["cpu"], 2),
                f"{r['steal'] * 100:.0f}",
            )
            for r in rows
        ],
    )
    rep.add("How each peer's rows ended:", "")
    for r in rows[1:]:
        outcomes = ", ".join(f"{k} {v}" for k, v in r["outcomes"].items())
        rep.add(f"- {r['who']}: {outcomes}")
    rep.add("")
    me = rows[0]
    rep.target("peers", "batchverify finishes every row", f"{me['final']}/{me['rows']}", me["final"] == n)
    rep.target("peers", "batchverify never rate-limited", f"{me['rle']} RequestLimitExceeded", me["rle"] == 0)
    for r in rows[1:]:
        rep.target(
            "peers",
            f"finished/s above: {r['who']}",
            f"{_f(me['finished_per_s'], 2)} vs {_f(r['finished_per_s'], 2)} "
            f"(×{_f(me['finished_per_s'] / r['finished_per_s'], 2) if r['finished_per_s'] else '∞'})",
            me["finished_per_s"] > r["finished_per_s"],
        )
    rep.add(
        "**Until every row is final.** A peer that leaves rows without an answer has to be run "
        "again on those rows, as its user would (the same script, a new process, on the numbers "
        "it left, without resetting the simulator, so billing and rejections add up across the "
        f"passes), for at most {sizes.rerun_budget_s} s of reruns per peer. Total wall = the sum of "
        "the passes' process wall times; finished/s = final rows / total wall.",
        "",
    )
    rep.table(
        (
            "client",
            "passes",
            "final rows",
            "total wall s",
            "finished /s",
            "RequestLimitExceeded",
            "billed calls (numbers billed twice)",
        ),
        [
            (
                c["who"],
                c["passes"],
                f"{c['final']}/{c['rows']}",
                _f(c["wall"], 1),
                _f(c["final"] / c["wall"] if c["wall"] else 0, 2),
                c["rle"],
                f"{c['billed']} ({c['billed_twice']})",
            )
            for c in completions
        ],
    )
    mine = completions[0]
    for c in completions[1:]:
        done = c["final"] == c["rows"]
        mine_time, their_time = mine["wall"], c["wall"]
        rep.target(
            "peers",
            f"every row final sooner than: {c['who']} (run again on the rows it left)",
            f"{_f(mine_time, 1)} s vs "
            + (
                f"{_f(their_time, 1)} s in {_runs(c['passes'])}"
                if done
                else f"{c['final']}/{c['rows']} after {_runs(c['passes'])}, {_f(their_time, 1)} s"
            ),
            mine["final"] == mine["rows"] and (not done or mine_time < their_time),
        )
    rep.add("Targets:", "")
    rep.targets_table("peers")
    rep.add(f"After: {machine_state()}.", "")


def _runs(count: int) -> str:
    return "1 run" if count == 1 else f"{count} runs"


def _peer_pass(
    sim: Simulator, module: str, numbers_csv: Path, log_name: str, timeout: float = 3600.0
) -> tuple[Measured, dict[str, Any]]:
    """One run of a peer script on ``numbers_csv``: its measurements and its JSON report.

    A run killed at ``timeout`` leaves no report: what it answered is lost, as for its user.
    """
    out = LOGS / f"{log_name}.json"
    out.unlink(missing_ok=True)
    m = run_measured(
        [PYTHON, "-m", module, "--endpoint", sim.host, "--numbers", str(numbers_csv), "--out", str(out)],
        env=child_env(),
        log_name=log_name,
        timeout=timeout,
    )
    if out.exists():
        return m, json.loads(out.read_text())
    return m, {"finished": 0, "rows": 0, "unfinished": [], "outcomes": {}}


def _peer_until_done(
    ctx: Context, sim: Simulator, who: str, module: str, n: int, first: Measured, peer: dict[str, Any]
) -> dict[str, Any]:
    """Run the peer again on the rows it left until each has a final answer or the budget is spent."""
    final, wall, passes = peer["finished"], first.wall, 1
    left: list[str] = peer.get("unfinished", [])
    name = module.rsplit(".", 1)[1]
    budget_end = time.perf_counter() + ctx.sizes.rerun_budget_s
    while left and time.perf_counter() < budget_end and passes < 200:
        passes += 1
        if passes % 5 == 2:
            progress(f"§2 {who}: pass {passes}, {len(left)} rows left")
        rest = WORK / "peers" / f"{name}-left.csv"
        rest.parent.mkdir(parents=True, exist_ok=True)
        with rest.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["mobile"])
            writer.writerows([number] for number in left)
        # The budget bounds each rerun too, so one slow pass cannot run far past it.
        remaining = max(1.0, budget_end - time.perf_counter())
        m, again = _peer_pass(sim, module, rest, f"{name}-pass", timeout=remaining)
        wall += m.wall
        final += again["finished"]
        if again["rows"] != len(left):  # the script died: stop rather than loop on it
            break
        left = again["unfinished"]
    led = ledger_numbers(sim.ledger())
    return {
        "who": who,
        "passes": passes,
        "final": final,
        "rows": n,
        "wall": wall,
        "rle": led["rle"],
        "billed": led["billed"],
        "billed_twice": led["billed_twice"],
    }


# --------------------------------------------------------------------------------------------------
# 3. Headroom


def section_headroom(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    n = sizes.headroom_numbers
    rep.add("## 3. Headroom: the pipeline is never the bottleneck", "")
    rep.add(f"Before: {machine_state()}.", "")
    sim = ctx.sim("unlimited")
    numbers = datagen.distinct_numbers(n, seed=303)
    inp = datagen.numbers_csv(WORK / "headroom" / "numbers.csv", numbers)
    output = inp.with_name(f"{inp.stem}.verified.csv")
    runs = []
    for i in range(ctx.repeats(sizes.headroom_repeats)):
        progress(f"§3 run {i + 1}")
        clean_output(output)
        sim.reset()
        sim_cpu0 = sim.cpu_seconds()
        m, summary = run_batchverify(sim, inp, f"headroom-{i + 1}", "--rate", "100000")
        sim_cpu = sim.cpu_seconds() - sim_cpu0
        led = ledger_numbers(sim.ledger())
        counts = output_statuses(output) if output.exists() else Counter()
        runs.append(
            {
                "label": f"headroom-{i + 1}",
                "exit": m.returncode,
                "wall": m.wall,
                "rows_per_s": n / m.wall,
                "cpu": m.cpu,
                "user": m.user,
                "sys": m.sys,
                "cpu_ms_per_row": m.cpu * 1000 / n,
                "maxrss_mb": m.maxrss_mb,
                "requests": led["requests"],
                "send_rate": summary.get("achieved_rate"),
                "final": final_rows(counts),
                "sim_cpu": sim_cpu,
                "steal": m.steal,
            }
        )
    rep.raw["headroom"] = runs
    rep.add(
        f"{n:,} distinct numbers; simulator {sim.describe()} (its own process; its CPU is shown "
        "but not counted); `batchverify run --rate 100000` (default `--concurrency 50`). "
        "Rows/s = rows / process wall time (start-up, scan, sending, writing); CPU = user + sys "
        "of the batchverify process from `wait4`.",
        "",
    )
    rep.table(
        (
            "run",
            "wall s",
            "rows/s end to end",
            "send rate /s",
            "CPU s (user+sys)",
            "CPU ms/row",
            "peak RSS MiB",
            "final rows",
            "simulator CPU s",
            "steal %",
        ),
        [
            (
                r["label"],
                _f(r["wall"], 2),
                _f(r["rows_per_s"], 0),
                r["send_rate"],
                f"{_f(r['cpu'], 2)} ({_f(r['user'], 2)}+{_f(r['sys'], 2)})",
                _f(r["cpu_ms_per_row"], 3),
                _f(r["maxrss_mb"], 0),
                f"{r['final']}/{n}",
                _f(r["sim_cpu"], 2),
                f"{r['steal'] * 100:.0f}",
            )
            for r in runs
        ],
    )
    med = _median_run(runs, "cpu_ms_per_row")
    rep.target(
        "headroom",
        "CPU < 0.5 ms per row (median)",
        f"{_f(med['cpu_ms_per_row'], 3)} ms/row → 20/s costs {_f(med['cpu_ms_per_row'] * 20 / 10, 2)} % "
        "of one core",
        med["cpu_ms_per_row"] < 0.5,
    )
    rep.target(
        "headroom",
        "pipeline far above 20 rows/s (median rows/s end to end)",
        f"{_f(_median([r['rows_per_s'] for r in runs]), 0)} rows/s",
        _median([r["rows_per_s"] for r in runs]) > 10 * CAP,
    )
    if ctx.ceiling_runs:
        c = _median_run(ctx.ceiling_runs, "cpu")
        rep.add(
            f"Cross-check at the real rate (§1, median run): {_f(c['cpu'], 2)} s of CPU for "
            f"{c['rows']} rows in {_f(c['wall'], 1)} s = {_f(c['cpu'] * 1000 / max(c['rows'], 1), 3)} ms "
            f"per row, {_f(c['cpu'] / c['wall'] * 100, 2)} % of one core (start-up included).",
            "",
        )

    # Start-up alone: the imports and TLS contexts every run pays once.
    progress("§3 start-up")
    starts = [
        run_measured(batchverify("--version"), env=child_env(), log_name=f"startup-{i + 1}") for i in range(3)
    ]
    start_cpu = _median([m.cpu for m in starts])
    start_wall = _median([m.wall for m in starts])
    rep.raw["startup"] = {"cpu": start_cpu, "wall": start_wall}
    rep.add(
        f"Start-up alone (`batchverify --version`: interpreter, imports, aiohttp's TLS contexts; "
        f"median of 3): {_f(start_wall, 2)} s wall, {_f(start_cpu, 2)} s CPU. Without it the median "
        f"run costs {_f((med['cpu'] - start_cpu) * 1000 / n, 3)} ms of CPU per row.",
        "",
    )

    # Where the CPU goes: component micro-benchmarks and a cProfile run.
    progress("§3 components")
    comp = run_measured(
        [PYTHON, "-m", "bench.probes", "components", "--count", str(sizes.component_count)],
        env=child_env(),
        log_name="components",
    )
    components = json.loads(comp.stdout) if comp.returncode == 0 else {}
    rep.raw["components"] = components
    progress("§3 profiled run")
    clean_output(output)
    sim.reset()
    run_args = ["run", str(inp), "--column", "mobile", "--yes", "--progress", "off", "--rate", "100000"]
    pm, profile = profiled(run_args, child_env(sim.url), n, "headroom")
    rep.raw["profile"] = profile
    rep.add(
        "Where the CPU goes. CPU per call of the per-number pieces, each in a tight loop "
        f"(`python -m bench.probes components`, {sizes.component_count:,} calls each); a row costs "
        "normalize twice (scan and write), one build_request, one parse_reply, classify, "
        "utc_now_iso three times, one mark_inflight and one record, plus aiohttp and asyncio:",
        "",
    )
    rep.table(("piece", "µs per call"), [(k, _f(v, 1)) for k, v in components.items()])
    if profile:
        rep.add(f"One more run under cProfile ({_f(pm.wall, 1)} s wall, {_f(pm.cpu, 2)} s CPU).", "")
        profile_tables(rep, profile)
    rep.add("Targets:", "")
    rep.targets_table("headroom")
    rep.add(f"After: {machine_state()}.", "")


def profiled(
    run_args: list[str], env: dict[str, str], rows: int, label: str
) -> tuple[Measured, dict[str, Any]]:
    """``batchverify RUN_ARGS`` under cProfile, and the summary of where its time went."""
    prof = LOGS / f"{label}.pstats"
    prof.unlink(missing_ok=True)
    argv = [PYTHON, "-m", "cProfile", "-o", str(prof), "-m", "batchverify", *run_args]
    pm = run_measured(argv, env=env, log_name=f"{label}-profiled")
    if not prof.exists():
        return pm, {}
    summary = run_measured(
        [PYTHON, "-m", "bench.probes", "profile", str(prof), "--rows", str(rows)],
        env=child_env(),
        log_name=f"{label}-profile-summary",
    )
    return pm, json.loads(summary.stdout) if summary.returncode == 0 else {}


def profile_tables(rep: Report, profile: dict[str, Any], top: int = 15) -> None:
    """Own time by area, chosen functions and the top functions of a profiled run."""
    rep.add(
        "The profiler's own overhead inflates many small calls: read the shares more than the "
        "absolute times. Own time by area, per row:",
        "",
    )
    rep.table(
        ("area", "own s", "share", "µs per row"),
        [
            (a["area"], _f(a["own_s"], 2), f"{a['share'] * 100:.1f} %", _f(a["us_per_row"], 1))
            for a in profile["areas"][:16]
        ],
    )
    rep.add("Cumulative time of chosen functions (a coroutine's time counts only while it runs):", "")
    rep.table(
        ("function", "cumulative s", "µs per row"),
        [(c["what"], _f(c["cum_s"], 2), _f(c["us_per_row"], 1)) for c in profile["chosen"]],
    )
    rep.add("Top functions by own time:", "")
    rep.table(
        ("function", "own s", "share", "µs per row"),
        [
            (f"`{t['function']}`", _f(t["own_s"], 2), f"{t['share'] * 100:.1f} %", _f(t["us_per_row"], 1))
            for t in profile["top_own"][:top]
        ],
    )


# --------------------------------------------------------------------------------------------------
# 4. Scale


def _timed(label: str, fn: Callable[[], Path]) -> tuple[Path, float]:
    t0 = time.perf_counter()
    path = fn()
    return path, time.perf_counter() - t0


def section_scale(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    rows, xrows, reps = sizes.csv_rows, sizes.xlsx_rows, ctx.repeats(sizes.scale_repeats)
    rep.add("## 4. Scale", "")
    rep.add(f"Before: {machine_state()}.", "")
    d = WORK / "scale"
    progress("§4 generating inputs")
    big_csv, t_csv = _timed(
        "csv",
        lambda: datagen.people_csv(
            d / f"people-{rows}.csv", rows, dup_share=0.10, invalid_share=0.02, seed=11
        ),
    )
    big_xlsx, t_xlsx = _timed(
        "xlsx",
        lambda: datagen.people_xlsx(
            d / f"people-{xrows}.xlsx", xrows, dup_share=0.10, invalid_share=0.02, seed=12
        ),
    )
    resume_csv, t_res = _timed(
        "resume",
        lambda: datagen.people_csv(d / f"resume-{rows}.csv", rows, dup_share=0.0, invalid_share=0.0, seed=13),
    )
    rep.add(
        f"Generated inputs (bench/work/scale/, not committed; reused when already there): "
        f"{big_csv.name} ({rows:,} rows × 10 columns, {big_csv.stat().st_size / 1e6:.0f} MB, 10 % "
        f"duplicates, 2 % invalid; {_f(t_csv, 1)} s), {big_xlsx.name} ({xrows:,} rows × 8 columns, "
        f"{big_xlsx.stat().st_size / 1e6:.0f} MB, same mix, 70 % of phones numeric cells; "
        f"{_f(t_xlsx, 1)} s), {resume_csv.name} ({rows:,} distinct numbers; {_f(t_res, 1)} s).",
        "",
    )
    sim = ctx.sim("unlimited")
    env = child_env(sim.url)

    # Dry runs.
    dry: dict[str, list[Measured]] = {"csv": [], "xlsx": []}
    for kind, path in (("csv", big_csv), ("xlsx", big_xlsx)):
        for i in range(reps):
            progress(f"§4 dry run {kind} {i + 1}")
            m = run_measured(
                batchverify("run", str(path), "--column", "mobile", "--dry-run", "--progress", "off"),
                env=env,
                log_name=f"dry-{kind}-{i + 1}",
            )
            dry[kind].append(m)
    plan_lines = {
        k: next((ln for ln in v[0].stdout.splitlines() if ln.startswith("plan:")), "") for k, v in dry.items()
    }
    rep.add(f"**`--dry-run`** ({reps} runs each; median wall, largest peak RSS):", "")
    rep.table(
        ("input", "wall s (runs)", "peak RSS MiB", "steal % (runs)", "plan line"),
        [
            (
                name,
                f"{_f(_median([m.wall for m in dry[k]]), 2)} ({', '.join(_f(m.wall, 2) for m in dry[k])})",
                _f(max(m.maxrss_mb for m in dry[k]), 0),
                ", ".join(f"{m.steal * 100:.0f}" for m in dry[k]),
                plan_lines[k].replace("|", "/")[:160],
            )
            for k, name in (("csv", f"CSV {rows:,} rows"), ("xlsx", f"XLSX {xrows:,} rows"))
        ],
    )
    rep.raw["dry"] = {
        k: [{"wall": m.wall, "rss": m.maxrss_mb, "cpu": m.cpu, "steal": m.steal} for m in v]
        for k, v in dry.items()
    }
    rep.raw["dry_rows"] = {"csv": rows, "xlsx": xrows}
    csv_wall = _median([m.wall for m in dry["csv"]])
    csv_rss = max(m.maxrss_mb for m in dry["csv"])
    xlsx_wall = _median([m.wall for m in dry["xlsx"]])
    rep.target("scale", f"dry run CSV ({rows:,} rows) under 15 s", f"{_f(csv_wall, 2)} s", csv_wall < 15)
    rep.target("scale", f"dry run CSV ({rows:,} rows) under 300 MB", f"{_f(csv_rss, 0)} MiB", csv_rss < 300)
    rep.target("scale", f"dry run XLSX ({xrows:,} rows) under 10 s", f"{_f(xlsx_wall, 2)} s", xlsx_wall < 10)
    for kind, path, n_rows, missed in (
        ("csv", big_csv, rows, csv_wall >= 15),
        ("xlsx", big_xlsx, xrows, xlsx_wall >= 10),
    ):
        if missed:
            progress(f"§4 profiling the {kind} dry run")
            pm, prof = profiled(
                ["run", str(path), "--column", "mobile", "--dry-run", "--progress", "off"],
                env,
                n_rows,
                f"dry-{kind}",
            )
            if prof:
                rep.add(
                    f"The {kind.upper()} dry run missed its target, so it ran once more under cProfile "
                    f"({_f(pm.wall, 1)} s wall):",
                    "",
                )
                profile_tables(rep, prof, top=12)

    # Writing the output of a finished job.
    progress("§4 seeding the store of a finished job")
    template = d / f"people-{rows}.finished.template.sqlite"
    t0 = time.perf_counter()
    seeded = store.seed_store(template, datagen.read_distinct(big_csv))
    t_seed = time.perf_counter() - t0
    output = big_csv.with_name(f"{big_csv.stem}.verified.csv")
    writes = []
    for i in range(reps):
        progress(f"§4 writing a finished job {i + 1}")
        output.unlink(missing_ok=True)
        store.install_store(template, output)
        sim.reset()
        m, summary = run_batchverify(sim, big_csv, f"write-{i + 1}")
        sent = sim.ledger()["requests"]
        counts = output_statuses(output) if output.exists() else Counter()
        writes.append({"m": m, "sent": sent, "counts": counts, "summary": summary})
    rep.raw["write"] = [
        {"wall": w["m"].wall, "rss": w["m"].maxrss_mb, "sent": w["sent"], "counts": dict(w["counts"])}
        for w in writes
    ]
    w0 = writes[0]
    rep.add(
        f"**Writing the output of a finished {rows:,}-row job**: the store seeded directly with "
        f"{seeded:,} final answers, one per distinct number, job left open ({_f(t_seed, 1)} s), "
        f"copied in before each run; `batchverify run` then has nothing to send and writes "
        f"{big_csv.stem}.verified.csv. Requests sent: {', '.join(str(w['sent']) for w in writes)}. "
        f"Rows by status: {dict(w0['counts'].most_common())}.",
        "",
    )
    rep.table(
        ("run", "wall s", "CPU s", "peak RSS MiB", "rows written", "steal %"),
        [
            (
                i + 1,
                _f(w["m"].wall, 2),
                _f(w["m"].cpu, 2),
                _f(w["m"].maxrss_mb, 0),
                sum(w["counts"].values()),
                f"{w['m'].steal * 100:.0f}",
            )
            for i, w in enumerate(writes)
        ],
    )
    write_rss = max(w["m"].maxrss_mb for w in writes)
    rep.target(
        "scale",
        f"writing a finished {rows:,}-row job under 500 MB",
        f"{_f(write_rss, 0)} MiB (largest); wall {_f(_median([w['m'].wall for w in writes]), 2)} s (median)",
        write_rss < 500 and all(w["sent"] == 0 and sum(w["counts"].values()) == rows for w in writes),
    )

    # The same for an XLSX job: no target, but the README quotes what a big workbook costs.
    progress("§4 writing a finished XLSX job")
    x_template = d / f"people-{xrows}.finished.template.sqlite"
    store.seed_store(x_template, datagen.read_distinct(big_xlsx))
    x_output = big_xlsx.with_name(f"{big_xlsx.stem}.verified.xlsx")
    x_output.unlink(missing_ok=True)
    store.install_store(x_template, x_output)
    sim.reset()
    xm, xsummary = run_batchverify(sim, big_xlsx, "write-xlsx")
    x_sent = sim.ledger()["requests"]
    x_size_mb = x_output.stat().st_size / 1e6 if x_output.exists() else 0.0
    rep.raw["write_xlsx"] = {
        "rows": xrows,
        "wall": xm.wall,
        "cpu": xm.cpu,
        "rss": xm.maxrss_mb,
        "sent": x_sent,
        "exit": xm.returncode,
        "size_mb": x_size_mb,
    }
    rep.add(
        f"**Writing the output of a finished {xrows:,}-row XLSX job** (no target; one run; the same "
        f"seeding, {big_xlsx.name}): the workbook is edited in place with openpyxl, which holds it "
        f"whole in memory. Requests sent: {x_sent}; exit {xm.returncode}; rows in the summary: "
        f"{int(xsummary.get('rows', 0)):,}.",
        "",
    )
    rep.table(
        ("rows", "wall s", "CPU s", "peak RSS MiB", "output MB", "steal %"),
        [
            (
                f"{xrows:,}",
                _f(xm.wall, 1),
                _f(xm.cpu, 1),
                _f(xm.maxrss_mb, 0),
                _f(x_size_mb, 1),
                f"{xm.steal * 100:.0f}",
            )
        ],
    )

    # Resume: time until the first new request.
    progress("§4 seeding the store of a 99 % finished job")
    distinct = datagen.read_distinct(resume_csv)
    answered = [n for i, n in enumerate(distinct) if i % 100 != 99]
    res_template = d / f"resume-{rows}.template.sqlite"
    t0 = time.perf_counter()
    res_seeded = store.seed_store(res_template, answered)
    t_res_seed = time.perf_counter() - t0
    res_output = resume_csv.with_name(f"{resume_csv.stem}.verified.csv")
    resumes = []
    for i in range(reps):
        progress(f"§4 resume {i + 1}")
        res_output.unlink(missing_ok=True)
        store.install_store(res_template, res_output)
        sim.reset()
        first: dict[str, float] = {}

        def wait_first(
            proc: subprocess.Popen[bytes], started: float, first: dict[str, float] = first, run: int = i + 1
        ) -> None:
            deadline = time.monotonic() + 600
            log = LOGS / f"resume-{run}.out"
            while time.monotonic() < deadline and proc.poll() is None:
                if "plan" not in first and log.exists() and "plan:" in log.read_text(errors="replace"):
                    first["plan"] = time.time() - started
                at = sim.ledger()["first_request_at"]
                if at is not None:
                    first["at"] = float(at) - started  # type: ignore[arg-type]
                    proc.send_signal(signal.SIGKILL)
                    return
                time.sleep(0.05)

        m, _ = run_batchverify(
            sim, resume_csv, f"resume-{i + 1}", "--rate", "100000", while_running=wait_first
        )
        resumes.append(
            {
                "to_first": first.get("at"),
                "plan": first.get("plan"),
                "rss": m.maxrss_mb,
                "exit": m.returncode,
                "steal": m.steal,
            }
        )
    rep.raw["resume"] = resumes
    rep.add(
        f"**Resume** of a {rows:,}-row job (all numbers distinct) with {res_seeded:,} answers stored "
        f"(every 100th number unanswered; seeding {_f(t_res_seed, 1)} s): time from starting "
        "`batchverify run` to the simulator's ledger `first_request_at`; the process is then killed. "
        "The plan line (printed once the input is scanned and the store read) is seen by polling the "
        "process's output every 50 ms.",
        "",
    )
    rep.table(
        (
            "run",
            "seconds to the plan line",
            "seconds to first new request",
            "peak RSS MiB by then",
            "steal %",
        ),
        [
            (
                i + 1,
                _f(r["plan"], 2) if r["plan"] is not None else "-",
                _f(r["to_first"], 2) if r["to_first"] is not None else "no request",
                _f(r["rss"], 0),
                f"{r['steal'] * 100:.0f}",
            )
            for i, r in enumerate(resumes)
        ],
    )
    firsts = [r["to_first"] for r in resumes if r["to_first"] is not None]
    to_first = _median(firsts) if firsts else float("inf")
    rep.target(
        "scale",
        f"resume of a {rows:,}-row job: first new request under 10 s",
        f"{_f(to_first, 2)} s (median)",
        len(firsts) == len(resumes) and to_first < 10,
    )
    if not (len(firsts) == len(resumes) and to_first < 10):
        progress("§4 profiling the resume's planning (a dry run on the same store)")
        store.install_store(res_template, res_output)
        pm, prof = profiled(
            ["run", str(resume_csv), "--column", "mobile", "--dry-run", "--progress", "off"],
            env,
            rows,
            "resume-plan",
        )
        if prof:
            rep.add(
                "The resume missed its target, so what a run does before its first request (scan the "
                "input, read the store, plan) ran once more as a dry run on the same store under "
                f"cProfile ({_f(pm.wall, 1)} s wall):",
                "",
            )
            profile_tables(rep, prof, top=12)

    # Per-answer checkpoint cost.
    progress("§4 checkpoint cost")
    probe_store = d / "checkpoint-probe.sqlite"
    store.remove_store(probe_store)
    shutil.copyfile(res_template, probe_store)
    pm = run_measured(
        [
            PYTHON,
            "-m",
            "bench.probes",
            "checkpoint",
            str(probe_store),
            "--answers",
            str(sizes.checkpoint_answers),
            "--paced",
            str(sizes.checkpoint_paced),
        ],
        env=child_env(),
        log_name="checkpoint-probe",
    )
    cp = json.loads(pm.stdout) if pm.returncode == 0 else {}
    rep.raw["checkpoint"] = cp

    # The same, in place: batchverify resuming that job against the strict simulator at 20/s.
    progress("§4 checkpoint cost in a real run at 20/s")
    strict = ctx.sim("strict")
    strict.reset()
    res_output.unlink(missing_ok=True)
    store.install_store(res_template, res_output)
    insitu_path = LOGS / "checkpoint-insitu.json"
    insitu_path.unlink(missing_ok=True)
    im = run_measured(
        [
            PYTHON,
            "-m",
            "bench.probes",
            "instrumented",
            "--stats",
            str(insitu_path),
            "--stop-after",
            str(sizes.insitu_answers),
            "--",
            "run",
            str(resume_csv),
            "--column",
            "mobile",
            "--yes",
            "--progress",
            "off",
        ],
        env=child_env(strict.url),
        log_name="checkpoint-insitu",
    )
    insitu = json.loads(insitu_path.read_text()) if insitu_path.exists() else {}
    rep.raw["checkpoint_insitu"] = insitu
    rep.add(
        "**Per-answer checkpoint cost.** What the sender does to the store for every answer: "
        "`mark_inflight` (one autocommit insert) before the call, `record` (one transaction) after "
        "it; WAL, synchronous=NORMAL. (a) In place: `batchverify run` resuming the "
        f"{res_seeded:,}-answer job above against the strict simulator (20/s, 50-250 ms), with "
        "those two calls timed inside the process (`python -m bench.probes instrumented`), stopped "
        f"after {sizes.insitu_answers} answers; share = time inside the two calls / wall time from "
        "the first call to the last. (b) The two calls alone on a copy of the same store, back to "
        "back and paced at 20/s (`python -m bench.probes checkpoint`); share = mean / 50 ms.",
        "",
    )
    table = []
    if insitu:
        table.append(
            (
                "(a) in a real run at 20/s",
                insitu["answers"],
                _f(insitu["mean_us"], 0),
                _f(insitu["p50_us"], 0),
                _f(insitu["p99_us"], 0),
                _f(insitu["max_us"], 0),
                f"{insitu['in_checkpoint_s'] / insitu['wall_s'] * 100:.3f} % "
                f"({_f(insitu['in_checkpoint_s'] * 1000, 1)} ms of {_f(insitu['wall_s'], 1)} s)",
            )
        )
    for mode, key in (("(b) back to back", "burst"), ("(b) paced 20/s", "paced")):
        if cp:
            st = cp[key]
            table.append(
                (
                    mode,
                    st["n"],
                    _f(st["mean_us"], 0),
                    _f(st["p50_us"], 0),
                    _f(st["p99_us"], 0),
                    _f(st["max_us"], 0),
                    f"{st['mean_us'] / 50_000 * 100:.3f} %",
                )
            )
    rep.table(
        ("measurement", "answers", "mean µs", "p50 µs", "p99 µs", "max µs", "share of wall time"), table
    )
    if insitu:
        share = insitu["in_checkpoint_s"] / insitu["wall_s"]
        rep.target(
            "scale",
            "per-answer checkpoint cost under 1 % of wall time at 20/s",
            f"{share * 100:.3f} % in a real run ({_f(insitu['mean_us'], 0)} µs per answer)",
            share < 0.01,
        )
    else:
        rep.target(
            "scale",
            "per-answer checkpoint cost under 1 % of wall time at 20/s",
            f"in-place measurement failed (exit {im.returncode}): {im.stderr.strip()[-160:]}",
            False,
        )
    rep.add("Targets:", "")
    rep.targets_table("scale")
    rep.add(f"After: {machine_state()}.", "")


# --------------------------------------------------------------------------------------------------


def write_results(state: dict[str, Any], path: Path) -> None:
    """Render RESULTS.md from a run's state (also saved as bench/work/state-<mode>.json)."""
    quick = state["mode"] == "quick"
    raw = state["raw"]
    targets = [Target(**t) for t in state["targets"]]
    head = [
        "# batchverify benchmarks" + (" (QUICK MODE: small sizes, indicative only)" if quick else ""),
        "",
        f"Written by `{'make bench-quick' if quick else 'make bench'}` (`python -m bench.run"
        f"{' --quick' if quick else ''}`) on {state['date']}; took {_f(state['minutes'], 1)} min. "
        f"Sections run: {', '.join(state['sections'])}.",
        "",
        "Everything runs against the local simulator (`python -m batchverify.simulator`, a separate "
        "process) on 127.0.0.1. Each measured program is its own process; wall time, CPU (user+sys) "
        "and peak RSS are that process's own (`os.wait4`). Absolute times depend on the machine and "
        "its load; ratios measured side by side in one run carry over. Benchmarks are not tests: "
        "nothing here runs under `make test`.",
        "",
        "## Machine",
        "",
        *state["machine"],
        f"- At the start: {raw.get('load_start', 'n/a')}. On an idle machine the CPU probe takes "
        "about 90 ms and steal is 0 %. Steal is CPU time the hypervisor gave to other virtual "
        "machines; this VM's load average does not show it, and it slows everything here. Steal over "
        f"the whole benchmark: {raw.get('steal_total', 0) * 100:.0f} %.",
        "",
    ]
    if quick:
        head += [
            "Quick mode uses smaller sizes than the targets assume (see `QUICK` in bench/run.py); the "
            "met/not met column is indicative only. The full figures are in bench/RESULTS.md.",
            "",
        ]
    summary = ["## Targets at a glance", "", "| section | target | measured | |", "|---|---|---|---|"]
    summary += [f"| {t.section} | {t.target} | {t.measured} | {_met(t.met)} |" for t in targets]
    summary.append("")
    text = "\n".join(head + summary + state["lines"] + notes.render(raw, targets, quick)).rstrip() + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (make bench-quick)")
    ap.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    ap.add_argument("--repeats", type=int, help="override every repeat count (debugging)")
    ap.add_argument(
        "--set", action="append", default=[], metavar="FIELD=N", help="override one size (debugging)"
    )
    ap.add_argument("--output", type=Path, help="where to write the results [default: bench/RESULTS*.md]")
    ap.add_argument(
        "--render", type=Path, metavar="STATE_JSON", help="only re-render the results of a saved run"
    )
    args = ap.parse_args(argv)
    if args.render:
        state = json.loads(args.render.read_text())
        output = args.output or ROOT / "bench" / (
            "RESULTS-quick.md" if state["mode"] == "quick" else "RESULTS.md"
        )
        write_results(state, output)
        progress(f"wrote {output}")
        return 0
    sizes = QUICK if args.quick else FULL
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in Sizes.__dataclass_fields__ or name == "mode":
            ap.error(f"--set: no size {name!r}")
        sizes = dataclasses.replace(sizes, **{name: int(value)})
    sections = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    output = args.output or ROOT / "bench" / ("RESULTS-quick.md" if args.quick else "RESULTS.md")
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ctx = Context(sizes, args.repeats)
    ctx.report.raw["load_start"] = machine_state()
    ticks0 = cpu_ticks()
    runners = {
        "ceiling": section_ceiling,
        "peers": section_peers,
        "headroom": section_headroom,
        "scale": section_scale,
    }
    try:
        for name in SECTIONS:
            if name not in sections:
                continue
            progress(f"section {name} (load average {loadavg()})")
            try:
                runners[name](ctx)
            except Exception as exc:  # one broken section must not lose the others' figures
                tb = traceback.format_exc(limit=3).strip().splitlines()
                progress(f"section {name} failed: {exc!r}")
                ctx.report.add(
                    "",
                    f"**Section {name} failed** ({type(exc).__name__}: {exc}); figures above this "
                    "line in the section are complete, the rest is missing:",
                    "",
                    "```",
                    *tb[-6:],
                    "```",
                    "",
                )
                ctx.report.target(name, f"section {name} ran to the end", "failed", False)
                ctx.report.raw.setdefault("failed", []).append(name)
            if name == "peers" or (name == "ceiling" and "peers" not in sections):
                ctx.stop_sim("strict")
    finally:
        ctx.close()
    raw = ctx.report.raw
    raw["steal_total"] = steal_share(ticks0, cpu_ticks())
    raw["states"] = list(STATES)
    state = {
        "mode": sizes.mode,
        "sections": sections,
        "date": f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "minutes": (time.perf_counter() - started) / 60,
        "machine": machine_info(),
        "lines": ctx.report.lines,
        "targets": [dataclasses.asdict(t) for t in ctx.report.targets],
        "raw": raw,
    }
    (WORK / f"state-{sizes.mode}.json").write_text(json.dumps(state, indent=1, default=str))
    write_results(state, output)
    progress(f"wrote {output} in {_f(state['minutes'], 1)} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
