"""aiolimiter instead of batchverify's limiter: ``AsyncLimiter(MAX_RATE, PERIOD)`` in front of a
signed aiohttp client (batchverify's own ``MobileStatusClient``), 50 workers, no retries.

Shows what the limiter alone does against a strict 20/s sliding window: the rate it reaches, the
``RequestLimitExceeded`` replies it draws and the busiest one-second window.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

from batchverify.models import BusinessReply, ErrorReply
from batchverify.tencent.client import Endpoint, MobileStatusClient, make_session
from batchverify.tencent.credentials import Credentials
from bench.peers.common import credentials, load_numbers, parse_args, write_report


async def check_all(endpoint: str, numbers: list[str], max_rate: float, period: float) -> list[str]:
    limiter = AsyncLimiter(max_rate, period)  # created inside the running loop
    todo = iter(numbers)
    outcomes: list[str] = []
    async with make_session(connections=54) as session:
        target = Endpoint.parse("http://" + endpoint)
        client = MobileStatusClient(session, target, Credentials(*credentials()))

        async def worker() -> None:
            for mobile in todo:
                async with limiter:
                    reply = await client.query(mobile)
                if isinstance(reply, BusinessReply):
                    outcomes.append(f"result:{reply.result}")
                elif isinstance(reply, ErrorReply):
                    outcomes.append(f"error:{reply.code}")
                else:
                    outcomes.append(f"exception:{type(reply).__name__}")

        await asyncio.gather(*(worker() for _ in range(50)))
    return outcomes


def main() -> None:
    args = parse_args(
        __doc__ or "",
        {"--max-rate": {"type": float, "required": True}, "--period": {"type": float, "required": True}},
    )
    numbers = load_numbers(args.numbers, args.limit)
    started = time.perf_counter()
    outcomes = asyncio.run(check_all(args.endpoint, numbers, args.max_rate, args.period))
    write_report(args.out, numbers, outcomes, started, max_rate=args.max_rate, period=args.period)


if __name__ == "__main__":
    main()
