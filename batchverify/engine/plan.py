"""The plan: read the input, find the column, normalize, deduplicate, and see what the checkpoint
already holds, to decide what a run would send. Creates no file and sends nothing.

``build_plan`` blocks (it reads the whole input); ``batchverify.engine.job.plan`` runs it in a worker
thread for callers on an event loop.
"""

from __future__ import annotations

import datetime
import itertools
import logging
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from batchverify.core.columns import column_letter, detect_phone_column
from batchverify.core.freshness import Freshness
from batchverify.core.header import SAMPLE_ROWS, SCAN_ROWS, locate_header
from batchverify.core.labels import phone_header
from batchverify.core.normalize import normalize_mobile
from batchverify.core.numberset import NumberSet, first_occurrences
from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.answers import AnswerStore
from batchverify.engine.encodings import check_codec, encodable, output_encoding_for
from batchverify.engine.joblist import JOB_LIST_KEY, check_same_list
from batchverify.engine.limits import ExcelLimits
from batchverify.engine.paths import (
    OUTPUT_STAMP_KEY,
    check_input_unchanged,
    check_not_edited,
    check_paths,
    output_stamp,
)
from batchverify.engine.sqlitebase import holds_store
from batchverify.engine.store import Checkpoint, check_endpoint, checkpoint_path
from batchverify.errors import PLAIN_NAMES, BatchVerifyError, InputError
from batchverify.files.exceltable import ExcelTable
from batchverify.files.readers import Record, Table, open_table
from batchverify.models import RowResult, Status

log = logging.getLogger("batchverify")


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
    max_age_by_status: dict[str, datetime.timedelta] = field(default_factory=dict)  # per status
    restart: bool = False
    checkpoint: Path | None = None
    overwrite: bool = False  # replace an output file that batchverify did not write
    header_row: int | None = None  # --header-row: the header's line (0: none); None: detected
    language: str = "en"  # labels, actions, the summary sheet and the API's descriptions
    summary_sheet: bool = True  # a workbook output gets a summary sheet
    headers: str = "words"  # words: headers and codes in the language; names: the mobile_* names
    time_zone: str | None = None  # the times a person reads (None: the machine's zone)
    title: str | None = None  # what the summary sheet calls the list (None: the input's file name)
    retry_advice: str = "command"  # how the summary sheet says to fill in what is still open
    problems: Path | None = None  # also write only the rows that need action here
    changes: Path | None = None  # also write only the rows whose status changed since the last job
    max_billable: int | None = None  # --max-billable: this run stops dispatching before more
    price: float | None = None  # --price: what one billable answer costs (for the plan and summary)
    answers: Path | None = None  # the answer store shared by every job (None: none)
    answers_keep: datetime.timedelta | None = None  # how long the answer store keeps an answer
    # Without max_age, reuse what the checkpoint itself holds (any job, within answers_keep), and
    # nothing from the answer store: a DataFrame called again on its checkpoint pays nothing.
    reuse_checkpoint: bool = False

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
    distinct: NumberSet = field(default_factory=NumberSet)  # in the list's order
    already_answered: int = 0  # final answers this job already has (a resumed run)
    reused: int = 0  # final answers from earlier jobs, younger than --max-age
    to_send: NumberSet = field(default_factory=NumberSet)
    resumed_job: int | None = None  # the open job this run would resume
    resumed_started_at: str | None = None
    expiring_job: int | None = None  # an open job older than --max-age: closed, a new one starts
    expiring_started_at: str | None = None
    freshness: Freshness | None = None  # which stored answers are young enough (None: none reused)
    reuse_since: str | None = None  # the widest window's start
    shared: dict[int, RowResult] = field(default_factory=dict)  # reused from the answer store
    shared_oldest: str | None = None
    made_at: str = ""
    input_stamp: str | None = None  # what the input held when it was read (its SHA-256)
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


