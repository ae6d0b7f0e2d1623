"""The plan: read the input, find the column, normalize, deduplicate, and see what the checkpoint
already holds, to decide what a run would send. Creates no file and sends nothing.

``build_plan`` blocks (it reads the whole input); ``batchverify.engine.job.plan`` runs it in a worker
thread for callers on an event loop.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from batchverify.core.columns import column_letter, detect_phone_column
from batchverify.core.header import SAMPLE_ROWS, SCAN_ROWS, locate_header
from batchverify.core.labels import action_of, column_header, label_of, phone_header
from batchverify.core.normalize import normalize_mobile
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.store import Checkpoint, check_endpoint, checkpoint_path
from batchverify.errors import InputError, OutputError, UsageError
from batchverify.files.layout import check_output
from batchverify.files.readers import Record, Table, open_table
from batchverify.files.writers import ALLOWED_OUTPUTS, output_kind
from batchverify.models import OUTPUT_COLUMNS, Status


@dataclass(frozen=True)
class RunRequest:
    """What to read, where to write, and which stored answers may be used.

    ``output`` None: results are not written to a file (the DataFrame API collects them).
    ``checkpoint`` None: the store beside the output (``<output>.checkpoint.sqlite``), or, with no
    output either, a store in memory that lasts one run.
    """

    input: Path
    output: Path | None
    column: str | None = None
    sheet: str | None = None
    encoding: str | None = None
    output_encoding: str | None = None
    max_age: datetime.timedelta | None = None
    restart: bool = False
    checkpoint: Path | None = None
    overwrite: bool = False  # replace an output file that batchverify did not write
    header_row: int | None = None  # --header-row: the header's line (0: none); None: detected
    language: str = "en"  # labels, actions, the summary sheet and the API's descriptions
    summary_sheet: bool = True  # a workbook output gets a summary sheet
    problems: Path | None = None  # also write only the rows that need action here
    changes: Path | None = None  # also write only the rows whose status changed since the last job
    max_billable: int | None = None  # --max-billable: this run stops dispatching before more
    price: float | None = None  # --price: what one billable answer costs (for the plan and summary)

    @property
    def store_path(self) -> Path | None:
        """Where this run's checkpoint store lives (None: in memory)."""
        if self.checkpoint is not None:
            return self.checkpoint
        return None if self.output is None else checkpoint_path(self.output)


