"""§1 of bench/run.py: the ceiling (strict simulator, faults, aiolimiter side by side)."""

from __future__ import annotations

import json

from bench.proc import LOGS, PYTHON, child_env, machine_state, run_measured
from bench.report import Context, _f, _median_run, bv_ceiling_run, ledger_numbers, progress


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
        "rate ≥ 0.99 of the cap (19.8/s), median",
        f"{_f(med['rate'], 3)}/s = {_f(med['share'], 4)} of 20 median, "
        f"{_f(min(r['share'] for r in runs), 4)} worst of {len(runs)}",
        med["share"] >= 0.99,
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
