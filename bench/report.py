"""What the sections of bench/run.py share: sizes, the report, the context and running batchverify.

The context holds the simulators shared between sections; run_batchverify, bv_ceiling_run and
profiled run batchverify as its own measured process and read back what it did.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sqlite3
import ssl
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from batchverify.models import Status
from bench import datagen, store
from bench.proc import (
    LOGS,
    PYTHON,
    ROOT,
    WORK,
    Measured,
    Simulator,
    batchverify,
    child_env,
    ledger_rate,
    run_measured,
)

CAP = 20.0


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
    gate_numbers: int = 1000  # §5: one job per gate and machine state
    three_numbers: int = 300  # §5: per job, three jobs at once
    lag_rows: int = 100_000  # §5: the XLSX job whose loop lag is measured
    lag_send: int = 400  # §5: numbers of it still to send
    startup_repeats: int = 10
    xlsx_write_rows: int = 200_000  # §6: the streamed workbook write, target size
    xlsx_limit_rows: int = 1_048_575  # §6: data rows of a sheet at Excel's row limit
    sharing_numbers: int = 1000  # §7: numbers per process, two processes on one key
    serve_numbers: int = 2000  # §8: numbers per upload
    serve_jobs: int = 5  # §8: uploads at once
    crowd_numbers: int = 600  # §7: numbers per process, three processes beside busy ones
    crowd_burners: int = 6  # §7: busy processes beside them (3 per core: oversubscribed)
    big_upload_rows: int = 300_000  # §8: rows per list, many large uploads at once
    big_uploads: int = 8  # §8: how many, from four client addresses at once
    stop_rows: int = 2_000_000  # §8: the list of the server's stop
    conditions_numbers: int = 600  # §9: numbers per condition (split between its processes)
    conditions_repeats: int = 2  # §9: runs of each condition


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
        f"- batchverify tree: git {commit or 'unknown'}, {_changes()}",
    ]


def _changes() -> str:
    """The tree's uncommitted changes, in words (the record and the bench's own work folder aside)."""
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:
        return "uncommitted changes unknown"
    changed = [
        line[3:]
        for line in status.splitlines()
        if line[3:] != "bench/RESULTS.md" and not line[3:].startswith("bench/work/")
    ]
    if not changed:
        return "a clean tree"
    return f"with uncommitted changes to {', '.join(changed[:20])}" + (" ..." if len(changed) > 20 else "")


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
# Runs shared between sections


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
