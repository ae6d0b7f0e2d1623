"""Time helpers: the one timestamp format written everywhere, and ``--max-age`` durations."""

from __future__ import annotations

import datetime
import email.utils
import re

from batchverify.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE | re.ASCII)
# Far beyond any useful --max-age, and well inside what datetime arithmetic can hold.
_LONGEST = datetime.timedelta(days=3650)


def parse_iso_utc(text: str) -> datetime.datetime:
    """ "2026-11-26T23:01:59Z" -> an aware datetime (naive text is taken as UTC)."""
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def utc_now_iso(now: datetime.datetime | None = None) -> str:
    """ISO 8601 UTC to the second (``2026-11-26T23:01:59Z``); text order is time order."""
    moment = now or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# An answer stamped later than this past "now" was stored by a clock that was ahead: never fresh.
CLOCK_SKEW = datetime.timedelta(seconds=60)


def fresh_until(now: datetime.datetime | None = None) -> str:
    """The latest ``checked_at`` a fresh answer may carry (now, plus a minute of clock skew)."""
    return utc_now_iso((now or datetime.datetime.now(datetime.UTC)) + CLOCK_SKEW)


def parse_duration(text: str) -> datetime.timedelta:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` -> timedelta; anything else is a usage error."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(
            "bad duration {value!r}: {why}",
            code="bad_duration",
            value=text,
            why="use a number and a unit, e.g. 30m, 12h, 7d",
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds > _LONGEST.total_seconds():
        raise UsageError(
            "bad duration {value!r}: {why}", code="out_of_range", value=text, why="at most 3650d (ten years)"
        )
    return datetime.timedelta(seconds=seconds)


def clock_offset(server_date: str, local_epoch: float) -> float | None:
    """Seconds the local clock is ahead of a server's HTTP ``Date`` header (None if unreadable)."""
    try:
        server = email.utils.parsedate_to_datetime(server_date)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        return None
    return local_epoch - server.timestamp()
