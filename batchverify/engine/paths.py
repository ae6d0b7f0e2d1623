"""The files a run may write, checked before anything is sent: never the input, never a file
batchverify did not write (unless told to overwrite), never one another file of the run names."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify.engine.sqlitebase import holds_store
from batchverify.engine.store import Checkpoint, checkpoint_path
from batchverify.errors import OutputError, UsageError
from batchverify.files.formats import ALLOWED_OUTPUTS
from batchverify.files.layout import check_output

if TYPE_CHECKING:
    from batchverify.engine.plan import RunRequest

__all__ = [
    "OUTPUT_STAMP_KEY",
    "SIDE_FILES_KEY",
    "check_input_unchanged",
    "check_not_edited",
    "check_paths",
    "check_summary_path",
    "check_write_target",
    "job_files",
    "output_stamp",
    "same_output",
    "side_files_of",
]

_EXCEL_KINDS = {".xlsx": "xlsx", ".xlsm": "xlsm", ".xls": "xls"}


def check_paths(request: RunRequest) -> None:
    """Refuse an output that would overwrite the input, change the format, or cannot be written."""
    out = request.output
    if out is None or not request.input.is_file():
        return  # the reader reports a missing, directory or special input with its own message
    check_output(request.input, out)
    _check_not_state(out, "output")
    answers = request.answers
    for mine in (request.input, out, request.problems, request.changes):
        if answers is not None and mine is not None and _same_file(answers, mine):
            raise UsageError(
                "the answer store {path} would be the same file as {other}; choose another {o[answers]}",
                code="would_overwrite",
                option="answers",
                path=str(answers),
                other=str(mine),
            )
    if not os.access(out.parent, os.W_OK):
        raise OutputError(
            "the output folder {folder} is not writable", code="output_not_writable", folder=str(out.parent)
        )
    store = request.store_path
    if out.exists() and not request.overwrite and not holds_store(store):
        raise OutputError(
            "{path} exists and batchverify did not write it (no checkpoint beside it); "
            "choose another {o[output]}, or pass {o[overwrite]} to replace it",
            code="output_exists",
            option="output",
            path=str(out),
        )
    _check_format(request.input, out, "the output")
    for name, path in (("problems", request.problems), ("changes", request.changes)):
        if path is not None:
            _check_side_file(request, name, path)


def _check_format(source: Path, out: Path, what: str) -> None:
    kind = _EXCEL_KINDS.get(source.suffix.lower(), "csv")
    allowed = ALLOWED_OUTPUTS[kind]
    if out.suffix.lower() not in allowed:
        listing = ", ".join(dict.fromkeys(allowed))
        raise UsageError(
            "{what} {name} must be one of {allowed} for a {kind} input",
            code="output_format",
            what=what,
            name=out.name,
            allowed=listing,
            kind=source.suffix or "text",
        )


def _check_side_file(request: RunRequest, name: str, path: Path) -> None:
    """``--problems`` and ``--changes``: a new file of a supported format, never one we must keep."""
    assert request.output is not None
    opt = "{o[" + name + "]}"
    where = {"option": name, "path": str(path)}
    check_write_target(path, request, name)
    check_output(request.input, path)
    if path.suffix.lower() == ".xlsm":
        raise UsageError(
            opt + " cannot be .xlsm (it holds no macros); use .xlsx or .csv", code="output_format", **where
        )
    _check_format(request.input, path, f"the {name} file")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(
            "the folder of " + opt + " {path} is not writable", code="output_not_writable", **where
        )
    if not path.exists():
        return
    if checkpoint_path(path).exists():
        raise OutputError(
            opt + " {path} is the output of another batchverify run; choose another file",
            code="would_overwrite",
            **where,
        )
    known = side_files_of(request.store_path)
    if request.overwrite:
        return
    if str(path.resolve()) not in known:
        raise OutputError(
            "{path} exists and this output's runs did not write it; choose another " + opt + ", "
            "or pass {o[overwrite]} to replace it",
            code="output_exists",
            **where,
        )
    stamp = known[str(path.resolve())]
    if stamp is not None and not same_output(stamp, path):
        raise OutputError(
            opt + " {path} was changed since batchverify wrote it (marked up, saved again): it is kept "
            "as it is; choose another " + opt + ", or pass {o[overwrite]} to replace it",
            code="output_edited",
            **where,
        )


SIDE_FILES_KEY = "side_files"


def side_files_of(store: Path | None) -> dict[str, str | None]:
    """The --problems and --changes files the runs of an output wrote (absolute paths), each with
    what it held then (None: written by an earlier release, which did not keep it)."""
    if not holds_store(store):
        return {}
    assert store is not None
    with Checkpoint.open(store, lock=False, create=False) as opened:
        text = opened.get_meta(SIDE_FILES_KEY)
    try:
        known = json.loads(text) if text else {}
    except ValueError:
        return {}
    if isinstance(known, list):
        return {str(p): None for p in known}
    if isinstance(known, dict):
        return {str(p): (str(v) if v else None) for p, v in known.items()}
    return {}


# The files a store keeps beside itself: SQLite's companions, the run lock, the answer store's key.
_COMPANIONS = ("-wal", "-shm", "-journal", ".lock", ".key")
# Names that are batchverify's own state wherever they are (another job's checkpoint, its lock).
_STATE_SUFFIXES = (
    ".checkpoint.sqlite",
    *(".checkpoint.sqlite" + c for c in _COMPANIONS),
    ".sqlite",
    *(".sqlite" + c for c in _COMPANIONS),
)
_SQLITE_MAGIC = b"SQLite format 3\x00"


def job_files(request: RunRequest) -> list[Path]:
    """Every file the job reads or keeps: the input, the outputs, and each store with its companions."""
    files = [p for p in (request.input, request.output, request.problems, request.changes) if p is not None]
    for store in (request.store_path, request.answers):
        if store is not None:
            files += [store, *(store.with_name(store.name + c) for c in _COMPANIONS)]
    return files


def check_write_target(path: Path, request: RunRequest, option: str) -> None:
    """A file the run writes (``option`` names it) is none of the job's files, by any name (a link,
    another spelling), and not the state of another job: replacing a run's lock lets a second run
    beside it, replacing a checkpoint loses paid answers."""
    where = {"option": option, "path": str(path)}
    for other in job_files(request):
        if other is not path and _same_file(path, other):  # a side file is one of the job's files
            raise UsageError(
                "{o[" + option + "]} {path} would overwrite {other}; choose another file",
                code="would_overwrite",
                other=str(other),
                **where,
            )
    _check_not_state(path, option)


def _check_not_state(path: Path, option: str) -> None:
    what = _state_of(path)
    if what is not None:
        raise UsageError(
            "{o[" + option + "]} {path} is {what}; choose another file",
            code="would_overwrite",
            option=option,
            path=str(path),
            what=what,
        )


def _state_of(path: Path) -> str | None:
    """What makes ``path`` batchverify's state (or someone's lock), or None."""
    if path.name.lower().endswith(_STATE_SUFFIXES):
        return "a checkpoint, an answer store or a lock by its name"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None  # absent, or not ours to read: the write reports what stops it
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if os.pread(fd, len(_SQLITE_MAGIC), 0) == _SQLITE_MAGIC:
            return "a database (a checkpoint or an answer store)"
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return "locked by a running process (a run's lock file)"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def _same_file(a: Path, b: Path) -> bool:
    same = _resolved(a) == _resolved(b)
    with contextlib.suppress(OSError):
        same = same or (a.exists() and b.exists() and a.samefile(b))
    return same


def _resolved(path: Path) -> Path:
    """``path`` with its links followed; a link that loops is refused in words."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        raise UsageError(
            "{path} is a symbolic link that loops; choose another file", code="link_loop", path=str(path)
        ) from None


