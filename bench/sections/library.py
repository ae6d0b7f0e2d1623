"""§5 of bench/run.py: the engine as a library (rate gates side by side, idle and loaded; three
concurrent jobs on one account; the loop's lag during a large XLSX job; the command line's start-up).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import statistics
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from bench import datagen, store
from bench.proc import (
    LOGS,
    PYTHON,
    ROOT,
    WORK,
    Simulator,
    child_env,
    cores_loaded,
    ledger_rate,
    machine_state,
    run_measured,
)
from bench.report import CAP, Context, _f, clean_output, progress

# The first release, for the start-up comparison (the last commit before the engine became a library).
BASELINE_COMMIT = "31d731a"


def _probe(sim: Simulator, log: str, *args: str) -> tuple[dict[str, Any], Any]:
    measured = run_measured(
        [PYTHON, "-m", "bench.libprobes", *args], env=child_env(sim.url), log_name=log, timeout=1800
    )
    if measured.returncode != 0:
        raise RuntimeError(f"probe {log} exited {measured.returncode}; see {LOGS / (log + '.err')}")
    out = (LOGS / f"{log}.out").read_text().strip().splitlines()[-1]
    return json.loads(out), measured


def _gates(ctx: Context, sim: Simulator, d: Path) -> None:
    rep, n = ctx.report, ctx.sizes.gate_numbers
    rows, raw = [], []
    for load in ("idle", "both cores loaded"):
        for kind in ("strict", "legacy"):
            progress(f"§5 gate {kind}, {load}")
            numbers = datagen.distinct_numbers(n, seed=501 + len(raw))
            inp = datagen.numbers_csv(d / f"gate-{len(raw)}.csv", numbers)
            out = d / f"gate-{len(raw)}.out.csv"
            clean_output(out)
            sim.reset()
            label = f"gate-{kind}-{'loaded' if load != 'idle' else 'idle'}"
            with cores_loaded(2) if load != "idle" else contextlib.nullcontext():
                result, measured = _probe(
                    sim,
                    label,
                    "gate",
                    "--url",
                    sim.url,
                    "--kind",
                    kind,
                    "--input",
                    str(inp),
                    "--output",
                    str(out),
                )
            ledger = sim.ledger()
            rate = ledger_rate(ledger)
            entry = {
                "kind": kind,
                "load": load,
                **result,
                "ledger_rate": rate.per_second,
                "max_in_1s": ledger["max_in_any_second"],
                "rle": ledger["rate_limited"],
                "cpu": measured.cpu,
            }
            raw.append(entry)
            name = "composed: aiolimiter pacer + strict guard" if kind == "strict" else "first release"
            rows.append(
                (
                    name,
                    load,
                    n,
                    _f(rate.per_second, 3),
                    _f(rate.per_second / CAP, 4),
                    entry["rle"],
                    entry["max_in_1s"],
                    _f(measured.cpu, 2),
                )
            )
    rep.raw["library_gates"] = raw
    rep.add(
        "### Rate gates side by side",
        "",
        f"One job of {n:,} distinct numbers each, run in process through the engine with the gate "
        f"passed in, against the strict simulator ({sim.describe()}); loaded = two busy processes "
        "beside it for the whole run. Rate = accepted requests per second in the simulator's ledger.",
        "",
    )
    rep.table(
        (
            "gate",
            "machine",
            "numbers",
            "rate /s",
            "share of 20",
            "RequestLimitExceeded",
            "max in 1 s",
            "CPU s",
        ),
        rows,
    )
    idle = next(r for r in raw if r["kind"] == "strict" and r["load"] == "idle")
    rep.target(
        "library",
        "composed gate, idle: rate ≥ 0.99 of the cap, 0 RequestLimitExceeded",
        f"{_f(idle['ledger_rate'], 3)}/s, {idle['rle']} RLE, max {idle['max_in_1s']} in 1 s",
        idle["ledger_rate"] >= 0.99 * CAP and idle["rle"] == 0 and idle["max_in_1s"] <= 20,
    )


def _three(ctx: Context, sim: Simulator, d: Path) -> None:
    rep, n = ctx.report, ctx.sizes.three_numbers
    progress("§5 three concurrent jobs")
    numbers = datagen.distinct_numbers(3 * n, seed=601)
    inputs = [datagen.numbers_csv(d / f"three-{i}.csv", numbers[i * n : (i + 1) * n]) for i in range(3)]
    work = d / "three"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sim.reset()
    result, measured = _probe(
        sim, "three-jobs", "three", "--url", sim.url, "--inputs", *map(str, inputs), "--work", str(work)
    )
    ledger = sim.ledger()
    rate = ledger_rate(ledger)
    rle, peak = ledger["rate_limited"], ledger["max_in_any_second"]
    shares = result["shares"]
    worst = max(abs(s - 1 / 3) * 3 for s in shares)
    rep.raw["library_three"] = {**result, "ledger_rate": rate.per_second, "rle": rle, "max_in_1s": peak}
    rep.add(
        "### Three concurrent jobs on one account",
        "",
        f"Three `averify_file`-style jobs of {n:,} distinct numbers each, in one process and one loop, "
        "each with the default gate (the account's shared gate), against the strict simulator. "
        f"Share = each job's answers while all three ran ({_f(result['overlap_seconds'], 1)} s) over "
        "all answers in that time.",
        "",
    )
    rep.table(
        (
            "requests",
            "combined rate /s",
            "share of 20",
            "RequestLimitExceeded",
            "max in 1 s",
            "shares",
            "wall s",
        ),
        [
            (
                sum(result["requests"]),
                _f(rate.per_second, 3),
                _f(rate.per_second / CAP, 4),
                rle,
                peak,
                " / ".join(f"{s:.3f}" for s in shares),
                _f(measured.wall, 1),
            )
        ],
    )
    rep.target(
        "library",
        "three jobs: 0 RequestLimitExceeded, ≤ 20 in any second",
        f"{rle} RLE, max {peak} in 1 s",
        rle == 0 and peak <= 20,
    )
    combined = rate.per_second
    rep.target(
        "library", "three jobs: combined ≥ 0.98 of the cap", f"{_f(combined, 3)}/s", combined >= 0.98 * CAP
    )
    rep.target(
        "library",
        "three jobs: each share within 20 % of a third",
        f"{' / '.join(f'{s:.3f}' for s in shares)} (worst {worst * 100:.0f} % off)",
        worst <= 0.20,
    )


def _looplag(ctx: Context, sim: Simulator, d: Path) -> None:
    rep, rows, to_send = ctx.report, ctx.sizes.lag_rows, ctx.sizes.lag_send
    progress(f"§5 loop lag, {rows:,}-row XLSX")
    inp = datagen.people_xlsx(d / f"lag-{rows}.xlsx", rows, dup_share=0.0, invalid_share=0.0, seed=701)
    distinct = datagen.read_distinct(inp)
    out = d / f"lag-{rows}.verified.xlsx"
    out.unlink(missing_ok=True)
    template = d / "lag-template.sqlite"
    store.seed_store(template, distinct[to_send:])
    store.install_store(template, out)
    sim.reset()
    result, measured = _probe(
        sim, "looplag", "looplag", "--url", sim.url, "--input", str(inp), "--output", str(out)
    )
    rep.raw["library_looplag"] = {**result, "wall": measured.wall, "maxrss_mb": measured.maxrss_mb}
    phases = result["phase_max_lag_ms"]
    secs = result["phase_seconds"]
    rep.add(
        "### The event loop during a large XLSX job",
        "",
        f"A {rows:,}-row, 8-column XLSX job resumed with all but {to_send:,} numbers answered (a seeded "
        "checkpoint), planned, sent to the strict simulator and written, all inside one event loop that "
        "also runs a heartbeat every 5 ms; lag = how late the heartbeat woke (the longest the loop "
        "could not run a callback).",
        "",
    )
    rep.table(
        ("phase", "seconds", "worst lag ms"),
        [(p, _f(secs[p], 1), _f(phases[p], 1)) for p in ("plan", "send", "write")]
        + [
            (
                "whole job",
                _f(measured.wall, 1),
                f"{_f(result['max_lag_ms'], 1)} (p99 {_f(result['p99_lag_ms'], 1)})",
            )
        ],
    )
    rep.target(
        "library",
        f"loop lag during a {rows:,}-row XLSX job under 100 ms",
        f"worst {_f(result['max_lag_ms'], 1)} ms over {result['beats']:,} beats",
        result["max_lag_ms"] < 100,
    )


def _baseline_tree() -> Path | None:
    target = WORK / f"baseline-{BASELINE_COMMIT}"
    if (target / "batchverify" / "cli.py").exists():
        return target
    archive = WORK / f"baseline-{BASELINE_COMMIT}.tar"
    try:
        with archive.open("wb") as f:
            subprocess.run(
                ["git", "-C", str(ROOT), "archive", BASELINE_COMMIT, "batchverify"], stdout=f, check=True
            )
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except (OSError, subprocess.CalledProcessError, tarfile.TarError):
        return None
    return target


def _startup_ms(tree: Path, repeats: int) -> float:
    env = child_env()
    env["PYTHONPATH"] = str(tree)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [PYTHON, "-m", "batchverify", "--help"], env=env, cwd=tree, check=True, stdout=subprocess.DEVNULL
        )
        times.append((time.perf_counter() - t0) * 1000)
    return float(statistics.median(times))


def _startup(ctx: Context) -> None:
    rep, repeats = ctx.report, ctx.sizes.startup_repeats
    progress("§5 start-up")
    now = _startup_ms(ROOT, repeats)
    baseline = _baseline_tree()
    before = _startup_ms(baseline, repeats) if baseline is not None else None
    rep.raw["library_startup"] = {"now_ms": now, "before_ms": before}
    rep.add(
        "### Start-up of the command line",
        "",
        f"`python -m batchverify --help`, median of {repeats} runs (a new interpreter each). Before: the "
        f"first release (commit {BASELINE_COMMIT}) in the same environment.",
        "",
    )
    rep.table(("version", "ms"), [("first release", _f(before, 0) if before else "n/a"), ("now", _f(now, 0))])
    if before is not None:
        rep.target(
            "library",
            "start-up no slower than before (within 10 %)",
            f"{_f(now, 0)} ms vs {_f(before, 0)} ms",
            now <= before * 1.10,
        )


def section_library(ctx: Context) -> None:
    rep = ctx.report
    rep.add("## 5. The engine as a library", "")
    rep.add(f"Before: {machine_state()}.", "")
    d = WORK / "library"
    d.mkdir(parents=True, exist_ok=True)
    sim = ctx.sim("strict")
    _gates(ctx, sim, d)
    _three(ctx, sim, d)
    _looplag(ctx, sim, d)
    _startup(ctx)
    rep.targets_table("library")
