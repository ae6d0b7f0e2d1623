"""``batchverify run``: flags in, one ``Options`` value, the job run by ``runner``, an exit code out."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from batchverify import errors
from batchverify.cli import flags
from batchverify.cli.exits import REPORTS
from batchverify.cli.lines import use_format
from batchverify.engine.options import ENCRYPTIONS, LIMITS, Options


def _range(name: str) -> str:
    low, high = LIMITS[name]
    return f"{low:g} to {high:g}"


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Output file [default: INPUT.verified.EXT]."
)
@click.option("--column", help="Phone column: header name, Excel letter (C) or 1-based index.")
@click.option("--sheet", help="Excel sheet to read [default: the first].")
@flags.where_options(f"Requests per second ({_range('rate')}).")
@click.option(
    "--concurrency",
    type=int,
    default=50,
    show_default=True,
    help=f"Calls in flight at most ({_range('concurrency')}).",
)
@click.option(
    "--max-age",
    multiple=True,
    help="Reuse final answers younger than this (30m, 12h, 7d) instead of paying again; STATUS=DURATION "
    "sets one status's own window (cancelled=90d). Repeatable.",
)
@click.option("--restart", is_flag=True, help="Start a new job instead of resuming an unfinished one.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before sending.")
@click.option(
    "--progress", type=click.Choice(["auto", "bar", "log", "off"]), default="auto", show_default=True
)
@click.option("--summary-json", type=click.Path(path_type=Path), help="Also write the summary as JSON here.")
@flags.log_format_option()
@click.option(
    "--metrics-file",
    type=click.Path(path_type=Path),
    help="Also write the run's figures here in the Prometheus text format (node_exporter's textfile "
    "collector: NAME.prom).",
)
@click.option(
    "--notify",
    metavar="URL",
    help="POST the summary JSON here when the run ends, signed with BATCHVERIFY_NOTIFY_SECRET "
    "[default: BATCHVERIFY_NOTIFY].",
)
@click.option("--encoding", help="Input text encoding [default: detected].")
@click.option("--output-encoding", help="Output text encoding [default: the input's].")
@click.option(
    "--encrypt", type=click.Choice(sorted(ENCRYPTIONS), case_sensitive=False), help="Send numbers encrypted."
)
@click.option(
    "--encryption-public-key", type=click.Path(path_type=Path), help="Public key file for --encrypt."
)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help=f"Seconds to wait for an answer ({_range('timeout')}).",
)
@click.option("--overwrite", is_flag=True, help="Replace an output file that batchverify did not write.")
@click.option(
    "--header-row",
    type=int,
    help="Row number of the header (0: the list has none) [default: detected].",
)
@click.option(
    "--problems",
    type=click.Path(path_type=Path),
    help="Also write only the rows that need action here (.csv or .xlsx).",
)
@click.option("--no-summary-sheet", is_flag=True, help="Leave the summary sheet out of a workbook output.")
@click.option(
    "--headers",
    type=click.Choice(["words", "names"]),
    default="words",
    show_default=True,
    help="words: the result columns' headers (and yes/no, where each answer came from) in --language; "
    "names: the stable mobile_* names and codes in every language, for scripts.",
)
@click.option(
    "--time-zone",
    help="Time zone of the times a person reads in the output (Asia/Shanghai) [default: the machine's].",
)
@click.option(
    "--changes",
    type=click.Path(path_type=Path),
    help="Also write only the rows whose status changed since the previous job (.csv or .xlsx).",
)
@flags.answers_options()
@click.option(
    "--max-billable",
    type=int,
    help="At most this many billable answers in this run; the rest stays pending.",
)
@click.option(
    "--price",
    type=float,
    help=f"Price of one billable answer ({_range('price')}): the plan shows the most it can cost, "
    "the summary the cost.",
)
def run(
    input_path: Path,
    output: Path | None,
    dry_run: bool,
    yes: bool,
    progress: str,
    summary_json: Path | None,
    metrics_file: Path | None,
    notify: str | None,
    log_format: str,
    no_summary_sheet: bool,
    **values: object,
) -> None:
    """Verify the phone numbers in INPUT (CSV, TSV, XLSX, XLSM or XLS) and write them back annotated."""
    from batchverify.build import connect, run_request
    from batchverify.cli.runner import RunSettings, run_job
    from batchverify.engine.paths import check_report_path
    from batchverify.engine.plan import RunRequest, default_output
    from batchverify.report.notify import notifier_from
    from batchverify.report.progress import resolve_mode

    use_format(log_format)
    REPORTS.input = input_path
    reports = {"summary_json": summary_json, "metrics_file": metrics_file}
    if summary_json is not None and metrics_file is not None and _same(summary_json, metrics_file):
        raise errors.UsageError(
            "--summary-json and --metrics-file name one file; name two", option="metrics_file"
        )
    # First, so that a refused option is reported there too: a monitor never reads last night's.
    out = output or default_output(input_path)
    named = [values.get(k) for k in ("problems", "changes", "checkpoint")]
    files = RunRequest(
        input=input_path,
        output=out,
        problems=named[0] if isinstance(named[0], Path) else None,
        changes=named[1] if isinstance(named[1], Path) else None,
        checkpoint=named[2] if isinstance(named[2], Path) else None,
        answers=_answers_named(values.get("answers")),
    )
    for option, path in reports.items():
        if path is not None:
            check_report_path(path, files, option)
            setattr(REPORTS, option, path)
    REPORTS.notifier = notifier_from(notify)
    values["max_age"], values["max_age_by_status"] = flags.ages(values.pop("max_age"))  # type: ignore[arg-type]
    simulator = bool(values["simulator"])
    values["endpoint"] = flags.endpoint_given(simulator, values["endpoint"])  # type: ignore[arg-type]
    options = Options(summary_sheet=not no_summary_sheet, **values)  # type: ignore[arg-type]
    flags.warn_rate(simulator, options.rate)
    # Now against every file of the job: its side files, its checkpoint, the answer store. A path
    # refused now is never written, not even with the refusal.
    request = run_request(options, input_path, output or ...)
    for option, path in reports.items():
        if path is not None:
            try:
                check_report_path(path, request, option)
            except errors.UsageError:
                REPORTS.summary_json = REPORTS.metrics_file = None
                raise
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    settings = RunSettings(
        input=input_path,
        output=output,
        dry_run=dry_run,
        # A bar is no JSON line: under --log-format json progress is logged, or off as asked.
        progress=resolve_mode("log" if log_format == "json" and progress in ("auto", "bar") else progress),
        summary_json=summary_json,
        confirm=None if (yes or not interactive) else _confirm,
    )
    with connect(options, credentials=not dry_run) as target:
        code = asyncio.run(run_job(options, target, settings))
    sys.exit(code)


def _answers_named(value: object) -> Path | None:
    """The answer store this run would use, as far as the flag and the environment say (before the
    options are checked): never a target of --summary-json, even for an early error."""
    from batchverify.engine.answers import default_answers_path

    chosen = value if isinstance(value, str) else os.environ.get("BATCHVERIFY_ANSWERS", "").strip() or None
    if isinstance(chosen, str) and chosen.lower() == "none":
        return None
    return Path(chosen) if chosen else default_answers_path()


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _confirm(question: str) -> bool:
    # Sends are paid for: Enter alone means no.
    return click.confirm(question, default=False, err=True)
