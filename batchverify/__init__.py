"""batchverify: bulk mobile-number status checks through Tencent Cloud FaceID MobileStatus.

The Python API (see the README's "Python API")::

    from batchverify import Simulator, verify_file, verify_dataframe

    with Simulator() as sim:
        summary = verify_file("customers.xlsx", endpoint=sim)
        checked = verify_dataframe(df, "phone", endpoint=sim)

Names are imported on first use, so ``import batchverify`` (and the command line) stays quick and
pandas is loaded only by the DataFrame functions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batchverify._version import __version__

if TYPE_CHECKING:
    from batchverify.api import Simulator, averify_dataframe, averify_file, verify_dataframe, verify_file
    from batchverify.engine.events import (
        AnswerRecorded,
        Event,
        EventSink,
        JobStarted,
        OutputWritten,
        PlanReady,
        Retrying,
        SendingEnded,
        Stopped,
        StopReason,
        Throttled,
    )
    from batchverify.engine.gate import RateGate, StrictGate, shared_gate
    from batchverify.engine.job import Job, Target, execute, plan
    from batchverify.engine.options import Options
    from batchverify.engine.plan import Plan, RunRequest
    from batchverify.engine.summary import Summary
    from batchverify.tencent.credentials import Credentials, load_credentials

_EXPORTS: dict[str, str] = {
    "Simulator": "batchverify.api",
    "averify_file": "batchverify.api",
    "verify_file": "batchverify.api",
    "averify_dataframe": "batchverify.api",
    "verify_dataframe": "batchverify.api",
    "Options": "batchverify.engine.options",
    "Credentials": "batchverify.tencent.credentials",
    "load_credentials": "batchverify.tencent.credentials",
    "Job": "batchverify.engine.job",
    "Target": "batchverify.engine.job",
    "execute": "batchverify.engine.job",
    "plan": "batchverify.engine.job",
    "Plan": "batchverify.engine.plan",
    "RunRequest": "batchverify.engine.plan",
    "Summary": "batchverify.engine.summary",
    "RateGate": "batchverify.engine.gate",
    "StrictGate": "batchverify.engine.gate",
    "shared_gate": "batchverify.engine.gate",
    "AnswerRecorded": "batchverify.engine.events",
    "Event": "batchverify.engine.events",
    "EventSink": "batchverify.engine.events",
    "JobStarted": "batchverify.engine.events",
    "OutputWritten": "batchverify.engine.events",
    "PlanReady": "batchverify.engine.events",
    "Retrying": "batchverify.engine.events",
    "SendingEnded": "batchverify.engine.events",
    "StopReason": "batchverify.engine.events",
    "Stopped": "batchverify.engine.events",
    "Throttled": "batchverify.engine.events",
}

__all__ = [
    "AnswerRecorded",
    "Credentials",
    "Event",
    "EventSink",
    "Job",
    "JobStarted",
    "Options",
    "OutputWritten",
    "Plan",
    "PlanReady",
    "RateGate",
    "Retrying",
    "RunRequest",
    "SendingEnded",
    "Simulator",
    "StopReason",
    "Stopped",
    "StrictGate",
    "Summary",
    "Target",
    "Throttled",
    "__version__",
    "averify_dataframe",
    "averify_file",
    "errors",
    "execute",
    "load_credentials",
    "plan",
    "shared_gate",
    "verify_dataframe",
    "verify_file",
]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("batchverify.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batchverify' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
