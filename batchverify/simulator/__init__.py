"""The local MobileStatus simulator: faithful enough that Tencent's official SDK talks to it.

``app`` is the HTTP side, ``engine`` the checks and answers, ``ledger`` the billing record,
``numbers`` the scripted test numbers, ``decrypt`` the demo key pair's decryption. The engine of
batchverify never imports this package; front ends and tests do.
"""

from batchverify.simulator.app import (
    DEFAULT_PORT,
    DEMO_SECRET_ID,
    DEMO_SECRET_KEY,
    FAULT_KINDS,
    SimConfig,
    SimulatorServer,
    banner,
    main,
    make_app,
    parse_latency,
    serve_forever,
    unflatten,
)

__all__ = [
    "DEFAULT_PORT",
    "DEMO_SECRET_ID",
    "DEMO_SECRET_KEY",
    "FAULT_KINDS",
    "SimConfig",
    "SimulatorServer",
    "banner",
    "main",
    "make_app",
    "parse_latency",
    "serve_forever",
    "unflatten",
]
