"""§3 of bench/run.py: headroom, the pipeline is never the bottleneck."""

from __future__ import annotations

import json
from collections import Counter

from bench import datagen
from bench.proc import PYTHON, WORK, batchverify, child_env, machine_state, run_measured
from bench.report import (
    CAP,
    Context,
    _f,
    _median,
    _median_run,
    clean_output,
    final_rows,
    ledger_numbers,
    output_statuses,
    profile_tables,
    profiled,
    progress,
    run_batchverify,
)
from bench.sections.margin import section_margin


def section_headroom(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    n = sizes.headroom_numbers
    rep.add("## 3. Headroom: the pipeline is never the bottleneck", "")
    rep.add(f"Before: {machine_state()}.", "")
    sim = ctx.sim("unlimited")
    section_margin(ctx, sim)
    numbers = datagen.distinct_numbers(n, seed=303)
    inp = datagen.numbers_csv(WORK / "headroom" / "numbers.csv", numbers)
    output = inp.with_name(f"{inp.stem}.verified.csv")
    runs = []
    for i in range(ctx.repeats(sizes.headroom_repeats)):
        progress(f"§3 run {i + 1}")
        clean_output(output)
        sim.reset()
        sim_cpu0 = sim.cpu_seconds()
        m, summary = run_batchverify(
            sim, inp, f"headroom-{i + 1}", "--rate", "1000", "--rate-store", "memory"
        )
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
        "but not counted); `batchverify run --rate 1000 --rate-store memory` (default "
        "`--concurrency 50`; the host-wide rate log would hold every send of the last second, a "
        "thousand here, where at the API's 20/s it holds 20 and costs about 10 µs per send). "
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
        f"CPU < 0.5 ms per row, {n:,} rows end to end (start-up in it), median",
        f"{_f(med['cpu_ms_per_row'], 3)} ms/row median, "
        f"{_f(max(r['cpu_ms_per_row'] for r in runs), 3)} worst of {len(runs)} → 20/s costs "
        f"{_f(med['cpu_ms_per_row'] * 20 / 10, 2)} % of one core",
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
    run_args = [
        "run",
        str(inp),
        "--column",
        "mobile",
        "--yes",
        "--progress",
        "off",
        "--rate",
        "1000",
        "--rate-store",
        "memory",
    ]
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