@dataclass
class Plan:
    """The scan of the input and what a run will do; everything the pre-send line shows.

    ``to_send`` is what the run may send: only these numbers, and ``max_billable`` bounds what it
    can be billed for, counting every call without an answer as billed.
    """

    request: RunRequest
    table: Table
    phone_col: int
    column_name: str
    endpoint_identity: str
    column_named: bool = True  # False: the column was picked by its values alone (the plan warns)
    rows: int = 0
    empty: int = 0
    invalid: int = 0
    duplicate_rows: int = 0
    distinct: dict[int, None] = field(default_factory=dict)
    already_answered: int = 0  # final answers this job already has (a resumed run)
    reused: int = 0  # final answers from earlier jobs, younger than --max-age
    to_send: list[int] = field(default_factory=list)
    resumed_job: int | None = None  # the open job this run would resume
    resumed_started_at: str | None = None
    expiring_job: int | None = None  # an open job older than --max-age: closed, a new one starts
    expiring_started_at: str | None = None
    reuse_since: str | None = None
    made_at: str = ""
    output_encoding: str | None = None  # the CSV output's codec when not the input's (a BOM added)

    @property
    def repeat_allowance(self) -> int:
        """How many calls whose answer was lost (each may have been billed) the run may repeat:
        2 % of the numbers, at least 5, never more than the numbers themselves."""
        n = len(self.to_send)
        return min(n, max(5, -(-n * 2 // 100)))

    @property
    def max_billable(self) -> int:
        """The most calls the run can be billed for: one per number it sends, plus the repeats of
        calls whose answer was lost, and never more than ``--max-billable``. The run keeps this
        bound (``Sender``'s budget and cap)."""
        bound = len(self.to_send) + self.repeat_allowance
        cap = self.request.max_billable
        return bound if cap is None else min(bound, cap)

    @property
    def resumed(self) -> bool:
        return self.resumed_job is not None


_EXCEL_KINDS = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls"}


def default_output(path: Path) -> Path:
    """``<stem>.verified.<ext>`` beside the input (an .xls input becomes .xlsx)."""
    suffix = ".xlsx" if path.suffix.lower() == ".xls" else path.suffix
    return path.with_name(f"{path.stem}.verified{suffix}")


def check_paths(request: RunRequest) -> None:
    """Refuse an output that would overwrite the input, change the format, or cannot be written."""
    out = request.output
    if out is None or not request.input.is_file():
        return  # the reader reports a missing, directory or special input with its own message
    check_output(request.input, out)
    if not os.access(out.parent, os.W_OK):
        raise OutputError(f"the output folder {out.parent} is not writable")
    store = request.store_path
    if out.exists() and not request.overwrite and (store is None or not store.exists()):
        raise OutputError(
            f"{out} exists and batchverify did not write it (no checkpoint beside it); "
            "choose another -o, or pass --overwrite to replace it"
        )
    if request.output_encoding is not None:
        _check_codec(request.output_encoding)
    _check_format(request.input, out, "the output")
    for flag, path in (("--problems", request.problems), ("--changes", request.changes)):
        if path is not None:
            _check_side_file(request, flag, path)


def _check_format(source: Path, out: Path, what: str) -> None:
    kind = _EXCEL_KINDS.get(source.suffix.lower(), "csv")
    allowed = ALLOWED_OUTPUTS[kind]
    if out.suffix.lower() not in allowed:
        listing = ", ".join(dict.fromkeys(allowed))
        raise UsageError(f"{what} {out.name} must be one of {listing} for a {source.suffix or 'text'} input")


def _check_side_file(request: RunRequest, flag: str, path: Path) -> None:
    """``--problems`` and ``--changes``: a new file of a supported format, never one we must keep."""
    assert request.output is not None
    others = (request.input, request.output, request.store_path, request.problems, request.changes)
    for other in others:
        if other is not None and other is not path and _same_file(path, other):
            raise UsageError(f"{flag} {path} would overwrite {other}; choose another file")
    check_output(request.input, path)
    if path.suffix.lower() == ".xlsm":
        raise UsageError(f"{flag} cannot be .xlsm (it holds no macros); use .xlsx or .csv")
    _check_format(request.input, path, flag)
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"the folder of {flag} {path} is not writable")
    if not path.exists():
        return
    if checkpoint_path(path).exists():
        raise OutputError(f"{flag} {path} is the output of another batchverify run; choose another file")
    if not request.overwrite and str(path.resolve()) not in side_files_of(request.store_path):
        raise OutputError(
            f"{path} exists and this output's runs did not write it; choose another {flag}, "
            "or pass --overwrite to replace it"
        )


SIDE_FILES_KEY = "side_files"


def side_files_of(store: Path | None) -> list[str]:
    """The --problems and --changes files the runs of an output wrote (absolute paths)."""
    if store is None or not store.exists():
        return []
    with Checkpoint.open(store, lock=False, create=False) as opened:
        text = opened.get_meta(SIDE_FILES_KEY)
    try:
        known = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(p) for p in known] if isinstance(known, list) else []


def _same_file(a: Path, b: Path) -> bool:
    same = a.resolve() == b.resolve()
    with contextlib.suppress(OSError):
        same = same or (a.exists() and b.exists() and a.samefile(b))
    return same


def _check_codec(name: str, language: str = "en") -> str:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise UsageError(f"unknown --output-encoding {name!r}") from None
    words = [column_header(c, language) for c in OUTPUT_COLUMNS]
    words += [label_of(s, language) + action_of(s, language) for s in Status]
    try:
        " ".join(words).encode(codec)
    except UnicodeEncodeError:
        raise UsageError(
            f"--output-encoding {name} cannot hold the result columns in {language}; "
            "use utf-8-sig, or --language en"
        ) from None
    return codec


def _output_encoding(request: RunRequest, table: Table) -> str | None:
    """The CSV output's codec, when it is not simply the input's: asked for, or UTF-8 with a BOM.

    Excel on Chinese Windows reads a CSV without a BOM as GBK, so a UTF-8 output holding Chinese
    (the input's, or the zh-CN labels) would show mojibake; a BOM makes Excel read it as UTF-8. An
    input with a BOM, in GB18030 or UTF-16 already opens correctly and keeps its encoding.
    """
    out = request.output
    if out is None or output_kind(out) != "csv":
        return None
    if request.output_encoding is not None:
        return request.output_encoding
    if table.format.kind != "csv":
        return "utf-8-sig"
    if table.format.encoding == "utf-8" and (request.language == "zh-CN" or not _ascii_file(table.path)):
        return "utf-8-sig"
    return None


def _ascii_file(path: Path) -> bool:
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            if not block.isascii():
                return False
    return True


def check_summary_path(path: Path, request: RunRequest) -> None:
    """``--summary-json`` must be a new or replaceable file, never the input, output or checkpoint."""
    taken = [request.input, request.output, request.store_path, request.problems, request.changes]
    for other in taken:
        if other is not None and _same_file(path, other):
            raise UsageError(f"--summary-json {path} would overwrite {other}; choose another file")
    if path.is_dir():
        raise UsageError(f"--summary-json {path} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"the folder of --summary-json {path} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"the folder of --summary-json {path} is not writable")


def build_plan(
    request: RunRequest,
    *,
    endpoint_identity: str,
    table: Table | None = None,
    now: datetime.datetime | None = None,
) -> Plan:
    """Scan the input and look at the checkpoint (read only) to decide what would be sent.

    ``table`` replaces reading ``request.input`` (the DataFrame API passes its column). Raises
    ``InputError``, ``OutputError``, ``UsageError`` or ``CheckpointError``; creates no file.
    """
    check_paths(request)
    if table is None:
        table = open_table(request.input, sheet=request.sheet, encoding=request.encoding)
    plan = _scan(request, table, endpoint_identity)
    now = now or datetime.datetime.now(datetime.UTC)
    plan.made_at = utc_now_iso(now)
    if request.max_age is not None:
        plan.reuse_since = utc_now_iso(now - request.max_age)
    path = request.store_path
    if path is None or not path.exists():
        plan.to_send = list(plan.distinct)
        return plan
    with Checkpoint.open(path, lock=False, create=False) as store:
        bound = store.bound_endpoint()
        if bound is not None:
            check_endpoint(path, bound, endpoint_identity)
        peeked = None if request.restart else store.peek_job()
        if peeked is not None and plan.reuse_since is not None and peeked[1] < plan.reuse_since:
            # Older than --max-age: none of its answers may be shown, so it is not resumed.
            plan.expiring_job, plan.expiring_started_at = peeked
            peeked = None
        if peeked is not None:
            plan.resumed_job, plan.resumed_started_at = peeked
        reusable = set(store.finals(None, plan.reuse_since)) if plan.reuse_since else set()
        done_this_job = set(store.finals(plan.resumed_job, None)) if peeked else set()
        if plan.reuse_since is not None:
            done_this_job &= reusable  # --max-age bounds the resumed job's answers too
    for number in plan.distinct:
        if number in done_this_job:
            plan.already_answered += 1
        elif number in reusable:
            plan.reused += 1
        else:
            plan.to_send.append(number)
    return plan


def _scan(request: RunRequest, table: Table, endpoint_identity: str) -> Plan:
    if table.detect_header:
        top = [(rec.line, rec.cells) for rec in itertools.islice(table.rows(), SCAN_ROWS + SAMPLE_ROWS)]
        try:
            choice = locate_header(top, request.column, request.header_row)
        except InputError as exc:
            sheets = table.format.sheet_names
            if len(sheets) > 1:  # say which sheet was read; --sheet picks another
                raise InputError(f"sheet {table.format.sheet_name!r} (of {len(sheets)}): {exc}") from None
            raise
        table.use_header(choice.line)
        phone_col, named = choice.phone_col, choice.named
        if choice.line == 0:  # no header row: the output's new one names the phone column
            table.header = [""] * phone_col + [phone_header(request.language)]
    else:
        sample = [rec.cells for rec in itertools.islice(table.records(), 1, SAMPLE_ROWS + 1)]
        phone_col = detect_phone_column(table.header, sample, request.column)
        named = True
    plan = Plan(
        request=request,
        table=table,
        phone_col=phone_col,
        column_name=_column_label(table.header, phone_col),
        column_named=named,
        endpoint_identity=endpoint_identity,
    )
    distinct = plan.distinct
    codec = None
    plan.output_encoding = _output_encoding(request, table)
    if plan.output_encoding is not None:
        codec = _check_codec(plan.output_encoding, request.language)
        for record in itertools.chain(table.preamble(), [Record(table.header_line, table.header)]):
            _encodable(record.cells, codec, record.line)
    for record in itertools.islice(table.records(), 1, None):
        if not any(record.cells):
            continue  # a blank row: written back blank, never counted
        plan.rows += 1
        if codec is not None:
            _encodable(record.cells, codec, record.line)
        cell = record.cells[phone_col] if phone_col < len(record.cells) else ""
        norm = normalize_mobile(cell)
        if norm.number is None:
            if norm.status is Status.EMPTY:
                plan.empty += 1
            else:
                plan.invalid += 1
            continue
        number = int(norm.number)
        if number in distinct:
            plan.duplicate_rows += 1
        else:
            distinct[number] = None
    return plan


def _encodable(cells: list[str], codec: str, line: int) -> None:
    try:
        "".join(cells).encode(codec)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise UsageError(
            f"--output-encoding {codec} cannot hold {bad!r} (record {line}); use utf-8 or utf-8-sig"
        ) from None


def _column_label(header: list[str], index: int) -> str:
    name = " ".join(header[index].split()) if index < len(header) else ""
    return f"{column_letter(index)} {name!r}" if name else column_letter(index)
