"""What a job does beside sending: the endpoint's host checked before anything is sent, and the
answers exchanged with the answer store (taken in at the start, given back at the end)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
from urllib.parse import urlsplit

from batchverify.core.timeutil import utc_now_iso
from batchverify.engine.answers import AnswerStore
from batchverify.engine.plan import Plan
from batchverify.engine.storetypes import Store
from batchverify.errors import PLAIN_NAMES, BatchVerifyError, EndpointError
from batchverify.models import RowResult
from batchverify.tencent.client import Endpoint

__all__ = ["adopt_answers", "resolve_host", "share_answers"]

log = logging.getLogger("batchverify")


async def resolve_host(endpoint: Endpoint) -> None:
    """A host name that does not resolve is a mistake, not an outage: say so before sending."""
    parts = urlsplit(endpoint.url)
    host = parts.hostname or ""
    try:
        await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, parts.port or 443), 15)
    except (OSError, TimeoutError) as exc:
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        if isinstance(exc, TimeoutError) or getattr(exc, "errno", None) == socket.EAI_AGAIN:
            hint = "the name service did not answer: run again when the network is back"
        else:
            hint = "check {o[endpoint]}"
        raise EndpointError(
            "the endpoint's host {host!r} cannot be resolved ({detail}); " + hint,
            code="unresolved_host",
            option="endpoint",
            host=host,
            detail=detail,
        ) from None


def adopt_answers(store: Store, shared: dict[int, RowResult]) -> None:
    for number, result in shared.items():
        store.adopt(number, result)


def share_answers(made: Plan, store: Store, run_id: int) -> None:
    """Keep the final answers the checkpoint's jobs got in the answer store, for every later job
    and front end: each answer once, those recorded since the last share to that store.

    The store is shared and may be slow or unusable: that costs reuse later, never this run."""
    path = made.request.answers
    if path is None or not made.distinct:
        return
    endpoint = made.endpoint_identity
    try:
        with AnswerStore.open(path) as shared:
            # Noted on both sides, and the earlier of the two counts: a store restored from a
            # backup lacks what came after it, a checkpoint restored from one numbers its runs
            # again; a store made again, or whose key was lost, is another store.
            name = shared.identity()
            mine = f"shared:{name}:{endpoint}"
            theirs = f"{store.identity()}:{name}:{endpoint}"
            here, there = store.get_meta(mine), shared.shared_through(theirs)
            through = (
                min(int(here), there) if here is not None and here.isdigit() and there is not None else None
            )
            shared.put_values(endpoint, store.final_answers(through), (theirs, run_id) if run_id else None)
            if run_id:
                store.set_meta(mine, str(run_id))
            keep = made.request.answers_keep
            if keep is not None:
                shared.forget(before=utc_now_iso(datetime.datetime.now(datetime.UTC) - keep))
    except BatchVerifyError as exc:
        log.warning("%s; this run's answers are kept in its checkpoint only", exc.render(PLAIN_NAMES))
