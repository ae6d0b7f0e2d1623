"""What the upload server keeps of a job on disk: one folder per job id, a ``job.json`` record.

Every file of a job lives in ``<data dir>/jobs/<id>/`` under names this module chooses; the name a
client gave its upload is only shown and used for the download's name, never part of a path.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import re
import secrets
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from batchverify.engine.plan import default_output
from batchverify.engine.store import checkpoint_path

__all__ = ["ID_RE", "STATES", "JobFiles", "JobRecord", "clean_name", "load_records", "new_id"]

log = logging.getLogger("batchverify")

ID_RE = re.compile(r"[0-9a-f]{16}", re.ASCII)
STATES = ("planned", "queued", "running", "stopped", "finished", "failed")
UPLOAD_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".tab", ".xlsx", ".xlsm", ".xls"})
# Control characters, path separators, and the bidirectional controls that make "gnp.csv" read "vsc.png".
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f/\\\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
# What browsers escape in a multipart file name (the HTML standard): ", CR and LF.
_HTML_ESCAPES = {"%22": '"', "%0a": "", "%0d": ""}
_HTML_ESCAPE_RE = re.compile(r"%(?:22|0[aAdD])")
_PERCENT_RE = re.compile(r"%[0-9A-Fa-f]{2}")


def _utf8(quoted: str) -> bool:
    try:
        unquote(quoted, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def new_id() -> str:
    """A job id: 64 random bits, so ids cannot be guessed or enumerated."""
    return secrets.token_hex(8)


def clean_name(filename: str | None) -> str:
    """The upload's name as shown: its last path part, without control characters, at most 120.

    Browsers send a name's UTF-8 as is; some clients percent-encode it (RFC 5987): decoded when
    that gives non-ASCII text."""
    name = _HTML_ESCAPE_RE.sub(lambda m: _HTML_ESCAPES[m.group(0).lower()], filename or "")
    if name.isascii() and _PERCENT_RE.search(name):
        decoded = unquote(name, errors="strict") if _utf8(name) else name
        name = decoded if not decoded.isascii() else name
    base = re.split(r"[/\\]", name)[-1]
    base = _UNSAFE_RE.sub("", base).strip().lstrip(".")
    return base[:120] or "upload"


@dataclass
class JobRecord:
    """A job as the server shows it and stores it (``job.json``)."""

    id: str
    name: str
    suffix: str  # the stored upload's extension (.csv, .xlsx, ...)
    created_at: str
    language: str = "en"
    size: int = 0
    state: str = "planned"
    updated_at: str = ""
    column: str | None = None
    sheet: str | None = None
    header_row: int | None = None
    max_age: str | None = None  # reuse answers younger than this from the answer store ("7d")
    plan: dict[str, Any] = field(default_factory=dict)
    total: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: str | None = None
    runs: int = 0
    closed: bool = False  # every number final (or given up): starting again would pay again
    sha256: str = ""  # of the upload: the same file uploaded again is pointed out before it is paid again
    upload_key: str = ""  # the upload's Idempotency-Key: the same request again gets this job
    start_key: str = ""  # the last start's Idempotency-Key: the same start again starts nothing
    title: str = ""  # the name the uploader gave the job ("": shown by its file name)
    owner: str = ""  # who uploaded it (a users file's name; "": the operator, or before users)
    time_zone: str | None = None  # the uploader's (their browser's): the times in the workbook
    budget: int | None = None  # the most billable answers the uploader allows (max_billable)
    spent: int = 0  # billable answers of the job's runs so far (what the budget is counted against)
    output_suffix: str = ""  # the result's kind (".xlsx" for a CSV upload; "": as the upload)
    headers: str = "words"  # the result columns' headers: words (the language) or names (mobile_*)
    # Stopped, and its file not written yet: a server that went down meanwhile writes it at its start.
    writing: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


class JobFiles:
    """The paths of one job's files."""

    def __init__(self, root: Path, record: JobRecord) -> None:
        self.dir = root / record.id
        self.record_file = self.dir / "job.json"
        self.upload = self.dir / f"upload{record.suffix}"
        self.output = self.dir / f"result{record.output_suffix or default_output(self.upload).suffix}"
        self.checkpoint = checkpoint_path(self.output)
        # A macro workbook's problem rows go to CSV: they carry no macros, and the engine writes an
        # .xlsm input's side files as .xlsm's own kind or as text only.
        side = ".csv" if self.output.suffix == ".xlsm" else self.output.suffix
        self.problems = self.dir / f"problems{side}"

    def save(self, record: JobRecord) -> None:
        """Replace ``job.json`` atomically: a kill -9 leaves the old record or the new one."""
        tmp = self.dir / "job.json.tmp"
        tmp.write_text(json.dumps(record.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.record_file)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def download_name(self, record: JobRecord, problems: bool) -> str:
        """``客户.verified.xlsx`` / ``客户.problems.xlsx``: named after the upload."""
        stem = Path(record.name).stem if Path(record.name).suffix.lower() in UPLOAD_SUFFIXES else record.name
        path = self.problems if problems else self.output
        return f"{stem}.{'problems' if problems else 'verified'}{path.suffix}"


def load_records(root: Path) -> list[JobRecord]:
    """Every job under ``root``, oldest first. A job whose record cannot be read (a truncated or
    replaced ``job.json``) but whose files are there (its upload, a checkpoint of paid answers) is
    rebuilt from them, marked as damaged and logged, never dropped: its answers can still be
    downloaded or the job resumed. A folder with neither is an upload a crash cut off."""
    found: list[JobRecord] = []
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        if not ID_RE.fullmatch(entry.name):
            continue
        record = _read(entry)
        if record is None:
            record = _rebuild(entry)
        if record is not None:
            found.append(record)
    found.sort(key=lambda r: r.created_at)
    return found


def _read(entry: Path) -> JobRecord | None:
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        doc = json.loads((entry / "job.json").read_text(encoding="utf-8"))
        if isinstance(doc, dict) and doc.get("id") == entry.name and doc.get("state") in STATES:
            record = JobRecord.from_json(doc)
            if _well_typed(record):
                return record
    return None


def _well_typed(record: JobRecord) -> bool:
    """A record whose fields have the types they must (a hand-edited or forged one may not)."""
    for item in fields(record):
        value = getattr(record, item.name)
        kind = {"str": str, "int": int, "bool": bool, "int | None": int, "str | None": str}.get(
            str(item.type)
        )
        if str(item.type).endswith("| None") and value is None:
            continue
        if kind is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            return False
    return record.output_suffix in ("", ".xlsx") and record.headers in ("words", "names")


def _rebuild(entry: Path) -> JobRecord | None:
    uploads = [p for p in entry.glob("upload.*") if p.suffix.lower() in UPLOAD_SUFFIXES and p.is_file()]
    stores = list(entry.glob("*.checkpoint.sqlite"))
    record_file = entry / "job.json"
    if not record_file.exists() and not stores:
        return None  # an upload cut off before it was planned: the sweep removes it
    try:
        made = entry.stat().st_mtime
        size = uploads[0].stat().st_size if uploads else 0
    except OSError:
        return None
    stamp = datetime.datetime.fromtimestamp(made, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    upload = uploads[0] if uploads else None
    # A checkpoint whose last job is closed: every number has its answer, and starting again would
    # pay for the list again; one with an open job is resumed by Start.
    closed = bool(stores) and _all_closed(stores[0])
    # A text list's result is a workbook unless it was asked as the list's own kind.
    workbook = any(p.name.startswith("result.xlsx") for p in stores) or (entry / "result.xlsx").exists()
    text_list = upload is not None and upload.suffix.lower() in (".csv", ".tsv", ".txt", ".tab")
    record = JobRecord(
        id=entry.name,
        output_suffix=".xlsx" if workbook and text_list else "",
        name=f"(damaged job {entry.name}){upload.suffix if upload else ''}",
        suffix=upload.suffix if upload else ".csv",
        created_at=stamp,
        updated_at=stamp,
        size=size,
        state="failed" if upload is None else "finished" if closed else "stopped",
        closed=closed,
        error=(
            "this job's record was damaged and has been rebuilt from its files (its upload and the "
            "answers in its checkpoint); the original file name and choices are lost"
            + ("" if upload is not None else "; its upload is missing, so it cannot be resumed")
        ),
    )
    log.warning("job %s: its record (job.json) could not be read; rebuilt from its files", entry.name)
    with contextlib.suppress(OSError):
        if record_file.exists():
            record_file.replace(entry / "job.json.damaged")  # kept for whoever looks into it
        tmp = entry / "job.json.tmp"
        tmp.write_text(json.dumps(record.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(record_file)
    return record


def _all_closed(store: Path) -> bool:
    """Whether the checkpoint holds answers and no open job (starting again would pay again)."""
    from batchverify.engine.store import Checkpoint

    try:
        with Checkpoint.open(store, lock=False, create=False) as opened:
            return opened.peek_job() is None and opened.answer_count() > 0
    except Exception:  # a store that cannot be read is resumed by Start, which says what is wrong
        return False