def default_output(path: Path) -> Path:
    """``<stem>.verified.<ext>`` beside the input (an .xls input becomes .xlsx)."""
    suffix = ".xlsx" if path.suffix.lower() == ".xls" else path.suffix
    return path.with_name(f"{path.stem}.verified{suffix}")


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
    if request.output_encoding is not None:
        check_codec(request.output_encoding)
    stamp = None
    if table is None:
        stamp = output_stamp(request.input)
        table = open_table(request.input, sheet=request.sheet, encoding=request.encoding)
    plan = _scan(request, table, endpoint_identity)
    if stamp is not None:
        check_input_unchanged(request.input, stamp, "while it was being read")
        plan.input_stamp = stamp
    now = now or datetime.datetime.now(datetime.UTC)
    plan.made_at = utc_now_iso(now)
    plan.freshness = Freshness.of(request.max_age, request.max_age_by_status, now)
    checkpoint_only = plan.freshness is None and request.reuse_checkpoint and not request.restart
    if checkpoint_only:
        keep = request.answers_keep or datetime.timedelta(days=3650)
        plan.freshness = Freshness.of(keep, {}, now)
    if plan.freshness is not None:
        plan.reuse_since = plan.freshness.since
    path = request.store_path
    if path is None or not holds_store(path):
        plan.to_send = plan.distinct
        if not checkpoint_only:
            _reuse_shared(plan)
        return plan
    with Checkpoint.open(path, lock=False, create=False) as store:
        bound = store.bound_endpoint()
        if bound is not None:
            check_endpoint(path, bound, endpoint_identity)
        check_not_edited(request, store.get_meta(OUTPUT_STAMP_KEY))
        peeked = None if request.restart else store.peek_job()
        if peeked is not None and plan.reuse_since is not None and peeked[1] < plan.reuse_since:
            # Older than --max-age: none of its answers may be shown, so it is not resumed.
            plan.expiring_job, plan.expiring_started_at = peeked
            peeked = None
        if peeked is not None:
            check_same_list(plan, peeked[0], store.get_meta(JOB_LIST_KEY))
            plan.resumed_job, plan.resumed_started_at = peeked
        reusable = _fresh_finals(store, plan.freshness)
        done_this_job = set(store.finals(plan.resumed_job, None)) if peeked else set()
        if plan.freshness is not None:  # --max-age bounds the resumed job's answers too
            done_this_job = _fresh_finals(store, plan.freshness, own=done_this_job)
    to_send = array("q")
    for number in plan.distinct:
        if number in done_this_job:
            plan.already_answered += 1
        elif number in reusable:
            plan.reused += 1
        else:
            to_send.append(number)
    plan.to_send = NumberSet(to_send)
    if not checkpoint_only:
        _reuse_shared(plan)
    return plan


def _fresh_finals(store: Checkpoint, freshness: Freshness | None, own: set[int] | None = None) -> set[int]:
    """The numbers whose final answer in ``store`` is fresh (young enough for its status); with
    ``own``, those of the resumed job's answers (``own``), judged as the job's own."""
    if freshness is None:
        return set()
    candidates = set(store.finals(None, freshness.since, freshness.until))
    if own is not None:
        candidates &= own
    if not freshness.by_status or not candidates:
        return candidates
    stored = store.lookup(candidates)
    mine = own is not None
    return {
        n for n, a in stored.items() if freshness.fresh(a.result.status.value, a.result.checked_at, own=mine)
    }


def _reuse_shared(plan: Plan) -> None:
    """Move the numbers the answer store answered within ``max_age`` from ``to_send`` to ``reused``."""
    path, freshness = plan.request.answers, plan.freshness
    if freshness is None or path is None or not path.exists() or not plan.to_send:
        return
    try:
        with AnswerStore.open(path, create=False, wait=2.0) as shared:
            found = shared.fresh(plan.endpoint_identity, plan.to_send, freshness.since, freshness.until)
    except BatchVerifyError as exc:  # a store that is busy or damaged: nothing is reused, the run goes on
        log.warning("%s; nothing is reused from it", exc.render(PLAIN_NAMES))
        return
    found = {n: r for n, r in found.items() if freshness.fresh(r.status.value, r.checked_at)}
    if not found:
        return
    plan.shared = found
    plan.shared_oldest = min(r.checked_at for r in found.values())
    plan.reused += len(found)
    plan.to_send = plan.to_send.without(found)


