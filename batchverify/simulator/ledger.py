"""The simulator's bookkeeping: billing ledger, per-number attempt counters, rate-limit windows.

Mutated only by the simulator's event-loop thread; every method takes the lock, so a test or the
CLI can read a consistent :meth:`Ledger.snapshot` from another thread at any time.
"""

from __future__ import annotations

import threading
from collections import Counter, deque

WINDOW_S = 1.0


class _Window:
    """Event times within the last second, with the largest count ever seen in any such window."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.peak = 0

    def expire(self, now: float) -> None:
        while self.times and now - self.times[0] >= WINDOW_S:
            self.times.popleft()

    def add(self, now: float) -> None:
        self.expire(now)
        self.times.append(now)
        self.peak = max(self.peak, len(self.times))


class Ledger:
    """What the simulator saw and billed since start or the last :meth:`clear`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._reset_locked()

    def _reset_locked(self) -> None:
        self.requests = 0
        self.answered = 0
        self.billed = 0
        self.billed_by_number: Counter[str] = Counter()
        self.calls_by_number: Counter[str] = Counter()
        self.rate_limited = 0
        self.errors_by_code: Counter[str] = Counter()
        self.results: Counter[str] = Counter()
        self.faults_injected = 0
        self.faults_by_kind: Counter[str] = Counter()
        self.gateway_errors: Counter[str] = Counter()
        self.dropped = 0
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self._arrivals = _Window()
        self._accepted = _Window()
        self._per_secret_id: dict[str, _Window] = {}

    def clear(self) -> None:
        """Forget everything: counters, attempt numbers and rate-limit windows."""
        with self.lock:
            self._reset_locked()

    def arrival(self, now_mono: float) -> None:
        """An HTTP request to ``/`` arrived (before any check)."""
        with self.lock:
            self.requests += 1
            self._arrivals.add(now_mono)

    def admit(self, secret_id: str, limit: int, now_mono: float, now_epoch: float) -> int:
        """Count the request against ``secret_id``'s limit: 0 if accepted, else the count to quote.

        Strict sliding window: rejected when ``limit`` requests were already accepted in the
        preceding second. Rejections do not occupy the window. ``limit`` 0 means no limit.
        """
        with self.lock:
            window = self._per_secret_id.setdefault(secret_id, _Window())
            window.expire(now_mono)
            if limit and len(window.times) >= limit:
                self.rate_limited += 1
                return len(window.times) + 1
            window.add(now_mono)
            self._accepted.add(now_mono)
            if self.first_request_at is None:
                self.first_request_at = now_epoch
            self.last_request_at = now_epoch
            return 0

    def next_attempt(self, number: str) -> int:
        """The 0-based number of this business-stage call for ``number``; counts it."""
        with self.lock:
            attempt = self.calls_by_number[number]
            self.calls_by_number[number] = attempt + 1
            return attempt

    def error(self, code: str) -> None:
        """An API-level Error reply went out."""
        with self.lock:
            self.errors_by_code[code] += 1

    def business(self, number: str | None, result: str) -> None:
        """A business reply went out; Result ``0`` is billed (``number`` None for injected faults)."""
        with self.lock:
            self.answered += 1
            self.results[result] += 1
            if result == "0" and number is not None:
                self.billed += 1
                self.billed_by_number[number] += 1

    def drop(self, number: str | None) -> None:
        """A connection was closed unanswered; billed when it models "processed, answer lost"."""
        with self.lock:
            self.dropped += 1
            if number is not None:
                self.billed += 1
                self.billed_by_number[number] += 1

    def gateway(self, status: int) -> None:
        """A non-JSON gateway error went out."""
        with self.lock:
            self.gateway_errors[str(status)] += 1

    def fault(self, kind: str) -> None:
        """A fault was injected (``--faults``)."""
        with self.lock:
            self.faults_injected += 1
            self.faults_by_kind[kind] += 1

    def quota_exhausted(self, quota: int | None) -> bool:
        """Whether ``quota`` billed answers have been given (never, for no quota)."""
        with self.lock:
            return quota is not None and self.billed >= quota

    def snapshot(self) -> dict[str, object]:
        """The ``GET /__ledger`` JSON object (fresh containers; safe to keep)."""
        with self.lock:
            return {
                "requests": self.requests,
                "answered": self.answered,
                "billed": self.billed,
                "billed_by_number": dict(self.billed_by_number),
                "calls_by_number": dict(self.calls_by_number),
                "rate_limited": self.rate_limited,
                "errors_by_code": dict(self.errors_by_code),
                "results": dict(self.results),
                "faults_injected": self.faults_injected,
                "faults_by_kind": dict(self.faults_by_kind),
                "gateway_errors": dict(self.gateway_errors),
                "dropped": self.dropped,
                "first_request_at": self.first_request_at,
                "last_request_at": self.last_request_at,
                "max_in_any_second": self._arrivals.peak,
                "max_accepted_in_any_second": self._accepted.peak,
            }
