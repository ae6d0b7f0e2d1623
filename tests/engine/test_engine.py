"""The engine in process: plan, Job.run, events, stop, resume, throttling, with a scripted verifier.

The verifier is a small class that answers per number from a script (as httpx's test ``App``
classes do); no network, no mocks of aiohttp. The gate is a real ``StrictGate`` at a high rate.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from batchverify.cli.exits import exit_code_of
from batchverify.core.classify import RetryPolicy
from batchverify.engine.events import (
    AnswerRecorded,
    Event,
    JobStarted,
    OutputWritten,
    PlanReady,
    SendingEnded,
    Throttled,
)
from batchverify.engine.gate import StrictGate
from batchverify.engine.job import Job, Target, plan
from batchverify.engine.plan import RunRequest
from batchverify.engine.sender import SendConfig
from batchverify.errors import CheckpointError, InputError
from batchverify.models import ErrorReply, TransportFailure
from tests.support.script import TARGET, Script, fast_gate, numbers, request, statuses


async def test_plan_creates_no_file_and_counts(tmp_path: Path) -> None:
    phones = [*numbers(5), numbers(1)[0], "", "12"]
    req = request(tmp_path, phones)
    seen: list[Event] = []
    made = await plan(req, endpoint_identity="scripted", events=seen.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]
    assert (made.rows, len(made.distinct), made.duplicate_rows, made.empty, made.invalid) == (8, 5, 1, 1, 1)
    assert made.max_billable == 5 + made.repeat_allowance == 10 and not made.resumed
    assert isinstance(seen[0], PlanReady) and seen[0].plan is made


async def test_run_answers_every_number_once_and_reports_events(tmp_path: Path) -> None:
    phones = numbers(20) + numbers(5)  # 5 duplicate rows
    made = await plan(request(tmp_path, phones), endpoint_identity="scripted")
    script = Script()
    seen: list[Event] = []
    summary = await Job(made, TARGET, verifier=script, gate=fast_gate(), events=seen.append).run()
    assert summary.outcome == "complete" and exit_code_of(summary) == 0
    assert set(script.calls.values()) == {1} and len(script.calls) == 20
    assert summary.billable_calls == 20 and summary.requests == 20
    assert statuses(tmp_path / "out.csv") == ["normal"] * 25
    started = [e for e in seen if isinstance(e, JobStarted)]
    answers = [e for e in seen if isinstance(e, AnswerRecorded)]
    written = [e for e in seen if isinstance(e, OutputWritten)]
    assert started[0].to_send == 20 and not started[0].resumed
    assert [a.done for a in answers] == list(range(1, 21))
    assert answers[-1].counts == {"normal": 20} and answers[-1].billable == 20
    assert written[0].rows == 25 and written[0].counts == {"normal": 25}
    # Sending ends after the last answer and before the file: a front end can say "stopped" then.
    ended = [i for i, e in enumerate(seen) if isinstance(e, SendingEnded)]
    assert len(ended) == 1 and seen.index(answers[-1]) < ended[0] < seen.index(written[0])
    last = seen[ended[0]]
    assert isinstance(last, SendingEnded) and last.reason is None and last.requests == 20


async def test_stop_keeps_answers_and_a_rerun_sends_only_the_rest(tmp_path: Path) -> None:
    req = request(tmp_path, numbers(40))
    made = await plan(req, endpoint_identity="scripted")
    script = Script(delay=0.01)
    job: Job

    ended: list[tuple[SendingEnded, bool]] = []

    def stop_after_ten(event: Event) -> None:
        if isinstance(event, AnswerRecorded) and event.done == 10:
            job.stop()
        if isinstance(event, SendingEnded):
            ended.append((event, (tmp_path / "out.csv").exists()))

    job = Job(made, TARGET, verifier=script, gate=StrictGate(200), events=stop_after_ten)
    first = await job.run()
    assert (
        first.outcome == "interrupted" and first.stop_reason == "interrupted" and exit_code_of(first) == 130
    )
    answered = sum(first.by_status.get(s, 0) for s in ("normal",))
    assert answered >= 10 and first.by_status.get("pending", 0) == 40 - answered
    assert [(e.reason, e.requests, before) for e, before in ended] == [("interrupted", answered, False)]
    again = await plan(req, endpoint_identity="scripted")
    assert again.resumed and again.already_answered == answered and len(again.to_send) == 40 - answered
    second = await Job(again, TARGET, verifier=script, gate=fast_gate()).run()
    assert second.outcome == "complete"
    assert set(script.calls.values()) == {1}  # nothing asked twice
    assert statuses(tmp_path / "out.csv") == ["normal"] * 40


async def test_stop_from_another_thread(tmp_path: Path) -> None:
    made = await plan(request(tmp_path, numbers(200)), endpoint_identity="scripted")
    job = Job(made, TARGET, verifier=Script(delay=0.01), gate=StrictGate(100))
    task = asyncio.create_task(job.run())
    await asyncio.sleep(0.3)
    await asyncio.to_thread(job.stop)
    summary = await asyncio.wait_for(task, timeout=10)
    assert summary.outcome == "interrupted" and 0 < summary.requests < 200


async def test_throttled_calls_are_retried_and_make_the_gate_careful(tmp_path: Path) -> None:
    phones = numbers(3)
    rle = ErrorReply("RequestLimitExceeded", "too fast", "r")
    script = Script({phones[1]: [rle, rle]})
    gate = fast_gate()
    seen: list[Event] = []
    made = await plan(request(tmp_path, phones), endpoint_identity="scripted")
    summary = await Job(made, TARGET, verifier=script, gate=gate, events=seen.append).run()
    assert summary.outcome == "complete" and summary.rate_limited == 2
    assert script.calls[phones[1]] == 3 and gate.throttles == 2 and gate.margin > gate.base_margin
    assert sum(isinstance(e, Throttled) for e in seen) == 2


async def test_fatal_reply_stops_the_job_and_keeps_what_was_answered(tmp_path: Path) -> None:
    phones = numbers(30)
    script = Script({phones[5]: [ErrorReply("AuthFailure.SecretIdNotFound", "no such key", "r-1")]})
    made = await plan(request(tmp_path, phones), endpoint_identity="scripted")
    summary = await Job(made, TARGET, verifier=script, gate=StrictGate(50)).run()
    assert summary.outcome == "fatal" and exit_code_of(summary) == 3
    assert summary.fatal is not None and summary.fatal.code == "AuthFailure.SecretIdNotFound"
    assert summary.stop_reason == "fatal"
    assert "pending" in summary.by_status


async def test_network_that_stays_down_stops_early(tmp_path: Path) -> None:
    phones = numbers(30)
    down = TransportFailure(maybe_sent=False, detail="refused")
    script = Script({p: [down] * 10 for p in phones})
    made = await plan(request(tmp_path, phones), endpoint_identity="scripted")
    target = Target(
        endpoint=TARGET.endpoint,
        credentials=TARGET.credentials,
        identity="scripted",
        send=SendConfig(rate=1000, concurrency=1, policy=RetryPolicy(base_delay=0.001)),
    )
    summary = await Job(made, target, verifier=script, gate=fast_gate()).run()
    assert summary.stop_reason == "network" and summary.outcome == "incomplete"
    assert len(script.calls) < 30


async def test_a_plan_whose_job_was_finished_meanwhile_is_refused(tmp_path: Path) -> None:
    req = request(tmp_path, numbers(10))
    made = await plan(req, endpoint_identity="scripted")
    script = Script(delay=0.005)
    job: Job

    def stop_early(event: Event) -> None:
        if isinstance(event, AnswerRecorded) and event.done == 3:
            job.stop()

    job = Job(made, TARGET, verifier=script, gate=StrictGate(100), events=stop_early)
    await job.run()
    stale = await plan(req, endpoint_identity="scripted")  # counts on the open job
    await Job(await plan(req, endpoint_identity="scripted"), TARGET, verifier=script, gate=fast_gate()).run()
    with pytest.raises(CheckpointError, match="changed since the plan"):
        await Job(stale, TARGET, verifier=script, gate=fast_gate()).run()


async def test_plan_refuses_a_checkpoint_of_another_endpoint(tmp_path: Path) -> None:
    req = request(tmp_path, numbers(3))
    await Job(
        await plan(req, endpoint_identity="scripted"), TARGET, verifier=Script(), gate=fast_gate()
    ).run()
    with pytest.raises(CheckpointError, match="holds answers from scripted"):
        await plan(req, endpoint_identity="elsewhere")


async def test_plan_reports_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        await plan(
            RunRequest(input=tmp_path / "missing.csv", output=tmp_path / "o.csv"), endpoint_identity="x"
        )


async def test_blocking_work_leaves_the_loop_free(tmp_path: Path) -> None:
    # A heartbeat on the same loop keeps beating while a job plans, sends and writes: the
    # reading, the SQLite commits and the writing happen in worker threads.
    beats = 0

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.001)
            beats += 1

    beat = asyncio.create_task(heartbeat())
    made = await plan(request(tmp_path, numbers(3000)), endpoint_identity="scripted")
    summary = await Job(made, TARGET, verifier=Script(), gate=StrictGate(100000)).run()
    beat.cancel()
    assert summary.outcome == "complete"
    assert beats > 20
