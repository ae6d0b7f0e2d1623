"""The engine without a network: a verifier that answers from a script (as httpx's test ``App``
classes do), a fast gate, and a request for a list written in a test's folder."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from batchverify.engine.gate import StrictGate
from batchverify.engine.job import Target
from batchverify.engine.plan import RunRequest
from batchverify.engine.sender import SendConfig
from batchverify.models import BusinessReply, Reply
from batchverify.tencent.client import Endpoint
from batchverify.tencent.credentials import Credentials
from tests.support.tables import spread_numbers as numbers
from tests.support.tables import statuses, write_list

__all__ = ["TARGET", "Script", "fast_gate", "numbers", "request", "statuses"]

TARGET = Target(
    endpoint=Endpoint.parse("http://127.0.0.1:9"),
    credentials=Credentials("AKIDscriptedverifier0001", "key"),
    identity="scripted",
    send=SendConfig(rate=1000, concurrency=8),
)


class Script:
    """Answers ``normal`` for every number, unless ``replies[number]`` lists replies to give first."""

    def __init__(self, replies: dict[str, list[Reply]] | None = None, delay: float = 0.0) -> None:
        self.replies = replies or {}
        self.delay = delay
        self.calls: Counter[str] = Counter()

    async def query(self, mobile: str) -> Reply:
        self.calls[mobile] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        queue = self.replies.get(mobile)
        if queue:
            return queue.pop(0)
        return BusinessReply("0", 0, "Success", f"req-{mobile}-{self.calls[mobile]}")


def request(tmp_path: Path, phones: list[str], **kw: object) -> RunRequest:
    src = write_list(tmp_path / "list.csv", phones)
    return RunRequest(input=src, output=tmp_path / "out.csv", **kw)  # type: ignore[arg-type]


def fast_gate() -> StrictGate:
    return StrictGate(1000)
