"""Peer 3: the official SDK's own ``StandardRetryer`` with a thread pool of 20."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.retry import StandardRetryer
from tencentcloud.faceid.v20180301 import faceid_client, models

from bench.peers.common import credentials, load_numbers, parse_args, write_report


def main() -> None:
    args = parse_args(__doc__ or "")
    numbers = load_numbers(args.numbers, args.limit)
    started = time.perf_counter()
    cred = credential.Credential(*credentials())
    profile = ClientProfile(
        httpProfile=HttpProfile(protocol="http", endpoint=args.endpoint, reqTimeout=30),
        retryer=StandardRetryer(max_attempts=3),
    )
    client = faceid_client.FaceidClient(cred, "", profile)

    def one(mobile: str) -> str:
        req = models.MobileStatusRequest()
        req.Mobile = mobile
        try:
            resp = client.MobileStatus(req)
            return f"result:{resp.Result}"
        except TencentCloudSDKException as exc:
            return f"error:{exc.get_code()}"
        except Exception as exc:
            return f"exception:{type(exc).__name__}"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one, numbers))
    write_report(args.out, numbers, outcomes, started)


if __name__ == "__main__":
    main()
