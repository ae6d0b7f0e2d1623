"""§4 of bench/run.py, scale: writing the output of a finished CSV and XLSX job."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from bench import datagen, store
from bench.proc import Simulator, forget_answers
from bench.report import Context, _f, _median, output_statuses, progress, run_batchverify


def write_finished_csv(ctx: Context, sim: Simulator, d: Path, big_csv: Path) -> None:
    """Write the output of a finished CSV job: seeded store, nothing to send (with a target)."""
    sizes, rep = ctx.sizes, ctx.report
    rows, reps = sizes.csv_rows, ctx.repeats(sizes.scale_repeats)
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
        forget_answers()
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
    walls = [w["m"].wall for w in writes]
    complete = all(w["sent"] == 0 and sum(w["counts"].values()) == rows for w in writes)
    rep.target(
        "scale",
        f"writing a finished {rows:,}-row CSV job (the whole run) in at most 20 s; first release 24 s",
        f"{_f(_median(walls), 1)} s median, {_f(max(walls), 1)} worst of {len(walls)}",
        complete and max(walls) <= 20,
    )
    rep.target(
        "scale",
        f"writing a finished {rows:,}-row job under 500 MB",
        f"{_f(_median([w['m'].maxrss_mb for w in writes]), 0)} MiB median, {_f(write_rss, 0)} worst",
        write_rss < 500 and complete,
    )


def write_finished_xlsx(ctx: Context, sim: Simulator, d: Path, big_xlsx: Path) -> None:
    """The same for an XLSX job, once, without a target."""
    sizes, rep = ctx.sizes, ctx.report
    xrows = sizes.xlsx_rows
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
