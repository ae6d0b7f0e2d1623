"""A job's event stream (``GET /api/jobs/{id}/events``): the job as ``GET /api/jobs/{id}`` shows
it, then what changed, each time it changes, for as long as its user may see it."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from batchverify.web.auth import AUTH as AUTH_KEY
from batchverify.web.jobs import WebJob
from batchverify.web.manager import JobManager

__all__ = ["stream_job"]

_HEARTBEAT = 15.0
_COALESCE = 0.25  # at most four updates a second per listener, however fast the answers come


async def stream_job(request: web.Request, job: WebJob, manager: JobManager) -> web.StreamResponse:
    """Server-Sent Events (event: job): the whole job first, then the keys whose values differ
    (``id`` always; the plan only when it changed)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold the stream back
        }
    )
    await response.prepare(request)
    changed = job.subscribe()
    sent: dict[str, object] = {}
    plan_seen: object = None
    auth = request.app[AUTH_KEY]
    try:
        while True:
            changed.clear()
            gone = job.record.id not in manager.jobs
            who = auth.identify(request)
            if manager.closing or who is None or not who[1].can_see(job.record.owner):
                break  # the server stops, the browser logged out, the user was removed or demoted
            if gone:
                doc: dict[str, object] = {"id": job.record.id, "deleted": True}
            else:
                # The plan (and the list scan for an earlier upload of the same file) only when the
                # plan itself changed: a job that sends wakes this four times a second.
                with_plan = job.record.plan is not plan_seen or not sent
                plan_seen = job.record.plan
                doc = manager.view(job, plan=with_plan, same=with_plan)
                if not with_plan:
                    doc.pop("plan", None)
                    doc.pop("same_file", None)
            delta = {k: v for k, v in doc.items() if k == "id" or sent.get(k) != v}
            if len(delta) > 1 or not sent:
                sent.update(doc)
                data = json.dumps(delta, ensure_ascii=False)
                await response.write(f"event: job\ndata: {data}\n\n".encode())
            if gone:
                break
            try:
                await asyncio.wait_for(changed.wait(), timeout=_HEARTBEAT)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
            await asyncio.sleep(_COALESCE)
    except ConnectionResetError:
        pass  # the browser went away; a cancellation (the server stopping) goes through
    finally:
        job.unsubscribe(changed)
    return response
