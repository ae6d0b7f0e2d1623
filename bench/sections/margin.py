"""§3 of bench/run.py, the cost of one more row: CPU at the margin, beside the floor of its stack.

The CPU of a 6,000-number run minus that of a 1,000-number run, divided by 5,000: start-up, the
scan and the summary cancel out, and what is left is what each further row costs (the gate's pacing,
the request, the reply, the checkpoint). ``--rate 1000`` against the simulator with no limit and no
latency, no answer store (every number is asked). The same two sizes through a bare aiohttp client
(TC3 signing, JSON parsing, nothing stored), paced by aiolimiter at the same rate and unpaced, show
what the stack itself costs on this machine.
"""

from __future__ import annotations

from typing import Any

from bench import datagen
from bench.proc import PYTHON, WORK, Simulator, child_env, run_measured
from bench.report import Context, _f, _median, clean_output, progress, run_batchverify

SMALL, LARGE = 1000, 6000
TARGET_MS = 0.2
FIRST_RELEASE_MS = 0.166  # the first release's CPU per row (its bench: 20,000 rows, start-up in it)


def _batchverify_cpu(sim: Simulator, inp: Any, label: str) -> float:
    clean_output(inp.with_name(f"{inp.stem}.verified.csv"))
    sim.reset()
    m, _ = run_batchverify(sim, inp, label, "--rate", "1000", "--rate-store", "memory", "--answers", "none")
    if m.returncode != 0:
        raise RuntimeError(f"{label}: batchverify exited {m.returncode}")
    return m.cpu


def _bare_cpu(sim: Simulator, inp: Any, label: str, rate: int) -> float:
    out = WORK / "logs" / f"{label}.json"
    m = run_measured(
        [
            PYTHON,
            "-m",
            "bench.peers.bare_client",
            "--endpoint",
            sim.host,
            "--numbers",
            str(inp),
            "--out",
            str(out),
            "--rate",
            str(rate),
        ],
        env=child_env(),
        log_name=label,
    )
    if m.returncode != 0:
        raise RuntimeError(f"{label}: the bare client exited {m.returncode}")
    return m.cpu


def section_margin(ctx: Context, sim: Simulator) -> None:
    rep = ctx.report
    numbers = datagen.distinct_numbers(LARGE, seed=606)
    d = WORK / "margin"
    small = datagen.numbers_csv(d / f"numbers-{SMALL}.csv", numbers[:SMALL])
    large = datagen.numbers_csv(d / f"numbers-{LARGE}.csv", numbers)
    kinds = {
        "batchverify run --rate 1000": lambda inp, label: _batchverify_cpu(sim, inp, label),
        "bare aiohttp client, paced at 1000/s": lambda inp, label: _bare_cpu(sim, inp, label, 1000),
        "bare aiohttp client, unpaced": lambda inp, label: _bare_cpu(sim, inp, label, 0),
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for i in range(ctx.repeats(ctx.sizes.headroom_repeats)):
        for name, measure in kinds.items():
            progress(f"§3 margin {i + 1}: {name}")
            tag = f"margin-{i + 1}-{name.split()[0]}-{name.split()[-1].strip('/s')}"
            cpu_small = measure(small, f"{tag}-{SMALL}")
            cpu_large = measure(large, f"{tag}-{LARGE}")
            per_row = (cpu_large - cpu_small) * 1000 / (LARGE - SMALL)
            runs[name].append({"small": cpu_small, "large": cpu_large, "ms": per_row})
    rep.raw["margin"] = runs
    rep.add(
        f"**The cost of one more row.** CPU (user + sys) of a {LARGE:,}-number run minus a "
        f"{SMALL:,}-number run, divided by {LARGE - SMALL:,}; `--rate 1000 --rate-store memory --answers "
        "none` against the simulator with no limit and no latency. Beside it the floor of the stack: "
        "a bare aiohttp client (50 workers, TC3 signing, JSON parsing, nothing stored or retried), "
        "paced by aiolimiter at the same 1000/s and unpaced.",
        "",
    )
    rep.table(
        (
            "client",
            *(
                f"run {i + 1}: CPU s {SMALL:,} / {LARGE:,} → ms per row"
                for i in range(len(runs[next(iter(runs))]))
            ),
        ),
        [
            (name, *(f"{_f(r['small'], 2)} / {_f(r['large'], 2)} → {_f(r['ms'], 3)}" for r in rs))
            for name, rs in runs.items()
        ],
    )
    mine = [r["ms"] for r in runs["batchverify run --rate 1000"]]
    floor = _median([r["ms"] for r in runs["bare aiohttp client, paced at 1000/s"]])
    rep.raw["margin_summary"] = {"median": _median(mine), "worst": max(mine), "floor": floor, "n": len(mine)}
    rep.target(
        "headroom",
        f"CPU per row at the margin ≤ {TARGET_MS} ms ({LARGE:,} − {SMALL:,} rows, --rate 1000); first "
        f"release {FIRST_RELEASE_MS} ms (start-up in it)",
        f"{_f(_median(mine), 3)} ms median, {_f(max(mine), 3)} worst of {len(mine)}; a bare paced "
        f"client {_f(floor, 3)} ms",
        _median(mine) <= TARGET_MS and max(mine) <= TARGET_MS,
    )
