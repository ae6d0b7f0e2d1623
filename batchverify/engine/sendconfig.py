"""The sending stage's knobs (``SendConfig``) and its counters (``SendStats``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from batchverify.core.classify import RetryPolicy

__all__ = ["JOB_WIDE_ERRORS", "SendConfig", "SendStats"]


@dataclass
class SendStats:
    """Counters of the sending stage; flat names, printed in the summary and the JSON."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    uncertain: int = 0
    billable: int = 0
    abandoned_in_flight: int = 0
    not_stored: int = 0  # answers that arrived but could not be written to the checkpoint
    bad_replies: int = 0  # replies that were not the API's (may have come after a billed answer)
    first_send: float | None = None
    last_send: float | None = None
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def achieved_rate(self) -> float:
        """Requests per second from the first to the last request sent."""
        if self.first_send is None or self.last_send is None:
            return 0.0
        span = self.last_send - self.first_send
        # Counting the one-second window the first sends share: a run held to N per sliding second
        # never shows more than N, and a short run shows a rate too.
        return self.requests / (span + 1.0)

    @property
    def maybe_billed(self) -> int:
        """Calls without a usable answer that may have been billed: uncertain ones, bad replies
        (a gateway's error page may come after the backend answered), calls abandoned at a stop."""
        return self.uncertain + self.bad_replies + self.abandoned_in_flight


@dataclass
class SendConfig:
    """Knobs of the sending stage."""

    rate: float = 20.0
    concurrency: int = 50
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    daily_limit_streak: int = 20  # this many -4 answers in a row mean the account's quota is gone
    network_down_streak: int = 3  # this many numbers failing on connection errors in a row
    no_answer_streak: int = 10  # this many calls in a row without an answer (timeouts, resets)
    bad_reply_streak: int = 10  # this many replies in a row that are not the API's (HTML, 5xx)
    # This many numbers in a row refused with the same API error (a key of another pair, a
    # parameter every call gets wrong): the job's error, not the numbers'; the run stops (exit 3).
    same_error_streak: int = 5
    # An error that may be about the number itself (InvalidParameterValue, ...): a much longer streak
    # before it is taken for the job's, so a sorted block of bad numbers never stops a list.
    same_row_error_streak: int = 25
    grace: float = 2.0  # how long calls in flight may finish after a stop
    # Nothing but RequestLimitExceeded for this long (another client may be using the account's
    # 20/s): the run stops with the rest pending instead of knocking at the limit for ever.
    throttle_bound: float = 120.0
    seed: int | None = None


# Errors that say nothing about the number: the key, the encryption, the request itself.
JOB_WIDE_ERRORS = (
    "FailedOperation.Decrypt",
    "InvalidParameter.UnsupportEncrypt",
    "InvalidParameter.Encrypt",
)
