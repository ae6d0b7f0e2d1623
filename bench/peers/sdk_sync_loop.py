"""Peer 1, the most common script: a plain loop over the official synchronous SDK client."""

from __future__ import annotations

import time

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.faceid.v20180301 import faceid_client, models

from bench.peers.common import credentials, load_numbers, parse_args, write_report


def main() -> None:
    args = parse_args(__doc__ or "")
    numbers = load_numbers(args.numbers, args.limit)
    started = time.perf_counter()
    cred = credential.Credential(*credentials())
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=args.endpoint, reqTimeout=30))
    client = faceid_client.FaceidClient(cred, "", profile)
    outcomes = []
    for mobile in numbers:
        req = models.MobileStatusRequest()
        req.Mobile = mobile
        try:
            resp = client.MobileStatus(req)
            outcomes.append(f"result:{resp.Result}")
        except TencentCloudSDKException as exc:
            outcomes.append(f"error:{exc.get_code()}")
        except Exception as exc:
            outcomes.append(f"exception:{type(exc).__name__}")
    write_report(args.out, numbers, outcomes, started)


if __name__ == "__main__":
    main()
