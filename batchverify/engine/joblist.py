"""A job is the list it was asked about: the sheet, the header row and the phone column it reads.
A run that asks about another column of the same output does not resume that job (its answers
would vanish from the output); it is refused with the way out."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from batchverify.errors import UsageError

if TYPE_CHECKING:
    from batchverify.engine.plan import Plan

__all__ = ["JOB_LIST_KEY", "check_same_list", "list_of"]

JOB_LIST_KEY = "job_list"


def list_of(plan: Plan, job_id: int) -> str:
    """What the checkpoint records about the list a job reads (JSON)."""
    table = plan.table
    return json.dumps(
        {
            "job": job_id,
            "sheet": table.format.sheet_name,
            "header_row": table.header_line,
            "column": plan.phone_col,
            "name": _name(table.header, plan.phone_col),
            "label": plan.column_name,
        },
        ensure_ascii=False,
    )


def check_same_list(plan: Plan, open_job: int, recorded: str | None) -> None:
    """Refuse to resume ``open_job`` on another sheet, header row or phone column than it reads."""
    try:
        before = json.loads(recorded) if recorded else None
    except ValueError:
        before = None
    if not isinstance(before, dict) or before.get("job") != open_job:
        return  # a job of an earlier release, or none recorded: nothing to compare
    now = json.loads(list_of(plan, open_job))
    # The phone column is the one of that name (a column added before it moves it, not changes it);
    # by position only when the list has no header to name it.
    column = "name" if before.get("name") and now["name"] else "column"
    changed = [key for key in ("sheet", "header_row", column) if before.get(key) != now[key]]
    if changed == ["header_row"] and column == "name":
        changed = []  # a title row added above the same header: the same list
    if not changed:
        return
    raise UsageError(
        "this output's open job {job} reads {then}; this run asks for {now}: finish that job first "
        "(run it as before), start a new one with {o[restart]}, or write this column to another "
        "{o[output]}",
        code="other_list",
        option="column" if column in changed else changed[0],
        job=open_job,
        then=_describe(before),
        now=_describe(now),
    )


def _name(header: list[str], index: int) -> str:
    text = header[index] if index < len(header) else ""
    return " ".join(text.split()).casefold()


def _describe(doc: dict[str, object]) -> str:
    parts = [f"column {doc.get('label')}"]
    if doc.get("sheet"):
        parts.append(f"of sheet {doc.get('sheet')!r}")
    row = doc.get("header_row")
    parts.append(f"(header row {row})" if row else "(no header row)")
    return " ".join(parts)
