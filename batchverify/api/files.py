"""The Python API for files: ``verify_file`` / ``averify_file``, what ``batchverify run`` does.

Keyword arguments fill an ``Options`` value (``options=`` takes a ready one, keywords go on top of
it); both forms share one body, ``_verify``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchverify.api.sync import Handle, run_sync
from batchverify.build import connect, prepare
from batchverify.engine.events import EventSink, ignore
from batchverify.engine.options import Options
from batchverify.engine.summary import Summary

__all__ = ["averify_file", "raise_for", "verify_file"]


async def _verify(
    handle: Handle | None,
    options: Options,
    input: str | Path,
    output: str | Path | None,
    events: EventSink,
) -> Summary:
    if options.retry_advice == "command":  # the summary sheet's advice: call again, not a command
        options = options.replace(retry_advice="call")
    with connect(options) as target:
        job = await prepare(
            options, target, Path(input), Path(output) if output is not None else ..., events=events
        )
        if handle is not None:
            handle.attach(job)
        summary = await job.run()
    raise_for(summary)
    return summary


def raise_for(summary: Summary) -> None:
    """The Python API's outcome: the API's refusal is raised (with ``.summary``), the rest returned."""
    if summary.fatal is not None:
        summary.fatal.summary = summary
        raise summary.fatal


async def averify_file(
    input: str | Path,
    output: str | Path | None = None,
    *,
    options: Options | None = None,
    events: EventSink = ignore,
    **values: Any,
) -> Summary:
    """Verify the numbers in ``input`` and write the annotated copy: what ``batchverify run`` does.

    ``output`` defaults to ``<stem>.verified.<ext>``; the checkpoint (``<output>.checkpoint.sqlite``
    unless ``checkpoint`` says otherwise) makes it resumable: called again after an interruption it
    resumes and pays for nothing twice. ``events`` receives the engine's events (progress).

    Every other keyword is a field of ``batchverify.Options`` (``endpoint`` a URL, a ``Simulator``
    or None for Tencent's; ``credentials``; ``column``, ``sheet``, ``header_row``; ``rate``,
    ``concurrency``, ``timeout``; ``max_age`` as ``"7d"`` or a timedelta; ``restart``;
    ``language``; ``problems``, ``changes``; ``max_billable``, ``price``; ``rate_store``, ...),
    checked as the command line checks its flags: a bad value is a ``UsageError`` naming it
    (``error.option``) before anything is sent. ``options=`` passes a ready value; keywords
    change it. Every job in the process on the same account and endpoint shares one rate gate.

    Returns the ``Summary`` (``outcome`` "complete", "incomplete" or "interrupted"). Raises the
    exceptions of ``batchverify.errors``: ``InputError``, ``OutputError``, ``UsageError``,
    ``CredentialError``, ``CheckpointError``, ``BusyError`` before anything is sent;
    ``FatalApiError`` (with ``.summary``) when the API refused the job, after writing what it had.
    """
    made = Options.of(options, **values)
    return await _verify(None, made, input, output, events)


def verify_file(
    input: str | Path,
    output: str | Path | None = None,
    *,
    options: Options | None = None,
    events: EventSink = ignore,
    **values: Any,
) -> Summary:
    """``averify_file`` for synchronous code; works inside a running event loop too.

    A KeyboardInterrupt stops the job cleanly (answers so far are kept and written) and is raised
    again.
    """
    made = Options.of(options, **values)
    return run_sync(lambda handle: _verify(handle, made, input, output, events))
