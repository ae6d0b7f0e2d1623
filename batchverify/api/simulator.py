"""The local simulator for the Python API: ``with Simulator() as sim: verify_file(..., endpoint=sim)``."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from batchverify.tencent.credentials import Credentials

__all__ = ["Simulator"]


class Simulator:
    """The local MobileStatus simulator on a free port, in a thread; a context manager.

    ``with Simulator() as sim: verify_file("list.xlsx", endpoint=sim)``. ``url``, ``credentials``
    (its demo keys) and ``ledger()`` (what it would have billed). Options are those of
    ``batchverify.simulator.SimConfig`` (``rate_limit=20``, ``latency_ms=(0, 0)``, ``faults=0.0``,
    ``seed``, ``daily_quota``). Nothing is billed, nothing leaves the machine.
    """

    def __init__(self, **options: Any) -> None:
        from batchverify.simulator import SimConfig, SimulatorServer

        self.config = SimConfig(**options)
        self._server = SimulatorServer(self.config)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.config.secret_id, self.config.secret_key)

    def ledger(self) -> dict[str, Any]:
        """What the simulator received and billed (``GET /__ledger``)."""
        return self._server.ledger()

    def reset(self) -> None:
        """Forget what was billed."""
        self._server.reset()

    def start(self) -> Simulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
