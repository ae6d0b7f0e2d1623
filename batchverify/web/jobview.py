"""A job as the API and the page show it: its figures (by row once a run has written the result, the
same counts as the workbook's summary sheet; by number while it runs), the pace, the money, when
the rows still open can be tried again, and when its files are deleted."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import TYPE_CHECKING, Any

from batchverify.core.timeutil import parse_iso_utc, utc_now_iso
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


def _midnight_after(moment: datetime.datetime) -> datetime.datetime:
    local = moment.astimezone(QUOTA_ZONE)
    midnight = datetime.datetime.combine(
        local.date() + datetime.timedelta(days=1), datetime.time(), QUOTA_ZONE
    )
    return midnight.astimezone(datetime.UTC)


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
    busy = job.busy
    has_result = not busy and job.files.output.exists()
    base = f"/api/jobs/{r.id}/result"
    price = job.options.price
    live = None
    if job.tally is not None:
        live = job.tally.pace(job.options.rate)
        live["cost"] = money(int(live["billable"] or 0), price)
    summary = r.summary or {}
    rows = summary.get("by_status") if not busy and summary else None
    expires = None
    if keep is not None and not busy:
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
        "budget_left": job.budget_left(),
        "price": price,
        "runs": r.runs,
        "can_start": job.can_start(),
        "needs_column": bool((r.plan or {}).get("needs_column")),
        "live": live,
        "retry": None
        if busy
        else next_try(r.state, r.closed, summary, now, budget_spent=job.budget_left() == 0),
        # Stop was asked and the run is landing its last calls and writing what it has.
        "stopping": job.stop_requested and r.state in ACTIVE,
        # Stopped: nothing more is sent, and the file of what it has is being written.
        "writing": job.writing,
        **({"plan": r.plan} if plan else {}),
        "same_file": same_file,
        "downloads": {
            "result": base if has_result else None,
            "problems": f"{base}?rows=problems" if has_result and job.files.problems.exists() else None,
        },
    }


def next_try(
    state: str, closed: bool, summary: dict[str, Any], now: datetime.datetime, *, budget_spent: bool = True
) -> dict[str, Any] | None:
    """The rows without a final answer after the last run, in groups by when trying again can
    help: ``now`` (never asked: a Stop, a full disk); ``minutes`` (busy, failed, or the service
    unreachable); ``tomorrow`` (the account's daily quota, or those numbers' daily limit);
    ``account`` (the API refused the account: fixed first); ``budget`` (the job's budget is spent:
    raised first); ``never`` (tried in enough runs: given up, the job is closed). How the last run
    ended decides for every row when it says; else each row's status. The earliest group's
    ``when``, ``at`` and ``ready`` stand for the job. None: nothing is open."""
    if state in ACTIVE or state == "planned" or not summary:
        return None
    by_status = summary.get("by_status") or {}
    open_rows = {s: n for s, n in by_status.items() if s in _OPEN and isinstance(n, int) and n > 0}
    if not open_rows:
        return None
    try:
        ended = parse_iso_utc(str(summary.get("finished_at")))
    except ValueError:
        ended = now
    reason = summary.get("stop_reason")
    whole = {"fatal": "account", "budget": "budget", "daily_limit": "tomorrow"}.get(str(reason))
    if whole == "budget" and not budget_spent:
        whole = None  # raised since: each row by its status again
    if closed:
        whole = "never"
    elif reason in _SHORT:
        whole = "minutes"
    groups: dict[str, dict[str, int]] = {}
    for status, n in open_rows.items():
        when = whole or {"pending": "now", "daily_limit": "tomorrow"}.get(status, "minutes")
        groups.setdefault(when, {})[status] = n
    at = {
        "now": ended,
        "account": ended,
        "budget": ended,
        "minutes": ended + BUSY_PAUSE,
        "tomorrow": _midnight_after(ended),
    }
    shown = [
        {
            "when": when,
            "rows": sum(statuses.values()),
            "statuses": statuses,
            "at": utc_now_iso(at[when]) if when in at else None,
            "ready": when != "never" and now >= at[when],
        }
        for when, statuses in sorted(groups.items(), key=lambda g: _ORDER.index(g[0]))
    ]
    first = shown[0]
    return {**first, "rows": sum(open_rows.values()), "statuses": open_rows, "groups": shown}


_ORDER = ("now", "account", "budget", "minutes", "tomorrow", "never")
