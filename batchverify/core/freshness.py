"""Which stored answers are young enough to use instead of a new, billed call: ``max_age``, a window
per status where one is given (a cancelled number rarely comes back; a live one may change), and
never an answer stamped in the future (a clock that was ahead when it was stored)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field

from batchverify.core.timeutil import fresh_until, utc_now_iso
from batchverify.models import Status

__all__ = ["Freshness"]


@dataclass(frozen=True)
class Freshness:
    """The oldest ``checked_at`` an answer may have, by default and per status, and the latest
    (``until``: now, plus a minute of clock skew). ISO UTC texts: text order is time order."""

    default_since: str | None
    by_status: Mapping[str, str] = field(default_factory=dict)
    until: str = "~"

    @classmethod
    def of(
        cls,
        max_age: datetime.timedelta | None,
        by_status: Mapping[str, datetime.timedelta],
        now: datetime.datetime,
    ) -> Freshness | None:
        """None when nothing may be reused (neither ``max_age`` nor a window per status)."""
        if max_age is None and not by_status:
            return None
        return cls(
            default_since=None if max_age is None else utc_now_iso(now - max_age),
            by_status={status: utc_now_iso(now - age) for status, age in by_status.items()},
            until=fresh_until(now),
        )

    @property
    def since(self) -> str:
        """The widest window's start: no answer older than this is fresh for any status."""
        starts = [*self.by_status.values(), *([self.default_since] if self.default_since else [])]
        return min(starts)

    def fresh(self, status: str, checked_at: str, *, own: bool = False) -> bool:
        """Whether an answer may be used. ``own``: the job's own answer, which a status without a
        window of its own still shows within the widest window (only reuse from elsewhere needs a
        window for its status)."""
        if not checked_at or checked_at > self.until:
            return False
        since = self.by_status.get(status, self.default_since)
        if since is None and (own or not Status(status).is_final):
            since = self.since
        return since is not None and checked_at >= since

    def renewed(self) -> Freshness:
        """The same windows with ``until`` moved to now: answers recorded since the plan are not
        from the future."""
        return dataclasses.replace(self, until=fresh_until())
