"""Peer 2: the official async SDK client, ``asyncio.gather`` under a semaphore of 20, no rate limiter."""

from __future__ import annotations

import asyncio
import time

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301 import faceid_client_async, models

from bench.peers.common import credentials, load_numbers, parse_args, write_report


async def check_all(endpoint: str, numbers: list[str]) -> list[str]:
    cred = credential.Credential(*credentials())
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=30))
    semaphore = asyncio.Semaphore(20)
    async with faceid_client_async.FaceidClient(cred, "", profile) as client:

        async def one(mobile: str) -> str:
            async with semaphore:
                req = models.MobileStatusRequest()
                req.Mobile = mobile
                try:
                    resp = await client.MobileStatus(req)
                    return f"result:{resp.Result}"
                except TencentCloudSDKException as exc:
                    return f"error:{exc.get_code()}"
                except Exception as exc:
                    return f"exception:{type(exc).__name__}"

        return await asyncio.gather(*(one(m) for m in numbers))


def main() -> None:
    args = parse_args(__doc__ or "")
    numbers = load_numbers(args.numbers, args.limit)
    started = time.perf_counter()
    outcomes = asyncio.run(check_all(args.endpoint, numbers))
    write_report(args.out, numbers, outcomes, started)


if __name__ == "__main__":
    main()
