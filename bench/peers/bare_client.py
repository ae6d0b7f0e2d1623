"""The floor under batchverify's cost per row: the least a Python client of the same stack does.

aiohttp, 50 workers, each request signed with TC3 and its reply parsed as JSON; nothing stored,
nothing retried. ``--rate R`` paces the sends with aiolimiter as batchverify's gate does (a wake-up
of the event loop for every send or two); ``--rate 0`` sends as fast as the server answers.

    python -m bench.peers.bare_client --endpoint 127.0.0.1:PORT --numbers N.csv --out R.json [--rate R]
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiolimiter import AsyncLimiter

from batchverify.core import signing
from bench.peers.common import credentials, load_numbers, parse_args

CONTENT_TYPE = "application/json; charset=utf-8"


async def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0], {"--rate": {"type": float, "default": 0.0}})
    numbers = load_numbers(args.numbers, args.limit)
    secret_id, secret_key = credentials()
    host = args.endpoint
    pacer = AsyncLimiter(2, 2 / args.rate) if args.rate > 0 else None
    answered = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal answered
        while numbers:
            mobile = numbers.pop()
            if pacer is not None:
                await pacer.acquire()
            body = json.dumps({"Mobile": mobile}).encode()
            stamp = int(time.time())
            auth = signing.authorization(
                secret_id=secret_id,
                secret_key=secret_key,
                service="faceid",
                timestamp=stamp,
                method="POST",
                host=host,
                content_type=CONTENT_TYPE,
                payload=body,
            )
            headers = {
                "Authorization": auth,
                "Content-Type": CONTENT_TYPE,
                "Host": host,
                "X-TC-Action": "MobileStatus",
                "X-TC-Version": "2018-03-01",
                "X-TC-Timestamp": str(stamp),
            }
            async with session.post(f"http://{host}/", data=body, headers=headers) as resp:
                reply = json.loads(await resp.read())
            answered += "Error" not in reply.get("Response", {})

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(50)))
    args.out.write_text(json.dumps({"answered": answered}))


if __name__ == "__main__":
    asyncio.run(main())
