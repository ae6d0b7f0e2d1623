"""§4 of bench/run.py: scale (generated inputs, dry runs; the jobs in scale_write and scale_resume)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench import datagen
from bench.proc import WORK, Measured, batchverify, child_env, machine_state, run_measured
from bench.report import Context, _f, _median, profile_tables, profiled, progress
from bench.sections.scale_resume import checkpoint_cost, resume
from bench.sections.scale_write import write_finished_csv, write_finished_xlsx


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

    write_finished_csv(ctx, sim, d, big_csv)
    write_finished_xlsx(ctx, sim, d, big_xlsx)
    res_template, res_output, res_seeded = resume(ctx, sim, env, d, resume_csv)
    checkpoint_cost(ctx, d, resume_csv, res_template, res_output, res_seeded)
    rep.add("Targets:", "")
    rep.targets_table("scale")
    rep.add(f"After: {machine_state()}.", "")
