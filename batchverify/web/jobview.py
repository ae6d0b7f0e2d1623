"""A job as the API and the page show it: its figures (by row once a run has written the result, the
same counts as the workbook's summary sheet; by number while it runs), the pace, the money, when
the rows still open can be tried again, and when its files are deleted."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import TYPE_CHECKING, Any

from batchverify.core.timeutil import utc_now_iso
from batchverify.models import Status

if TYPE_CHECKING:
    from batchverify.web.jobs import WebJob

__all__ = ["job_view", "next_try"]

ACTIVE = frozenset({"queued", "running"})
_OPEN = frozenset(s.value for s in Status if not s.is_final)
# The API's daily quota is counted by the day in China: it is there again after midnight there.
QUOTA_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
BUSY_PAUSE = datetime.timedelta(minutes=5)
_SHORT = frozenset({"throttled", "network", "no_answer", "bad_replies"})


def parse_iso_utc(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def money(count: int | None, price: float | None) -> float | None:
    return None if count is None or price is None else round(count * price, 4)


def job_view(
    job: WebJob,
    *,
    plan: bool = True,
    same_file: dict[str, str] | None = None,
    keep: datetime.timedelta | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The job as the API shows it; ``plan=False`` leaves the plan out (the job list)."""
    r = job.record
    now = now or datetime.datetime.now(datetime.UTC)
    figures = (
        job.tally.view()
        if job.tally is not None
        else {"total": r.total, "done": r.done, "counts": dict(r.counts)}
    )
    has_result = r.state not in ACTIVE and job.files.output.exists()
    base = f"/api/jobs/{r.id}/result"
    price = job.options.price
    live = None
    if job.tally is not None:
        live = job.tally.pace(job.options.rate)
        live["cost"] = money(int(live["billable"] or 0), price)
    summary = r.summary or {}
    rows = summary.get("by_status") if r.state not in ACTIVE and summary else None
    expires = None
    if keep is not None and r.state not in ACTIVE:
        try:
            expires = utc_now_iso(parse_iso_utc(r.updated_at or r.created_at) + keep)
        except (ValueError, OverflowError):  # a record edited by hand: no date, no error
            expires = None
    return {
        "id": r.id,
        "name": r.name,
        "title": r.title,
        "shown_name": r.title or r.name,
        "owner": r.owner,
        "state": r.state,
        **figures,
        "rows": rows,  # rows per status, as the workbook counts them (after a run)
        "summary": r.summary,
        "error": r.error,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "expires_at": expires,
        "size": r.size,
        "language": r.language,
        "time_zone": r.time_zone,
        "max_age": r.max_age,
        "budget": r.budget,
        "price": price,
        "runs": r.runs,
        "can_start": job.can_start(),
        "needs_column": bool((r.plan or {}).get("needs_column")),
        "live": live,
        "retry": next_try(r.state, r.closed, summary, now),
        # Stop was asked and the run is landing its last calls and writing what it has.
        "stopping": job.stop_requested and r.state in ACTIVE,
        **({"plan": r.plan} if plan else {}),
        "same_file": same_file,
        "downloads": {
            "result": base if has_result else None,
            "problems": f"{base}?rows=problems" if has_result and job.files.problems.exists() else None,
        },
    }


def next_try(
    state: str, closed: bool, summary: dict[str, Any], now: datetime.datetime
) -> dict[str, Any] | None:
    """The rows without a final answer after the last run, and when trying again can help:
    ``now``; ``minutes`` (the service was busy or unreachable); ``tomorrow`` (the daily quota);
    ``never`` (tried in enough runs: given up, the job is closed). None: nothing is open."""
    if state in ACTIVE or state == "planned" or not summary:
        return None
    by_status = summary.get("by_status") or {}
    open_rows = {s: n for s, n in by_status.items() if s in _OPEN and isinstance(n, int) and n > 0}
    if not open_rows:
        return None
    rows = sum(open_rows.values())
    if closed:
        return {"when": "never", "rows": rows, "statuses": open_rows, "at": None, "ready": False}
    try:
        ended = parse_iso_utc(str(summary.get("finished_at")))
    except ValueError:
        ended = now
    reason = summary.get("stop_reason")
    if "daily_limit" in open_rows or reason == "daily_limit":
        local = ended.astimezone(QUOTA_ZONE)
        midnight = datetime.datetime.combine(
            local.date() + datetime.timedelta(days=1), datetime.time(), QUOTA_ZONE
        )
        when, at = "tomorrow", midnight.astimezone(datetime.UTC)
    elif "busy" in open_rows or reason in _SHORT:
        when, at = "minutes", ended + BUSY_PAUSE
    else:
        when, at = "now", ended
    return {"when": when, "rows": rows, "statuses": open_rows, "at": utc_now_iso(at), "ready": now >= at}
