"""The input is evidence too: a list replaced, edited or truncated while a job works on it never
gives an output of other rows. The output is written from what the plan read, or not at all, and
every answer paid for is kept for the next run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from batchverify.engine.events import AnswerRecorded, Event
from batchverify.engine.job import Job, plan
from batchverify.engine.plan import RunRequest
from batchverify.errors import OutputError
from tests.support.script import TARGET, Script, fast_gate, numbers
from tests.support.tables import write_list


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _replace(path: Path) -> None:
    other = path.with_name("other" + path.suffix)
    shutil.copyfile(path, other)
    with other.open("ab") as f:
        f.write(b"zz,13900000000\n")
    other.replace(path)


def _same_size_edit(path: Path) -> None:
    # One digit changed and the time put back: neither the size nor the time says so.
    st = path.stat()
    data = bytearray(path.read_bytes())
    at = data.index(b"135", 20)
    data[at + 3] = ord("9") if data[at + 3] != ord("9") else ord("8")
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


CHANGES: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "replaced": _replace,
    "edited, same size and time": _same_size_edit,
}


def _workbook(path: Path, phones: list[str]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone"])
    for i, phone in enumerate(phones):
        sheet.append([f"c{i}", phone])
    book.save(path)
    return path


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
async def test_an_input_changed_while_sending_is_never_written_from(
    tmp_path: Path, change: str, suffix: str
) -> None:
    phones = numbers(30)
    if suffix == ".csv":
        src = write_list(tmp_path / "list.csv", phones)
    else:
        src = _workbook(tmp_path / "list.xlsx", phones)
    out = tmp_path / f"out{suffix}"
    req = RunRequest(input=src, output=out)
    made = await plan(req, endpoint_identity="scripted")
    script = Script(delay=0.002)
    changed = False

    def meddle(event: Event) -> None:
        nonlocal changed
        if isinstance(event, AnswerRecorded) and event.done == 10 and not changed:
            changed = True
            if suffix == ".csv" or change != "edited, same size and time":
                CHANGES[change](src)
            else:  # a workbook edited in place: saved again with one number changed
                _workbook(src, [*phones[:-1], "13900000000"])

    summary = await Job(made, TARGET, verifier=script, gate=fast_gate(), events=meddle).run()
    assert changed
    assert summary.outcome == "storage_error", summary
    assert "changed while this run was working" in (summary.error or "")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert summary.billable_calls == 30  # every answer paid for is in the checkpoint
    # The next run plans the file as it is now and asks only what it has not had.
    if suffix == ".xlsx" or change == "truncated":
        if suffix == ".csv":
            write_list(src, phones[:20])
        else:
            _workbook(src, phones[:20])
    again = await Job(
        await plan(req, endpoint_identity="scripted"), TARGET, verifier=script, gate=fast_gate()
    ).run()
    assert again.outcome == "complete" and out.exists()
    assert max(script.calls[p] for p in phones) == 1


async def test_an_input_changed_while_it_is_read_is_refused_before_sending(tmp_path: Path) -> None:
    from batchverify.engine.paths import check_input_unchanged, output_stamp

    src = write_list(tmp_path / "list.csv", numbers(3))
    stamp = output_stamp(src)
    assert stamp is not None
    check_input_unchanged(src, stamp, "while it was being read")
    _truncate(src)
    with pytest.raises(OutputError, match="changed while it was being read") as refused:
        check_input_unchanged(src, stamp, "while it was being read")
    assert refused.value.code == "input_changed"
