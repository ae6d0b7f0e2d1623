"""§4 of bench/run.py, scale: resuming a 99 %-done job, and the per-answer checkpoint cost."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

from bench import datagen, store
from bench.proc import LOGS, PYTHON, Simulator, child_env, run_measured, running
from bench.report import Context, _f, _median, profile_tables, profiled, progress, run_batchverify


def resume(
    ctx: Context, sim: Simulator, env: dict[str, str], d: Path, resume_csv: Path
) -> tuple[Path, Path, int]:
    """Resume a 99 %-done job until its first new request; its store template, output and answers."""
    sizes, rep = ctx.sizes, ctx.report
    rows, reps = sizes.csv_rows, ctx.repeats(sizes.scale_repeats)
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
            while time.monotonic() < deadline and running(proc):
                if "plan" not in first and log.exists() and "plan:" in log.read_text(errors="replace"):
                    first["plan"] = time.time() - started
                at = sim.ledger()["first_request_at"]
                if at is not None:
                    first["at"] = float(at) - started  # type: ignore[arg-type]
                    proc.send_signal(signal.SIGKILL)
                    return
                time.sleep(0.05)

        m, _ = run_batchverify(sim, resume_csv, f"resume-{i + 1}", "--rate", "1000", while_running=wait_first)
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
    return res_template, res_output, res_seeded


def checkpoint_cost(
    ctx: Context, d: Path, resume_csv: Path, res_template: Path, res_output: Path, res_seeded: int
) -> None:
    """Per-answer checkpoint cost: the probe on a copy of the resumed store, and in a real run at 20/s."""
    sizes, rep = ctx.sizes, ctx.report
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
