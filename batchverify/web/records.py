"""What the upload server keeps of a job on disk: one folder per job id, a ``job.json`` record.

Every file of a job lives in ``<data dir>/jobs/<id>/`` under names this module chooses; the name a
client gave its upload is only shown and used for the download's name, never part of a path.
"""

from __future__ import annotations

import contextlib
import json
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
        self.output = self.dir / f"result{default_output(self.upload).suffix}"
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
    """Every job under ``root`` whose record can be read, oldest first; broken folders are skipped."""
    found: list[JobRecord] = []
    if not root.is_dir():
        return found
    for entry in root.iterdir():
        if not ID_RE.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError, ValueError, TypeError):
            doc = json.loads((entry / "job.json").read_text(encoding="utf-8"))
            if isinstance(doc, dict) and doc.get("id") == entry.name and doc.get("state") in STATES:
                found.append(JobRecord.from_json(doc))
    found.sort(key=lambda r: r.created_at)
    return found
