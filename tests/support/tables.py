"""Customer lists written for a test and outputs read back."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path


def spread_numbers(n: int, start: int = 13500000000) -> list[str]:
    """Numbers outside the scripted test set: the simulator answers them from their hash (all final)."""
    return [str(start + i * 7919) for i in range(n)]


def write_list(
    path: Path,
    phones: Iterable[str | int],
    *,
    header: tuple[str, str] = ("name", "phone"),
    label: str = "c{i}",
) -> Path:
    """A two-column customer list: ``label`` (``{i}`` is the row's index) and the phone."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([label.format(i=i), phone] for i, phone in enumerate(phones))
    return path


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> None:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)


def read_rows(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    """Every record of a CSV (or, by its extension, TSV) file."""
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f, delimiter="\t" if path.suffix == ".tsv" else ","))


def read_dicts(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    """The records of a CSV file below its header, by column name."""
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


def statuses(path: Path) -> list[str]:
    """The ``mobile_status`` column of an output, row by row."""
    rows = read_rows(path)
    return [row[rows[0].index("mobile_status")] for row in rows[1:]]
