"""``make bench`` / ``make bench-quick``: batchverify against the local simulator, written to RESULTS.md.

    python -m bench.run [--quick] [--only ceiling,peers,headroom,scale,library] [--repeats N]

Sections:
  1. ceiling   2,000 numbers, strict 20/s simulator with 50-250 ms latency; also --faults 0.05, and
               aiolimiter side by side.
  2. peers     the same numbers through scripts users would write with the official SDK.
  3. headroom  the CPU of one more row (6,000 minus 1,000 numbers, --rate 1000) beside a bare
               aiohttp client's; 20,000 numbers, limit off and no latency: rows/s and CPU per row.
  4. scale     generated 1,000,000-row CSV and 200,000-row XLSX: dry runs, writing a finished
               job, resuming a 99 %-done job, per-answer checkpoint cost.
  5. library   the engine in process: the composed rate gate against the first release's limiter
               (idle and with both cores loaded), three concurrent jobs on one account, the event
               loop's lag during a 100,000-row XLSX job, the command line's start-up.
  6. xlsx      writing a finished XLSX job's output as a stream: 200,000 rows x 8 columns, and a
               sheet at Excel's 1,048,576-row limit (time and peak memory of the write alone).
  7. sharing   two processes on one key against the strict simulator; a --max-billable stop.
  8. serve     batchverify serve: five uploads of 2,000 numbers at once; rate, RLE, API p95 latency.
  9. conditions the rate where users run it: idle, both cores busy, two environments on one host,
               two hosts on one Redis, 1-2 s API latency (requests, rate, share, RLE, most in 1 s).

Every measured program runs as its own process (CPU and peak RSS from ``os.wait4``); the simulator
is another process. Generated inputs go to bench/work/ (not committed). Full mode writes
bench/RESULTS.md (the record), quick mode bench/work/RESULTS-quick.md. A section that fails is
written as failed and makes the run exit 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import notes
from bench.proc import HOME, ROOT, STATES, WORK, cpu_ticks, loadavg, machine_state, steal_share
from bench.report import Context, Sizes, Target, _f, _met, machine_info, progress
from bench.sections.ceiling import section_ceiling
from bench.sections.conditions import section_conditions
from bench.sections.headroom import section_headroom
from bench.sections.library import section_library
from bench.sections.peers import section_peers
from bench.sections.scale import section_scale
from bench.sections.serve import section_serve
from bench.sections.sharing import section_sharing
from bench.sections.xlsx_write import section_xlsx

SECTIONS = ("ceiling", "peers", "headroom", "scale", "library", "xlsx", "sharing", "serve", "conditions")

FULL = Sizes("full", 2000, 3, 1, 600, 20_000, 3, 1_000_000, 200_000, 3, 2000, 100, 20_000, 400, 150)
QUICK = Sizes(
    "quick",
    150,
    2,
    1,
    100,
    2000,
    2,
    50_000,
    10_000,
    2,
    500,
    40,
    5000,
    100,
    15,
    gate_numbers=150,
    three_numbers=60,
    lag_rows=10_000,
    lag_send=60,
    startup_repeats=5,
    xlsx_write_rows=20_000,
    xlsx_limit_rows=100_000,
    sharing_numbers=200,
    serve_numbers=150,
    crowd_numbers=100,
    crowd_burners=4,
    big_upload_rows=30_000,
    big_uploads=4,
    stop_rows=200_000,
    conditions_numbers=100,
    conditions_repeats=1,
)


def results_path(quick: bool) -> Path:
    """The record is bench/RESULTS.md, from a full run; a quick run's figures stay in bench/work/."""
    return WORK / "RESULTS-quick.md" if quick else ROOT / "bench" / "RESULTS.md"


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
        "process) on 127.0.0.1. Each measured program is its own process; wall time, CPU (user+sys, "
        "`os.wait4`) and peak RSS (its VmHWM, read every 20 ms) are that process's own. Absolute times "
        "depend on the machine and "
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
            "met/not met column is indicative only. The record is bench/RESULTS.md, from `make bench`.",
            "",
        ]
    summary = ["## Targets at a glance", "", "| section | target | measured | |", "|---|---|---|---|"]
    summary += [f"| {t.section} | {t.target} | {t.measured} | {_met(t.met)} |" for t in targets]
    missed = [t for t in targets if not t.met]
    summary.append("")
    if missed:
        summary += [
            f"{len(missed)} of {len(targets)} targets are not met; the Notes at the end say for each "
            "what the time or memory goes to and what would meet it.",
            "",
        ]
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
    ap.add_argument(
        "--output",
        type=Path,
        help="where to write the results [default: bench/RESULTS.md; quick: bench/work/]",
    )
    ap.add_argument(
        "--render", type=Path, metavar="STATE_JSON", help="only re-render the results of a saved run"
    )
    args = ap.parse_args(argv)
    if args.render:
        state = json.loads(args.render.read_text())
        output = args.output or results_path(state["mode"] == "quick")
        write_results(state, output)
        progress(f"wrote {output}")
        return 1 if state["raw"].get("failed") else 0
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
    output = args.output or results_path(args.quick)
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(HOME, ignore_errors=True)  # every run of the bench starts without stored answers
    HOME.mkdir(parents=True)
    started = time.perf_counter()
    ctx = Context(sizes, args.repeats)
    ctx.report.raw["load_start"] = machine_state()
    ticks0 = cpu_ticks()
    runners = {
        "ceiling": section_ceiling,
        "peers": section_peers,
        "headroom": section_headroom,
        "scale": section_scale,
        "library": section_library,
        "xlsx": section_xlsx,
        "sharing": section_sharing,
        "serve": section_serve,
        "conditions": section_conditions,
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
    failed = raw.get("failed") or []
    if failed:
        progress(f"FAILED: section(s) {', '.join(failed)} did not run to the end (see {output})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
