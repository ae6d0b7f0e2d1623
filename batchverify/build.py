"""From an ``Options`` value to a job (the one library module above both the engine and the
simulator, which ``--simulator`` starts): where requests go (``connect``), what the run reads and writes
(``run_request``), and the planned ``Job`` (``prepare``). Every front end builds its jobs here, so
the endpoint, credentials, simulator, encryption, rate gate and store are chosen one way.
"""

from __future__ import annotations

import contextlib
import locale
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import EllipsisType

import aiohttp

from batchverify.core.classify import RetryPolicy
from batchverify.core.labels import default_language
from batchverify.engine.answers import default_answers_path
from batchverify.engine.events import EventSink, ignore
from batchverify.engine.gate import RateGate
from batchverify.engine.job import Job, Target, Writer, plan
from batchverify.engine.options import ENCRYPTIONS, Options, RunningSimulator
from batchverify.engine.plan import RunRequest, default_output
from batchverify.engine.sender import SendConfig
from batchverify.files.tables import Table
from batchverify.models import DEFAULT_ENDPOINT, SIMULATOR_IDENTITY
from batchverify.tencent.client import Encrypts, Endpoint
from batchverify.tencent.credentials import Credentials, load_credentials

__all__ = ["connect", "language_of", "prepare", "run_request"]

log = logging.getLogger("batchverify")


def language_of(options: Options) -> str:
    """``zh-CN`` or ``en``: as the options say, else the person's (``BATCHVERIFY_LANGUAGE``, locale)."""
    if options.language is not None:
        return options.language
    return default_language(os.environ, locale.getlocale()[0] or "")


def run_request(
    options: Options,
    input: Path,
    output: Path | EllipsisType | None = ...,
    *,
    language: str | None = None,
    reuse_checkpoint: bool = False,
) -> RunRequest:
    """What a run of ``input`` reads and writes. ``output`` ``...``: ``<stem>.verified.<ext>``; None:
    no file (the DataFrame API collects the results)."""
    out = default_output(input) if output is ... else output
    assert out is None or isinstance(out, Path)
    return RunRequest(
        input=input,
        output=out,
        column=options.column,
        sheet=options.sheet,
        encoding=options.encoding,
        output_encoding=options.output_encoding,
        max_age=options.max_age,
        max_age_by_status=dict(options.max_age_by_status),
        restart=options.restart,
        checkpoint=options.checkpoint,
        overwrite=options.overwrite,
        header_row=options.header_row,
        language=language or language_of(options),
        summary_sheet=options.summary_sheet,
        headers=options.headers,
        time_zone=options.time_zone,
        title=options.title,
        retry_advice=options.retry_advice,
        problems=options.problems,
        changes=options.changes,
        max_billable=options.max_billable,
        price=options.price,
        answers=_answers_path(options),
        answers_keep=options.answers_keep,
        reuse_checkpoint=reuse_checkpoint,
    )


def _answers_path(options: Options) -> Path | None:
    """The answer store: as the options say, else ``BATCHVERIFY_ANSWERS`` (a path, or none), else
    the user's data folder. The same for the command line (whose flag reads the variable) and Python."""
    chosen = options.answers
    if chosen is None:
        chosen = os.environ.get("BATCHVERIFY_ANSWERS", "").strip() or None
    if isinstance(chosen, str) and chosen.lower() == "none":
        return None
    return Path(chosen) if chosen is not None else default_answers_path()


@contextlib.contextmanager
def connect(options: Options, *, credentials: bool = True) -> Iterator[Target]:
    """Where requests go: Tencent's endpoint (or ``endpoint``) with the user's credentials, a running
    simulator with its demo keys, or the built-in simulator, which serves while the block runs.

    ``credentials=False`` (a dry run) loads none. Raises ``CredentialError`` when none are found and
    ``EncryptionError`` for a public key that cannot be read.
    """
    if options.simulator:
        from batchverify.simulator import SimConfig, SimulatorServer

        config = SimConfig(latency_ms=(20, 80), night=options.simulator_night)
        with SimulatorServer(config) as server:
            night = f", night {options.simulator_night}" if options.simulator_night else ""
            log.info("using the built-in simulator at %s (demo keys, nothing is billed%s)", server.url, night)
            demo = Credentials(config.secret_id, config.secret_key)
            yield _target(
                options, Endpoint.parse(server.url), options.credentials or demo, SIMULATOR_IDENTITY
            )
        return
    endpoint = options.endpoint
    if isinstance(endpoint, RunningSimulator):
        sim_keys = options.credentials or endpoint.credentials
        yield _target(options, Endpoint.parse(endpoint.url), sim_keys, SIMULATOR_IDENTITY)
        return
    where = Endpoint.parse(endpoint or DEFAULT_ENDPOINT)
    keys: Credentials | None = options.credentials
    if keys is None and credentials:
        keys = load_credentials(options.profile)
    yield _target(options, where, keys, where.host)


def _target(options: Options, where: Endpoint, keys: Credentials | None, identity: str) -> Target:
    return Target(
        endpoint=where,
        credentials=keys,
        identity=identity,
        send=SendConfig(rate=options.rate, concurrency=options.concurrency, policy=RetryPolicy()),
        encryptor=_encryptor(options, identity == SIMULATOR_IDENTITY),
        read_timeout=options.timeout,
        rate_store=options.rate_store,
    )


def _encryptor(options: Options, simulator: bool) -> Encrypts | None:
    if options.encrypt is None:
        return None
    from batchverify.tencent import crypto

    algorithm = ENCRYPTIONS[options.encrypt]
    if options.encryption_public_key is not None:
        key: bytes | None = crypto.load_public_key(options.encryption_public_key)
    elif simulator:
        from batchverify.simulator.decrypt import simulator_public_key

        key = simulator_public_key(algorithm)
    else:
        key = None  # Tencent's published key
    return crypto.Encryptor(algorithm, key)


async def prepare(
    options: Options,
    target: Target,
    input: Path,
    output: Path | EllipsisType | None = ...,
    *,
    table: Table | None = None,
    events: EventSink = ignore,
    writer: Writer | None = None,
    gate: RateGate | None = None,
    session: aiohttp.ClientSession | None = None,
    language: str | None = None,
    reuse_checkpoint: bool = False,
) -> Job:
    """Plan the run of ``input`` (read it, look at the checkpoint) and return its ``Job``, not yet run:
    ``job.plan`` says what it would send, ``await job.run()`` sends and writes."""
    request = run_request(options, input, output, language=language, reuse_checkpoint=reuse_checkpoint)
    made = await plan(request, endpoint_identity=target.endpoint_identity, table=table, events=events)
    return Job(made, target, writer=writer, events=events, gate=gate, session=session)
