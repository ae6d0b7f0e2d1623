"""§6 of bench/run.py: writing a finished XLSX job's output by streaming the one worksheet.

Two sizes: 200,000 rows x 8 columns (target: at most 15 s and 250 MB peak) and a sheet at Excel's
row limit, 1,048,576 rows with the header (target: completes within 400 MB). The write is measured
alone (bench/xlsxprobe.py, the same code as the writer child of ``batchverify run``), then the whole
``batchverify run`` of the smaller job, whose peak RSS is the larger of the run and its writer.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

from bench import datagen, store
from bench.proc import PYTHON, ROOT, WORK, child_env, forget_answers, run_measured
from bench.report import Context, _f, _median, progress, run_batchverify

EXCEL_ROW_LIMIT = 1_048_576


def section_xlsx(ctx: Context) -> None:
    sizes, rep = ctx.sizes, ctx.report
    rep.add("## 6. Writing a workbook as a stream", "")
    d = WORK / "xlsx"
    cases = [
        (sizes.xlsx_write_rows, 15.0, 250.0),
        (sizes.xlsx_limit_rows, None, 400.0),
    ]
    rows_out = []
    for rows, seconds_target, rss_target in cases:
        progress(f"§6 generating a {rows:,}-row workbook")
        source = d / f"people-{rows}.xlsx"
        # In a child: a child's peak RSS as the kernel reports it starts at its parent's RSS.
        subprocess.run(
            [PYTHON, "-m", "bench.datagen", str(source), str(rows), "21"],
            env=child_env(None),
            cwd=ROOT,
            check=True,
        )
        template = d / f"people-{rows}.finished.sqlite"
        if not template.exists():
            seed = "import sys; from pathlib import Path; from bench import datagen, store; "
            seed += "store.seed_store(Path(sys.argv[1]), datagen.read_distinct(Path(sys.argv[2])))"
            subprocess.run(
                [PYTHON, "-c", seed, str(template), str(source)], env=child_env(None), cwd=ROOT, check=True
            )
        output = d / f"people-{rows}.verified.xlsx"
        output.unlink(missing_ok=True)
        progress(f"§6 writing {rows:,} rows")
        m = run_measured(
            [PYTHON, "-m", "bench.xlsxprobe", str(source), str(output), str(template)],
            env=child_env(None),
            log_name=f"xlsx-write-{rows}",
            timeout=1800,
        )
        answer = json.loads(m.stdout.strip().splitlines()[-1]) if m.returncode == 0 else {}
        written = sum(answer.get("counts", {}).values())
        dimension = _dimension(output) if output.exists() else "missing"
        rows_out.append((rows, m, written, dimension, source.stat().st_size / 1e6))
        ok = m.returncode == 0 and written == rows
        measured = f"{_f(m.wall, 1)} s, {_f(m.maxrss_mb, 0)} MiB peak, {written:,} rows, sheet {dimension}"
        if seconds_target is not None:
            rep.target(
                "xlsx",
                f"{rows:,} rows x 8 columns written in at most {seconds_target:g} s and {rss_target:g} MB",
                measured,
                ok and m.wall <= seconds_target and m.maxrss_mb <= rss_target,
            )
        else:
            rep.target(
                "xlsx",
                f"a sheet at Excel's row limit ({rows + 1:,} rows) completes within {rss_target:g} MB",
                measured,
                ok and m.maxrss_mb <= rss_target,
            )
    rep.add(
        "Peak RSS is what the kernel reports for the measured process (a child's count starts at its "
        "parent's size, so the inputs are generated in a process of their own). "
        "Inputs laid out as Excel saves them (bench/datagen.py `people_xlsx_excel_like`: every text "
        "in the shared strings, four new ones per row, 70 % of the phones numeric cells, a frozen "
        "header and an autofilter). The finished job's store is seeded directly (one final answer "
        "per distinct number); the writer reads the sheet's XML itself, streams it with the 12 "
        "result columns added (zh-CN words, conditional formatting, a summary sheet) and copies "
        "every other part:",
        "",
    )
    rep.table(
        (
            "data rows",
            "input MB",
            "wall s",
            "CPU s",
            "peak RSS MiB",
            "rows written",
            "output dimension",
            "steal %",
        ),
        [
            (
                f"{rows:,}",
                _f(size, 1),
                _f(m.wall, 1),
                _f(m.cpu, 1),
                _f(m.maxrss_mb, 0),
                f"{written:,}",
                dimension,
                f"{m.steal * 100:.0f}",
            )
            for rows, m, written, dimension, size in rows_out
        ],
    )
    _whole_runs(ctx, d)


WHOLE_TARGETS = ((8.0, 200.0), (40.0, 400.0))  # (s, MB): 200,000 x 8 with 6,000 numbers; the row limit


def _whole_runs(ctx: Context, d: Path) -> None:
    """The whole ``batchverify run`` of a finished workbook job (it reads the list, plans and writes):
    a 200,000-row x 8-column workbook whose 6,000 numbers are all answered, and the sheet at Excel's
    row limit; peak RSS is the larger of the run and its writer child (``wait4``)."""
    sizes, rep = ctx.sizes, ctx.report
    cases = []
    few = d / f"people-{sizes.xlsx_write_rows}-few.xlsx"
    subprocess.run(
        [PYTHON, "-m", "bench.datagen", str(few), str(sizes.xlsx_write_rows), "23", "0.95"],
        env=child_env(None),
        cwd=ROOT,
        check=True,
    )
    cases.append((few, sizes.xlsx_write_rows, d / f"{few.stem}.finished.sqlite", WHOLE_TARGETS[0]))
    limit = d / f"people-{sizes.xlsx_limit_rows}.xlsx"
    cases.append(
        (
            limit,
            sizes.xlsx_limit_rows,
            d / f"people-{sizes.xlsx_limit_rows}.finished.sqlite",
            WHOLE_TARGETS[1],
        )
    )
    sim = ctx.sim("unlimited")
    measured = []
    for source, rows, template, (seconds, megabytes) in cases:
        if not template.exists():
            seed = "import sys; from pathlib import Path; from bench import datagen, store; "
            seed += "store.seed_store(Path(sys.argv[1]), datagen.read_distinct(Path(sys.argv[2])))"
            subprocess.run(
                [PYTHON, "-c", seed, str(template), str(source)], env=child_env(None), cwd=ROOT, check=True
            )
        distinct = len(datagen.read_distinct(source))
        runs = []
        # The sheet at the row limit takes minutes a run: two runs of it, three of the smaller.
        repeats = sizes.scale_repeats if rows < sizes.xlsx_limit_rows else max(1, sizes.scale_repeats - 1)
        for i in range(ctx.repeats(repeats)):
            progress(f"§6 the whole run over {source.name}, {i + 1}")
            output = source.with_name(f"{source.stem}.verified.xlsx")
            output.unlink(missing_ok=True)
            store.install_store(template, output)
            forget_answers()
            sim.reset()
            m, _summary = run_batchverify(sim, source, f"xlsx-whole-{source.stem}-{i + 1}")
            if m.returncode != 0:
                raise RuntimeError(f"batchverify run over {source.name} exited {m.returncode}")
            runs.append({"wall": m.wall, "rss": m.maxrss_mb, "cpu": m.cpu, "sent": sim.ledger()["requests"]})
        measured.append((source, distinct, runs))
        walls, peaks = [r["wall"] for r in runs], [r["rss"] for r in runs]
        rep.target(
            "xlsx",
            f"the whole run over a finished {rows:,}-row workbook ({distinct:,} numbers) "
            f"in at most {seconds:g} s and {megabytes:g} MB",
            f"{_f(_median(walls), 1)} s median ({_f(max(walls), 1)} worst), {_f(_median(peaks), 0)} MiB "
            f"({_f(max(peaks), 0)} worst) over {len(runs)} runs",
            max(walls) <= seconds and max(peaks) * 1.048576 <= megabytes,
        )
    rep.raw["xlsx_whole"] = [
        {"input": source.name, "numbers": distinct, "runs": runs} for source, distinct, runs in measured
    ]
    rep.add(
        "",
        "The whole `batchverify run` of a finished workbook job (the store seeded with every number "
        "answered, so the run reads the list, plans, sends nothing and writes):",
        "",
    )
    rep.table(
        ("input", "numbers", "wall s per run", "CPU s per run", "peak RSS MiB per run", "requests sent"),
        [
            (
                source.name,
                f"{distinct:,}",
                " / ".join(_f(r["wall"], 1) for r in runs),
                " / ".join(_f(r["cpu"], 1) for r in runs),
                " / ".join(_f(r["rss"], 0) for r in runs),
                " / ".join(str(r["sent"]) for r in runs),
            )
            for source, distinct, runs in measured
        ],
    )


def _dimension(path: Path) -> str:
    """The annotated sheet's <dimension ref>, read from the first bytes of its part."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet1"):
                with archive.open(name) as f:
                    head = f.read(4096).decode("utf-8", "replace")
                start = head.find('dimension ref="')
                if start >= 0:
                    return head[start + 15 : head.index('"', start + 15)]
    return "?"