def check_summary_path(path: Path, request: RunRequest) -> None:
    """``--summary-json`` must be a new or replaceable file, never one the job reads or keeps."""
    check_report_path(path, request, "summary_json")


def check_report_path(path: Path, request: RunRequest, option: str) -> None:
    """A report beside the run (``--summary-json``, ``--metrics-file``): a new or replaceable file
    in a writable folder, never one the job reads or keeps."""
    where = {"option": option, "path": str(path)}
    check_write_target(path, request, option)
    if path.is_dir():
        raise UsageError(f"{{o[{option}]}} {{path}} is a directory", code="not_a_file", **where)
    if not path.parent.is_dir():
        raise UsageError(f"the folder of {{o[{option}]}} {{path}} does not exist", code="no_folder", **where)
    if not os.access(path.parent, os.W_OK):
        raise UsageError(
            f"the folder of {{o[{option}]}} {{path}} is not writable", code="output_not_writable", **where
        )


OUTPUT_STAMP_KEY = "output_stamp"


def output_stamp(path: Path) -> str | None:
    """What the output holds, by content (a ``touch`` or a copy changes nothing): its SHA-256."""
    digest = hashlib.sha256()
    try:
        # Never blocks on a pipe or a device (the reader refuses those with its own message).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError:
        return None
    return "sha256:" + digest.hexdigest()


def check_input_unchanged(path: Path, stamp: str, when: str) -> None:
    """The input still holds what the plan read (``stamp``): a list replaced, edited or truncated
    while a run works on it would give an output of other rows, without the answers paid for."""
    if output_stamp(path) != stamp:
        raise OutputError(
            "{file} changed " + when + " (replaced, edited or truncated): no output is written from "
            "it, and every answer is kept in the checkpoint; run again to plan and write from the "
            "file as it is now",
            code="input_changed",
            file=str(path),
        )


def same_output(recorded: str | None, path: Path) -> bool:
    """Whether ``path`` still holds what batchverify wrote (``recorded``: its stamp then). A stamp of
    an earlier release (size and time) is compared as it was made."""
    if recorded is None:
        return False
    if not recorded.startswith("sha256:"):
        try:
            st = path.stat()
        except OSError:
            return False
        return recorded == f"{st.st_size}:{st.st_mtime_ns}"
    return recorded == output_stamp(path)


def size_differs(recorded: str, path: Path) -> bool:
    """For an earlier release's stamp (``size:mtime``): whether the file's size is not the one then."""
    try:
        return int(recorded.split(":", 1)[0]) != path.stat().st_size
    except (ValueError, OSError):
        return False


def check_not_edited(request: RunRequest, recorded: str | None) -> None:
    """The output is the user's once they change it: edited, sorted or saved again in Excel, it is
    never replaced without being asked (a ``touch`` or a copy of the same bytes is not a change)."""
    out = request.output
    if out is None or request.overwrite or recorded is None or not out.exists():
        return
    # An earlier release stamped size and time: a touch changes the time, an edit the size.
    edited = (
        size_differs(recorded, out) if not recorded.startswith("sha256:") else not same_output(recorded, out)
    )
    if edited:
        raise OutputError(
            "{path} was changed since batchverify wrote it (edited, sorted or saved again): it is kept "
            "as it is. Write this run elsewhere with {o[output]}, or pass {o[overwrite]} to replace it",
            code="output_edited",
            option="output",
            path=str(out),
        )
