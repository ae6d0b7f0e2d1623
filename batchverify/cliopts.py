"""What ``run`` and ``serve`` share: the endpoint options' checks, and where requests go (Tencent's
endpoint with the user's credentials, or the built-in simulator with its demo keys)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from batchverify import errors
from batchverify.models import DEFAULT_ENDPOINT, SIMULATOR_IDENTITY

if TYPE_CHECKING:
    from batchverify.tencent.client import Endpoint
    from batchverify.tencent.credentials import Credentials

log = logging.getLogger("batchverify")


def checked_endpoint(simulator: bool, endpoint: str | None, rate: float) -> str | None:
    """``--endpoint`` as it applies: None with ``--simulator`` (which excludes a given one)."""
    if simulator:
        source = click.get_current_context().get_parameter_source("endpoint")
        if source is click.core.ParameterSource.COMMANDLINE:
            raise errors.UsageError("--simulator and --endpoint exclude each other")
        endpoint = None  # BATCHVERIFY_ENDPOINT does not apply to the built-in simulator
    if rate > 20 and not simulator:
        log.warning("--rate %g is above the API's limit of 20/s: expect RequestLimitExceeded replies", rate)
    return endpoint


@contextlib.contextmanager
def target(
    simulator: bool, endpoint: str | None, profile: str | None, *, credentials: bool = True
) -> Iterator[tuple[Endpoint, Credentials | None, str]]:
    """(endpoint, credentials, checkpoint identity); the simulator runs while the block does.
    ``credentials=False`` (a dry run) loads none."""
    from batchverify.tencent.client import Endpoint
    from batchverify.tencent.credentials import Credentials, load_credentials

    if not simulator:
        where = Endpoint.parse(endpoint or DEFAULT_ENDPOINT)
        yield where, load_credentials(profile) if credentials else None, where.host
        return
    from batchverify.simulator import SimConfig, SimulatorServer

    config = SimConfig(latency_ms=(20, 80))
    with SimulatorServer(config) as server:
        log.info("using the built-in simulator at %s (demo keys, nothing is billed)", server.url)
        yield Endpoint.parse(server.url), Credentials(config.secret_id, config.secret_key), SIMULATOR_IDENTITY
