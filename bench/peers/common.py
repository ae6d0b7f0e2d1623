"""What every peer script shares: arguments, the numbers to check, and the JSON report."""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# Results a later run would have to ask again (busy, daily limit): not a final answer.
NOT_FINAL_RESULTS = frozenset({"-3", "-4"})


def parse_args(description: str, extra: dict[str, dict[str, object]] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--endpoint", required=True, help="127.0.0.1:PORT of the simulator")
    ap.add_argument("--numbers", required=True, type=Path, help="CSV with a 'mobile' column")
    ap.add_argument("--out", required=True, type=Path, help="JSON report to write")
    ap.add_argument("--limit", type=int, default=0, help="only the first N numbers (0 = all)")
    for name, options in (extra or {}).items():
        ap.add_argument(name, **options)  # type: ignore[arg-type]
    return ap.parse_args()


def load_numbers(path: Path, limit: int = 0) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        numbers = [row["mobile"] for row in csv.DictReader(f)]
    return numbers[:limit] if limit else numbers


def credentials() -> tuple[str, str]:
    return os.environ["TENCENTCLOUD_SECRET_ID"], os.environ["TENCENTCLOUD_SECRET_KEY"]


def is_final(outcome: str) -> bool:
    """``result:<Result>`` with a final Result; errors and exceptions are not."""
    kind, _, value = outcome.partition(":")
    return kind == "result" and value not in NOT_FINAL_RESULTS


def write_report(
    path: Path, numbers: list[str], outcomes: Iterable[str], started: float, **extra: object
) -> None:
    """``outcomes``: one ``result:<Result>`` / ``error:<Code>`` / ``exception:<Type>`` per number.

    The numbers left without a final answer are listed too, so the bench can run the same script
    again on them, as its user would have to.
    """
    elapsed = time.perf_counter() - started
    listed = list(outcomes)
    report = {
        "rows": len(listed),
        "finished": sum(is_final(o) for o in listed),
        "unfinished": [n for n, o in zip(numbers, listed, strict=True) if not is_final(o)],
        "elapsed": elapsed,
        "outcomes": dict(Counter(listed).most_common()),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra,
    }
    path.write_text(json.dumps(report, indent=1, sort_keys=True))