def _scan(request: RunRequest, table: Table, endpoint_identity: str) -> Plan:
    if table.detect_header:
        top = [(rec.line, rec.cells) for rec in itertools.islice(table.rows(), SCAN_ROWS + SAMPLE_ROWS)]
        try:
            choice = locate_header(top, request.column, request.header_row)
        except InputError as exc:
            sheets = table.format.sheet_names
            if len(sheets) > 1:  # say which sheet was read; --sheet picks another
                raise InputError(
                    "sheet {sheet!r} (of {count}): " + _as_template(exc),
                    code=exc.code,
                    **{**exc.params, "sheet": table.format.sheet_name, "count": len(sheets)},
                ) from None
            raise
        table.use_header(choice.line)
        phone_col, named = choice.phone_col, choice.named
        if choice.line == 0:  # no header row: the output's new one names the phone column
            table.header = [""] * phone_col + [phone_header(request.language)]
    else:
        sample = [rec.cells for rec in itertools.islice(table.records(), 1, SAMPLE_ROWS + 1)]
        phone_col = detect_phone_column(table.header, sample, request.column)
        named = True
    if isinstance(table, ExcelTable):
        table.set_phone_column(phone_col)
    plan = Plan(
        request=request,
        table=table,
        phone_col=phone_col,
        column_name=_column_label(table.header, phone_col),
        column_named=named,
        endpoint_identity=endpoint_identity,
    )
    seen = array("q")  # every valid row's number: 8 bytes a row, made distinct once at the end
    codec = None
    plan.output_encoding = output_encoding_for(request, table)
    if plan.output_encoding is not None:
        codec = check_codec(plan.output_encoding, request.language)
        for record in itertools.chain(table.preamble(), [Record(table.header_line, table.header)]):
            encodable(record.cells, codec, record.line)
    limits = ExcelLimits(table, [request.output, request.problems, request.changes])
    for record in itertools.islice(table.records(), 1, None):
        limits.see(record)
        if not record.is_data:
            continue  # a blank row or a table's totals row: written back as it is, never counted
        plan.rows += 1
        if codec is not None:
            encodable(record.cells, codec, record.line)
        cell = record.cells[phone_col] if phone_col < len(record.cells) else ""
        norm = normalize_mobile(cell)
        if norm.number is None:
            if norm.status is Status.EMPTY:
                plan.empty += 1
            else:
                plan.invalid += 1
            continue
        seen.append(int(norm.number))
    limits.check()
    plan.distinct = first_occurrences(seen)
    plan.duplicate_rows = len(seen) - len(plan.distinct)
    if plan.empty and isinstance(table, ExcelTable):
        _refuse_unsaved_formulas(table, phone_col)
    return plan


def _refuse_unsaved_formulas(table: ExcelTable, phone_col: int) -> None:
    """Phone cells that read as empty because they hold a formula Excel never calculated (a
    workbook a script wrote): the run would say complete without them."""
    count, first = table.formulas_without_values(phone_col)
    if count:
        raise InputError(
            "{file}: {count} cells of the phone column ({first}) hold a formula with no saved value "
            "(the workbook was written by a program and never opened in Excel), so they read as empty; "
            "open it in Excel or LibreOffice, save it, and run again",
            code="unsaved_formulas",
            file=str(table.path),
            count=count,
            first=", ".join(first) + (", ..." if count > len(first) else ""),
        )


def _column_label(header: list[str], index: int) -> str:
    name = " ".join(header[index].split()) if index < len(header) else ""
    return f"{column_letter(index)} {name!r}" if name else column_letter(index)


def _as_template(exc: BatchVerifyError) -> str:
    """``exc``'s template, its braces escaped when it is a plain message (it has no params)."""
    return exc.template if exc.params else exc.template.replace("{", "{{").replace("}", "}}")
