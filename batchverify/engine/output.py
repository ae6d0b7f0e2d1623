"""Write the output file (and the problems-only file) from the plan and the checkpoint.

Output is a pure function of the input and the checkpoint store (``batchverify.engine.annotate``),
so a resumed run writes exactly what an uninterrupted one would. That also lets a workbook be
written by a child process that reads both again: the work holds the GIL for long stretches, which
in a thread would stall the caller's event loop (an upload page serving other jobs), and a child's
memory is returned when it ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import secrets
import subprocess
import sys
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batchverify._version import __version__
from batchverify.core.freshness import Freshness
from batchverify.core.labels import StatusClass, class_of, own_result_headers, result_positions
from batchverify.engine.annotate import STATUS_INDEX, Annotator, WriteResult, is_change
from batchverify.engine.keepedits import place_all, refuse_kept
from batchverify.engine.paths import (
    OUTPUT_STAMP_KEY,
    SIDE_FILES_KEY,
    check_input_unchanged,
    output_stamp,
    same_output,
    side_files_of,
)
from batchverify.engine.plan import Plan
from batchverify.engine.present import OutputLook, SummaryFacts, headers
from batchverify.engine.store import Checkpoint, Store
from batchverify.errors import OutputError
from batchverify.files.exceltable import ExcelTable
from batchverify.files.formats import output_kind
from batchverify.files.layout import CellValue, Keep, remove_stale_temps
from batchverify.files.readers import Table, open_table
from batchverify.files.tables import TableFormat
from batchverify.files.writers import write_table
from batchverify.models import OUTPUT_COLUMNS, Status

__all__ = ["OUTPUT_COLUMNS", "PARENT_ENV", "WriteResult", "WriteSpec", "kill_writers", "write_output"]

# The writer child's parent process id, so the child can tell that it was orphaned.
PARENT_ENV = "BATCHVERIFY_WRITER_PARENT"
WRITER_SECONDS = 3600.0  # a workbook at Excel's row limit is written in minutes; never hours
_CHILDREN: set[subprocess.Popen[str]] = set()
_CHILDREN_LOCK = threading.Lock()


@dataclass(frozen=True)
class WriteSpec:
    """Everything needed to write the outputs again from the input and the store (in a child)."""

    input: Path
    sheet: str | None
    encoding: str | None
    output: Path
    output_encoding: str | None
    phone_col: int
    header_line: int
    header: list[str]
    width: int
    store: Path | None
    job_id: int
    freshness: Freshness | None
    language: str
    summary_sheet: bool
    problems: Path | None
    endpoint: str
    headers: str = "words"
    time_zone: str | None = None
    title: str | None = None
    retry_advice: str = "command"
    changes: Path | None = None
    # Rows the output in place showed with a final answer (None: unknown, or no output there), and
    # whether it may be replaced by one that shows fewer (--restart).
    previous_answered: int | None = None
    replace_anyway: bool = False
    # What the output held when batchverify last wrote it, and whether it may be replaced anyway.
    recorded_stamp: str | None = None
    overwrite: bool = False
    input_stamp: str | None = None  # what the plan read: the outputs are written from that, or not at all


def spec_of(plan: Plan, job_id: int) -> WriteSpec:
    request = plan.request
    assert request.output is not None
    return WriteSpec(
        input=request.input,
        sheet=plan.table.format.sheet_name,
        encoding=request.encoding,
        output=request.output,
        output_encoding=plan.output_encoding,
        phone_col=plan.phone_col,
        header_line=plan.table.header_line,
        header=list(plan.table.header),
        width=plan.table.max_width(),
        store=request.store_path,
        job_id=job_id,
        freshness=plan.freshness,
        language=request.language,
        summary_sheet=request.summary_sheet,
        headers=request.headers,
        time_zone=request.time_zone,
        title=request.title,
        retry_advice=request.retry_advice,
        problems=request.problems,
        endpoint=plan.endpoint_identity,
        changes=request.changes,
        replace_anyway=request.restart,
        input_stamp=plan.input_stamp,
    )


_ANSWERED_KEY = "output_answered"


def write_output(plan: Plan, store: Store, job_id: int) -> WriteResult:
    """Write the annotated output (and ``--problems``, ``--changes``) atomically. Blocks.

    The output in place is kept, and the new one discarded, when the new one would show fewer final
    answers than it while the checkpoint holds answers it does not show (a new job interrupted
    early, a refused key): a run never makes an output show less, unless ``--restart``.
    Anything that involves a workbook is written by a child process (see the module docstring);
    CSV to CSV, which streams in small steps, in the calling thread.
    """
    for path in (plan.request.output, plan.request.problems, plan.request.changes):
        if path is not None:
            remove_stale_temps(path)  # of a writer killed with its run
    stamp_before = store.get_meta(OUTPUT_STAMP_KEY)
    spec = dataclasses.replace(
        spec_of(plan, job_id), recorded_stamp=stamp_before, overwrite=plan.request.overwrite
    )
    recorded = store.get_meta(_ANSWERED_KEY)
    if recorded is not None and same_output(stamp_before, spec.output):
        spec = dataclasses.replace(spec, previous_answered=int(recorded))
    elif spec.output.exists():
        spec = dataclasses.replace(spec, previous_answered=-1)  # there, but not as we left it
    workbook = plan.table.format.kind != "csv" or output_kind(spec.output) != "csv"
    for extra in (spec.problems, spec.changes):
        if extra is not None and output_kind(extra) != "csv":
            workbook = True
    if not workbook or spec.store is None:
        result = write_files(spec, plan.table, store)
    else:
        result = run_writer_child(spec)
    stamp = output_stamp(spec.output) if not result.kept_output else None
    if stamp is not None:
        store.set_meta(OUTPUT_STAMP_KEY, stamp)
        store.set_meta(_ANSWERED_KEY, str(result.answered))
    # Remembered, so the next run may replace them (and no other file) without --overwrite.
    written = {
        str(p.resolve()): output_stamp(p)
        for p in (spec.problems, spec.changes)
        if p is not None and p.exists()
    }
    if written:
        known = side_files_of(spec.store) if spec.store is not None else {}
        store.set_meta(SIDE_FILES_KEY, json.dumps({**known, **written}, sort_keys=True))
    return result


def run_writer_child(spec: WriteSpec) -> WriteResult:
    """Write ``spec`` in a fresh interpreter (``python -m batchverify.engine.writechild``).

    A plain subprocess, not multiprocessing: spawn would import the caller's main script again
    (a script without a ``__main__`` guard would run its jobs a second time), and fork is unsafe in
    a process with threads. Its own session, so a Ctrl-C meant for the run does not kill the write.
    It never outlives the run: it dies with its parent (``kill -9`` included, see ``writechild``),
    and ``kill_writers()`` ends it before a process leaves at once.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env[PARENT_ENV] = str(os.getpid())
    doc = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(spec).items()}
    child = subprocess.Popen(
        [sys.executable, "-m", "batchverify.engine.writechild"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    with _CHILDREN_LOCK:
        _CHILDREN.add(child)
    try:
        stdout, _ = child.communicate(json.dumps(doc), timeout=WRITER_SECONDS)
    except subprocess.TimeoutExpired:
        raise OutputError(
            "writing {path} took longer than {minutes:g} minutes; the answers are kept",
            code="writer_too_slow",
            path=str(spec.output),
            minutes=WRITER_SECONDS / 60,
        ) from None
    finally:
        if child.poll() is None:  # the caller gave up (an exception, a cancelled thread): no orphan
            _kill(child)
        with _CHILDREN_LOCK:
            _CHILDREN.discard(child)
    proc = subprocess.CompletedProcess(child.args, child.returncode, stdout, "")
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if proc.returncode == 0 and "counts" in answer:
        return WriteResult.from_dict(answer)
    if "error" in answer and isinstance(answer.get("params"), dict):
        raise OutputError(str(answer["error"]), code=str(answer.get("code") or "output"), **answer["params"])
    detail = answer.get("error") or f"the workbook writer ended with code {proc.returncode}"
    raise OutputError(detail)


def kill_writers() -> None:
    """End every workbook writer of this process now (before the process leaves at once), so no
    output is replaced after the run has said it stopped and released its lock."""
    with _CHILDREN_LOCK:
        children = list(_CHILDREN)
    for child in children:
        _kill(child)


def _kill(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        child.kill()  # SIGKILL: the writer starts no process of its own
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        child.wait(timeout=5)


def write_in_child(spec: WriteSpec) -> WriteResult:
    """The outputs written from ``spec`` (in the child process)."""
    table = _reopen(spec)
    assert spec.store is not None
    with Checkpoint.open(spec.store, lock=False, create=False) as store:
        return write_files(spec, table, store)


def _reopen(spec: WriteSpec) -> Table:
    suffix = spec.input.suffix.lower()
    kind = {".xlsx": "xlsx", ".xlsm": "xlsm"}.get(suffix)
    if kind is not None and output_kind(spec.output) == kind and spec.sheet is not None:
        fmt = TableFormat(kind=kind, sheet_name=spec.sheet)  # type: ignore[arg-type]
        known = ExcelTable.known(spec.input, fmt, spec.header_line, spec.header, spec.width)
        known.set_phone_column(spec.phone_col)
        return known
    table = open_table(spec.input, sheet=spec.sheet, encoding=spec.encoding)
    table.use_header(spec.header_line)
    if isinstance(table, ExcelTable):
        table.set_phone_column(spec.phone_col)
    if spec.header_line == 0:
        table.header = list(spec.header)  # the header the plan gave a list that had none
    return table


def write_files(spec: WriteSpec, table: Table, store: Store) -> WriteResult:
    """The output, then the problems-only and changes-only files."""
    names, aliases = headers(spec.language, spec.headers)
    # An earlier output's result columns (never a customer's column of the same name): where they
    # stand side by side, else by their headers where the row carries most of them.
    fixed = result_positions(table.header)
    own = own_result_headers(table.header)
    aliases = [tuple(a for a in known if a in own) for known in aliases]
    words = spec.headers == "words"
    annotate = Annotator(spec.freshness, store, spec.job_id, spec.language, words=words)
    zone = zoneinfo.ZoneInfo(spec.time_zone) if spec.time_zone else _local_zone()
    facts = SummaryFacts(
        input_name=spec.title or spec.input.name,
        retry_advice=spec.retry_advice,
        sheet=spec.sheet,
        endpoint=spec.endpoint,
        version=__version__,
        made_at=datetime.datetime.now(datetime.UTC),
    )
    look = OutputLook(spec.language, spec.summary_sheet, facts, zone, spec.headers)
    _check_input(spec)
    staged = spec.output.with_name(f".{spec.output.stem}.{secrets.token_hex(4)}.new{spec.output.suffix}")
    moves: list[tuple[Path, Path, str | None]] = []
    try:
        write_table(
            table,
            staged,
            phone_col=spec.phone_col,
            columns=names,
            aliases=aliases,
            annotate=annotate,
            output_encoding=spec.output_encoding,
            fixed=fixed,
            look=lambda positions: look.presentation(
                positions, annotate.counts, lambda: len(annotate.billable)
            ),
        )
        result = annotate.result()
        _check_input(spec)  # and not changed while it was read for the output
        # An output in place that shows more is kept; the side files (what needs action, what
        # changed) are written all the same: a night that stops early still says what it knows.
        result.kept_output = _shows_less(spec, result)
        # Every file is staged first and moved into place only once all are written and the input
        # is still what the plan read; the side files go first, the output last.
        known = side_files_of(spec.store) if spec.store is not None else {}
        moves.clear()
        problems: Keep = [_in_class(c) for c in ACTION_ORDER]  # grouped by what to do with them
        for path, keep in [(spec.problems, problems), (spec.changes, is_change)]:
            if path is None:
                continue
            side = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.new{path.suffix}")
            moves.append((side, path, known.get(str(path.resolve()))))
            write_table(
                table,
                side,
                phone_col=spec.phone_col,
                columns=names,
                aliases=aliases,
                annotate=Annotator(spec.freshness, store, spec.job_id, spec.language, words=words),
                output_encoding=spec.output_encoding if output_kind(path) == "csv" else None,
                look=OutputLook(spec.language, False, None, zone, spec.headers).presentation,
                keep=keep,
                fixed=fixed,
            )
        _check_input(spec)  # not changed while it was read for any of them
        if not result.kept_output:
            moves.append((staged, spec.output, spec.recorded_stamp))
        refuse_kept(place_all(moves, spec.overwrite))
    finally:
        for leftover in [staged, *(side for side, _, _ in moves)]:
            with contextlib.suppress(OSError):
                leftover.unlink()
    return result


def _check_input(spec: WriteSpec) -> None:
    if spec.input_stamp is not None:
        check_input_unchanged(spec.input, spec.input_stamp, "while this run was working")


def _shows_less(spec: WriteSpec, result: WriteResult) -> bool:
    """Whether the new output would show fewer final answers than the one in place, while the
    checkpoint holds final answers it leaves out (not a shorter list: a job that has not got there)."""
    if spec.replace_anyway or spec.previous_answered is None or result.hidden == 0:
        return False
    if spec.previous_answered < 0:  # an output we cannot vouch for: keep it only against nothing
        return result.answered == 0
    return result.answered < spec.previous_answered


# The problems file's groups, in this order: numbers to remove, to fix, to check by hand, to retry.
ACTION_ORDER = (StatusClass.NOT_LIVE, StatusClass.INVALID, StatusClass.UNKNOWN, StatusClass.NOT_FINAL)


def _in_class(kind: StatusClass) -> Callable[[list[CellValue]], bool]:
    def keep(values: list[CellValue]) -> bool:
        return class_of(Status(str(values[STATUS_INDEX]))) is kind

    return keep


def _local_zone() -> datetime.tzinfo:
    """The machine's time zone with its rules (so a summer answer shows summer time), from ``TZ`` or
    /etc/localtime; else the current offset."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        with contextlib.suppress(OSError, IndexError):
            name = str(Path("/etc/localtime").readlink()).split("zoneinfo/", 1)[1]
    if name:
        with contextlib.suppress(ValueError, zoneinfo.ZoneInfoNotFoundError):
            return zoneinfo.ZoneInfo(name)
    return datetime.datetime.now().astimezone().tzinfo or datetime.UTC
