"""Measured children of the library section: the engine run in process, one JSON line on stdout.

``python -m bench.libprobes gate --url URL --kind strict|legacy --input CSV --output OUT``
    one job through the given gate: the composed aiolimiter gate or the first release's limiter.
``python -m bench.libprobes three --url URL --inputs A.csv B.csv C.csv --work DIR``
    three jobs on one account at once in one loop, sharing the account's gate; each job's answer
    times, to compute its share while all three run.
``python -m bench.libprobes looplag --url URL --input XLSX --output OUT``
    one job planned, sent and written on a loop that also runs a 5 ms heartbeat; the heartbeat's
    lateness is how long the loop could not serve other work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchverify.build import connect
from batchverify.engine.events import AnswerRecorded, Event, JobStarted, OutputWritten, PlanReady
from batchverify.engine.gate import RateGate, SlidingWindowLimiter, StrictGate
from batchverify.engine.job import Job, Target, plan
from batchverify.engine.options import Options
from batchverify.engine.plan import RunRequest


def _target(url: str) -> Target:
    with connect(Options(endpoint=url)) as target:  # credentials from the environment, as a user's run
        return target


async def gate_run(url: str, kind: str, inp: Path, out: Path) -> dict[str, Any]:
    target = _target(url)
    made = await plan(RunRequest(input=inp, output=out), endpoint_identity=target.endpoint_identity)
    gate: RateGate = StrictGate(20) if kind == "strict" else SlidingWindowLimiter(20)
    summary = await Job(made, target, gate=gate).run()
    return {
        "kind": kind,
        "requests": summary.requests,
        "rate_limited": summary.rate_limited,
        "achieved_rate": summary.achieved_rate,
        "outcome": summary.outcome,
        "margin_end": getattr(gate, "margin", None),
    }


async def three_run(url: str, inputs: Sequence[Path], work: Path) -> dict[str, Any]:
    target = _target(url)
    times: list[list[float]] = [[] for _ in inputs]

    def sink(i: int) -> Any:
        def record(event: Event) -> None:
            if isinstance(event, AnswerRecorded):
                times[i].append(time.monotonic())

        return record

    async def one(i: int, inp: Path) -> Any:
        req = RunRequest(input=inp, output=work / f"out-{i}.csv")
        made = await plan(req, endpoint_identity=target.endpoint_identity)
        return await Job(made, target, events=sink(i)).run()

    started = time.monotonic()
    summaries = await asyncio.gather(*(one(i, inp) for i, inp in enumerate(inputs)))
    wall = time.monotonic() - started
    overlap_start = max(t[0] for t in times)
    overlap_end = min(t[-1] for t in times)
    in_overlap = [sum(overlap_start <= x <= overlap_end for x in t) for t in times]
    total = sum(in_overlap) or 1
    return {
        "wall": wall,
        "outcomes": [s.outcome for s in summaries],
        "requests": [s.requests for s in summaries],
        "rate_limited": [s.rate_limited for s in summaries],
        "overlap_seconds": overlap_end - overlap_start,
        "shares": [n / total for n in in_overlap],
    }


async def looplag_run(url: str, inp: Path, out: Path) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    target = _target(url)
    phase = ["plan"]
    lags: dict[str, list[float]] = {"plan": [], "send": [], "write": []}
    marks: dict[str, float] = {"start": time.monotonic()}
    answers = 0

    def sink(event: Event) -> None:
        nonlocal answers
        if isinstance(event, PlanReady):
            marks["planned"] = time.monotonic()
        elif isinstance(event, JobStarted):
            phase[0] = "send"
            marks["started"] = time.monotonic()
        elif isinstance(event, AnswerRecorded):
            answers += 1
            if answers == event.total:
                phase[0] = "write"
                marks["sent"] = time.monotonic()
        elif isinstance(event, OutputWritten):
            marks["written"] = time.monotonic()

    async def heartbeat() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            lags[phase[0]].append(loop.time() - before - 0.005)

    beat = asyncio.create_task(heartbeat())
    made = await plan(
        RunRequest(input=inp, output=out), endpoint_identity=target.endpoint_identity, events=sink
    )
    summary = await Job(made, target, events=sink).run()
    beat.cancel()
    every = sorted(x for values in lags.values() for x in values)
    return {
        "rows": made.rows,
        "sent": summary.requests,
        "outcome": summary.outcome,
        "max_lag_ms": max(every) * 1000,
        "p99_lag_ms": every[int(len(every) * 0.99)] * 1000,
        "beats": len(every),
        "phase_max_lag_ms": {k: (max(v) * 1000 if v else 0.0) for k, v in lags.items()},
        "phase_seconds": {
            "plan": marks["planned"] - marks["start"],
            "send": marks.get("sent", marks["started"]) - marks["started"],
            "write": marks["written"] - marks.get("sent", marks["started"]),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.libprobes")
    sub = ap.add_subparsers(dest="probe", required=True)
    g = sub.add_parser("gate")
    g.add_argument("--url", required=True)
    g.add_argument("--kind", choices=("strict", "legacy"), required=True)
    g.add_argument("--input", type=Path, required=True)
    g.add_argument("--output", type=Path, required=True)
    t = sub.add_parser("three")
    t.add_argument("--url", required=True)
    t.add_argument("--inputs", type=Path, nargs=3, required=True)
    t.add_argument("--work", type=Path, required=True)
    lag = sub.add_parser("looplag")
    lag.add_argument("--url", required=True)
    lag.add_argument("--input", type=Path, required=True)
    lag.add_argument("--output", type=Path, required=True)
    args = ap.parse_args()
    if args.probe == "gate":
        result = asyncio.run(gate_run(args.url, args.kind, args.input, args.output))
    elif args.probe == "three":
        result = asyncio.run(three_run(args.url, args.inputs, args.work))
    else:
        result = asyncio.run(looplag_run(args.url, args.input, args.output))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
