"""``GET /metrics``: the server's jobs, its rate gate and its loop in the Prometheus text format.

Counters run from the server's start and grow as each job's run ends (what it sent, what was
billed, what changed); gauges are read at each scrape (jobs by state, rows by status over the jobs
kept, the gate's rate and margin, the loop's lag). The same series names as ``--metrics-file``
where they mean the same, without the per-run ``batchverify_run_`` prefix.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from batchverify.engine.gate import shared_gates
from batchverify.web.looplag import LoopLag
from batchverify.web.manager import JobManager
from batchverify.web.records import STATES

__all__ = ["CONTENT_TYPE", "ServeMetrics", "metrics_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (summary field, counter name without _total, help)
_TOTALS = (
    ("requests", "batchverify_requests", "Requests the server's jobs sent to the API."),
    ("billable_calls", "batchverify_billable_answers", "Billable answers the server's jobs received."),
    ("rate_limited", "batchverify_rate_limited_answers", "RequestLimitExceeded answers the jobs got."),
    ("retries", "batchverify_retries", "Calls the jobs sent again (busy, throttled, a transient error)."),
    ("uncertain_calls", "batchverify_uncertain_calls", "Calls without an answer that may have been billed."),
    ("changed", "batchverify_changed_rows", "Rows whose status changed since their list's previous job."),
)


class ServeMetrics:
    """What the server's finished runs add up to since it started."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()
        self.runs: Counter[str] = Counter()  # by outcome
        self.last_success: float | None = None
        self.last_exit: int | None = None

    def run_ended(self, doc: Mapping[str, Any]) -> None:
        for field, _name, _help in _TOTALS:
            value = doc.get(field)
            if isinstance(value, int):
                self.totals[field] += value
        self.runs[str(doc.get("outcome", "error"))] += 1
        code = doc.get("exit_code")
        self.last_exit = code if isinstance(code, int) else None
        if code == 0:
            self.last_success = time.time()


class _Collector(Collector):
    def __init__(self, manager: JobManager, lag: LoopLag, metrics: ServeMetrics) -> None:
        self._manager, self._lag, self._metrics = manager, lag, metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        for field, name, text in _TOTALS:
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], m.totals[field])
            yield counter
        runs = CounterMetricFamily("batchverify_runs", "Job runs that ended, by outcome.", labels=["outcome"])
        for outcome, count in sorted(m.runs.items()):
            runs.add_metric([outcome], count)
        yield runs
        if m.last_success is not None:
            yield GaugeMetricFamily(
                "batchverify_last_success_timestamp_seconds",
                "When a job's run last ended with every row final (Unix time).",
                value=m.last_success,
            )
        if m.last_exit is not None:
            yield GaugeMetricFamily(
                "batchverify_last_run_exit_code",
                "The exit code the last run would have had.",
                value=m.last_exit,
            )
        yield from self._jobs()
        yield from self._gates()
        lag = self._lag
        yield GaugeMetricFamily(
            "batchverify_event_loop_lag_seconds",
            "How late the server's event loop woke, the worst of the last minute.",
            value=lag.last_minute(),
        )
        late = CounterMetricFamily(
            "batchverify_event_loop_late_ticks", "50 ms timer ticks that woke more than 20 ms late."
        )
        late.add_metric([], lag.slow)
        yield late

    def _jobs(self) -> Iterator[Metric]:
        manager = self._manager
        states: Counter[str] = Counter(job.record.state for job in manager.jobs.values())
        jobs = GaugeMetricFamily("batchverify_jobs", "The server's jobs by state.", labels=["state"])
        for state in STATES:
            jobs.add_metric([state], states.get(state, 0))
        yield jobs
        rows: Counter[str] = Counter()
        for job in manager.jobs.values():
            rows.update(job.record.counts)
        by_status = GaugeMetricFamily(
            "batchverify_rows", "Distinct numbers of the jobs kept, by status.", labels=["status"]
        )
        for status, count in sorted(rows.items()):
            by_status.add_metric([status], count)
        yield by_status
        load = manager.load()
        yield GaugeMetricFamily(
            "batchverify_uploads_in_progress",
            "Uploads being received or planned.",
            value=load["uploads_in_progress"],
        )

    def _gates(self) -> Iterator[Metric]:
        rate = GaugeMetricFamily(
            "batchverify_gate_rate", "Requests per second the gate allows.", labels=["endpoint"]
        )
        margin = GaugeMetricFamily(
            "batchverify_gate_margin_seconds",
            "The gate's safety margin beyond one second.",
            labels=["endpoint"],
        )
        sends = CounterMetricFamily(
            "batchverify_gate_sends", "Sends the gate let through.", labels=["endpoint"]
        )
        throttles = CounterMetricFamily(
            "batchverify_gate_throttles",
            "RequestLimitExceeded answers the gate was told of.",
            labels=["endpoint"],
        )
        mine = self._manager.settings.target.endpoint_identity  # this server's gates only
        for endpoint, gate in shared_gates():
            if endpoint != mine:
                continue
            rate.add_metric([endpoint], gate.rate)
            margin.add_metric([endpoint], max(gate.margin, gate.lag_margin))
            sends.add_metric([endpoint], gate.sends)
            throttles.add_metric([endpoint], gate.throttles)
        yield from (rate, margin, sends, throttles)


def metrics_text(manager: JobManager, lag: LoopLag, metrics: ServeMetrics) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(manager, lag, metrics))
    return generate_latest(registry)
