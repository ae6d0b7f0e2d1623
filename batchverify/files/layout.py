"""What every writer shares: where the result columns go, batching rows through ``annotate``, the
check of the target path, and the atomic write (a temporary file beside the target, moved onto it
with ``os.replace`` only when complete, so a failed or interrupted write leaves the old file)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from batchverify.errors import OutputError
from batchverify.files.tables import Record, Table

__all__ = [
    "Annotate",
    "CellValue",
    "Layout",
    "annotated",
    "atomic_path",
    "check_target",
    "place",
    "private_file",
]

CellValue = str | int | bool | None
# Which data rows are written: one predicate, or several, whose rows are written group by group.
Keep = Callable[[list[CellValue]], bool] | Sequence[Callable[[list[CellValue]], bool]]
Annotate = Callable[[list[str]], list[list[CellValue]]]
_P = TypeVar("_P")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each result column goes (0-based), and the header names."""

    names: list[str]
    positions: list[int]
    # Asked for every row a writer places: kept, not worked out a million times.
    width: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", max(self.positions, default=-1) + 1)

    @classmethod
    def build(
        cls,
        header: list[str],
        width: int,
        names: list[str],
        aliases: Sequence[Sequence[str]] | None = None,
        fixed: Sequence[int] | None = None,
    ) -> Layout:
        """``names`` placed: over a column of the header that carries the name, else after the
        widest row. With ``aliases`` only those are recognised (an earlier output in any language;
        the caller leaves out what is the customer's own column), not the name itself. ``fixed``:
        the columns an earlier output's results are in, one per name (they are replaced there)."""
        if fixed is not None:
            return cls(list(names), list(fixed))
        positions: list[int] = []
        next_free = max(width, len(header))
        for i, name in enumerate(names):
            known = aliases[i] if aliases is not None else (name,)
            # the last column of that name: result columns come after the customer's own
            found = next((len(header) - 1 - header[::-1].index(n) for n in known if n in header), None)
            if found is not None and found not in positions:
                positions.append(found)
            else:
                positions.append(next_free)
                next_free += 1
        return cls(list(names), positions)


def annotated(
    items: Iterable[tuple[Record, _P]],
    phone_col: int,
    n_columns: int,
    annotate: Annotate,
    batch_size: int,
) -> Iterator[tuple[Record, _P, list[CellValue] | None]]:
    """Pair each data record with its result values (None for a blank or totals row), in batches."""
    batch: list[tuple[Record, _P]] = []

    def flush() -> Iterator[tuple[Record, _P, list[CellValue] | None]]:
        # Blank records and totals rows have no status: not annotated (nor counted), kept as they are.
        filled = [(rec, payload) for rec, payload in batch if rec.is_data]
        phones = [rec.cells[phone_col] if phone_col < len(rec.cells) else "" for rec, _ in filled]
        results = iter(annotate(phones) if phones else [])
        for rec, payload in batch:
            if not rec.is_data:
                yield rec, payload, None
                continue
            values = next(results, None)
            if values is None:
                raise ValueError(f"annotate returned too few rows for {len(phones)} records")
            if len(values) != n_columns:
                raise ValueError(f"annotate returned {len(values)} values for {n_columns} columns")
            yield rec, payload, values
        if next(results, None) is not None:
            raise ValueError(f"annotate returned more rows than {len(phones)} records")
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) >= max(1, batch_size):
            yield from flush()
    if batch:
        yield from flush()


def place(cells: list[Any], layout: Layout, values: list[Any], fill: Any) -> list[Any]:
    """``cells`` extended with ``fill`` as far as needed and ``values`` put at their positions."""
    row = list(cells)
    if len(row) < layout.width:
        row.extend([fill] * (layout.width - len(row)))
    for position, value in zip(layout.positions, values, strict=True):
        row[position] = value
    return row


@contextlib.contextmanager
def atomic_path(out: Path) -> Iterator[Path]:
    """A fresh temporary file beside ``out``; moved onto ``out`` only if the block succeeds.

    The file is created here, new (never through a link planted at its name) and readable by its
    owner only: it holds phone numbers. Replacing a file keeps that file's permissions."""
    # Hidden, unique, and with the same suffix (openpyxl and people look at suffixes).
    tmp = out.with_name(f".{out.stem}.{secrets.token_hex(4)}.tmp{out.suffix}")
    try:
        private_file(tmp)
    except OSError as exc:
        raise OutputError(f"cannot write {out} ({exc.strerror or exc})") from None
    try:
        yield tmp
        with contextlib.suppress(OSError):
            # Keep the permissions of the file being replaced (temp files start private).
            tmp.chmod(out.stat().st_mode & 0o7777)
        tmp.replace(out)
    except OSError as exc:
        _unlink(tmp)
        raise OutputError(f"cannot write {out} ({exc.strerror or exc})") from None
    except BaseException:
        _unlink(tmp)
        raise


def remove_stale_temps(out: Path) -> None:
    """Remove the temporary files an interrupted write of ``out`` left (a killed writer): the
    names ``atomic_path`` and the staged output use, and nothing else. Call it holding the
    output's lock, so no live write of ``out`` owns them."""
    token = r"\.[0-9a-f]{8}\."
    stem, name = re.escape(out.stem), re.escape(out.name)
    pattern = re.compile(
        rf"\.\.?(?:{stem}{token}(?:new{token})?(?:tmp|new){re.escape(out.suffix)}|{name}{token}sheet\.tmp)"
    )
    with contextlib.suppress(OSError):
        for entry in os.scandir(out.parent):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()


def private_file(path: Path) -> None:
    """Create ``path`` empty, new (never through a link planted at its name), owner-only."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def check_target(table: Table, out: Path) -> None:
    """Refuse an output that is the input itself, a directory, or in a missing folder."""
    check_output(table.path, out)


def check_output(source: Path, out: Path) -> None:
    """Refuse an output that is ``source`` (by any name or hard link), a directory, or in a missing
    folder. The one check of an output path, before the plan and again before writing."""
    try:
        same = out.resolve() == source.resolve()
    except (RuntimeError, OSError):
        raise OutputError(
            "{path} is a symbolic link that loops; choose another {o[output]}",
            code="link_loop",
            option="output",
            path=str(out),
        ) from None
    with contextlib.suppress(OSError):
        same = same or (out.exists() and out.samefile(source))
    if same:
        raise OutputError(
            "the output {path} is the input itself; choose another {o[output]}",
            code="output_is_input",
            option="output",
            path=str(out),
        )
    if out.is_dir():
        raise OutputError(f"the output {out} is a directory")
    if not out.parent.is_dir():
        raise OutputError(f"the output folder {out.parent} does not exist")
