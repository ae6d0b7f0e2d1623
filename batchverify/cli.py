"""The command line: options in, a ``RunSettings`` to the runner, an exit code out. Thin on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from batchverify import __version__, errors
from batchverify.cliopts import checked_endpoint, target
from batchverify.cliserve import serve
from batchverify.models import DEFAULT_ENDPOINT

if TYPE_CHECKING:
    from batchverify.tencent.client import Encrypts

# The engine (aiohttp, SQLite, the rate store) loads inside the commands, so --help and --version
# start without it.

log = logging.getLogger("batchverify")

ENCRYPT_CHOICES = {"aes-256-cbc": "AES-256-CBC", "sm4-gcm": "SM4-GCM"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchverify")
def cli() -> None:
    """Check in bulk whether mobile numbers are live, through Tencent Cloud FaceID MobileStatus."""


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Output file [default: INPUT.verified.EXT]."
)
@click.option("--column", help="Phone column: header name, Excel letter (C) or 1-based index.")
@click.option("--sheet", help="Excel sheet to read [default: the first].")
@click.option(
    "--endpoint", envvar="BATCHVERIFY_ENDPOINT", help=f"API endpoint URL [default: {DEFAULT_ENDPOINT}]."
)
@click.option(
    "--simulator", is_flag=True, help="Run against the built-in simulator (demo keys, nothing billed)."
)
@click.option(
    "--rate", type=click.FloatRange(min=0.1), default=20.0, show_default=True, help="Requests per second."
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=1000),
    default=50,
    show_default=True,
    help="Calls in flight at most.",
)
@click.option(
    "--max-age", help="Reuse final answers younger than this (30m, 12h, 7d) instead of paying again."
)
@click.option("--restart", is_flag=True, help="Start a new job instead of resuming an unfinished one.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before sending.")
@click.option(
    "--progress", type=click.Choice(["auto", "bar", "log", "off"]), default="auto", show_default=True
)
@click.option("--summary-json", type=click.Path(path_type=Path), help="Also write the summary as JSON here.")
@click.option("--encoding", help="Input text encoding [default: detected].")
@click.option("--output-encoding", help="Output text encoding [default: the input's].")
@click.option("--profile", help="Section of ~/.tencentcloud/credentials to use.")
@click.option("--encrypt", type=click.Choice(sorted(ENCRYPT_CHOICES)), help="Send numbers encrypted.")
@click.option(
    "--encryption-public-key", type=click.Path(path_type=Path), help="Public key file for --encrypt."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0, max=600.0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for an answer (1 to 600).",
)
@click.option("--overwrite", is_flag=True, help="Replace an output file that batchverify did not write.")
@click.option(
    "--header-row",
    type=click.IntRange(min=0, max=1_048_576),
    help="Row number of the header (0: the list has none) [default: detected].",
)
@click.option(
    "--language",
    help="zh-CN or en: labels, actions, summary sheet, API descriptions [default: the locale's].",
)
@click.option(
    "--problems",
    type=click.Path(path_type=Path),
    help="Also write only the rows that need action here (.csv or .xlsx).",
)
@click.option("--no-summary-sheet", is_flag=True, help="Leave the summary sheet out of a workbook output.")
@click.option(
    "--changes",
    type=click.Path(path_type=Path),
    help="Also write only the rows whose status changed since the previous job (.csv or .xlsx).",
)
@click.option(
    "--max-billable",
    type=click.IntRange(min=0),
    help="At most this many billable answers in this run; the rest stays pending.",
)
@click.option(
    "--price",
    type=click.FloatRange(min=0.0, max=1e6),
    help="Price of one billable answer: the plan shows the most it can cost, the summary the cost.",
)
@click.option(
    "--rate-store",
    envvar="BATCHVERIFY_RATE_STORE",
    help="Where processes sharing the account keep its send log: host (default), memory, or redis://HOST:PORT/DB.",
)
def run(
    input_path: Path,
    output: Path | None,
    column: str | None,
    sheet: str | None,
    endpoint: str | None,
    simulator: bool,
    rate: float,
    concurrency: int,
    max_age: str | None,
    restart: bool,
    dry_run: bool,
    yes: bool,
    progress: str,
    summary_json: Path | None,
    encoding: str | None,
    output_encoding: str | None,
    profile: str | None,
    encrypt: str | None,
    encryption_public_key: Path | None,
    timeout: float,
    overwrite: bool,
    header_row: int | None,
    language: str | None,
    problems: Path | None,
    no_summary_sheet: bool,
    changes: Path | None,
    max_billable: int | None,
    price: float | None,
    rate_store: str | None,
) -> None:
    """Verify the phone numbers in INPUT (CSV, TSV, XLSX, XLSM or XLS) and write them back annotated."""
    endpoint = checked_endpoint(simulator, endpoint, rate)
    if price is not None and not math.isfinite(price):
        raise errors.UsageError("--price must be a number, such as 0.05")
    from batchverify.api import language_of
    from batchverify.core.classify import RetryPolicy
    from batchverify.core.timeutil import parse_duration
    from batchverify.engine.plan import RunRequest, check_summary_path, default_output
    from batchverify.engine.sender import SendConfig
    from batchverify.progress import resolve_mode
    from batchverify.runner import RunOptions, run_job

    request = RunRequest(
        input=input_path,
        output=output or default_output(input_path),
        column=column,
        sheet=sheet,
        encoding=encoding,
        output_encoding=output_encoding,
        max_age=parse_duration(max_age) if max_age else None,
        restart=restart,
        overwrite=overwrite,
        header_row=header_row,
        language=language_of(language),
        summary_sheet=not no_summary_sheet,
        problems=problems,
        changes=changes,
        max_billable=max_billable,
        price=price,
    )
    if summary_json is not None:
        check_summary_path(summary_json, request)
        _SUMMARY_JSON[0] = summary_json
    mode = resolve_mode(progress)
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    confirm = None if (yes or not interactive) else _confirm
    with target(simulator, endpoint, profile, credentials=not dry_run) as (where, creds, identity):
        options = RunOptions(
            where=where,
            credentials=creds,
            identity=identity,
            send=SendConfig(rate=rate, concurrency=concurrency, policy=RetryPolicy()),
            encryptor=_encryptor(encrypt, encryption_public_key, simulator),
            dry_run=dry_run,
            progress=mode,
            summary_json=summary_json,
            read_timeout=timeout,
            confirm=confirm,
            rate_store=rate_store,
        )
        code = asyncio.run(run_job(request, options))
    sys.exit(code)


def _encryptor(encrypt: str | None, key_file: Path | None, simulator: bool) -> Encrypts | None:
    if encrypt is None:
        if key_file is not None:
            raise errors.UsageError("--encryption-public-key needs --encrypt")
        return None
    from batchverify.tencent import crypto

    algorithm = ENCRYPT_CHOICES[encrypt]
    if key_file is not None:
        key: bytes | None = crypto.load_public_key(key_file)
    elif simulator:
        from batchverify.simulator.decrypt import simulator_public_key

        key = simulator_public_key(algorithm)
    else:
        key = None  # Tencent's published key
    return crypto.Encryptor(algorithm, key)


def _confirm(question: str) -> bool:
    # Sends are paid for: Enter alone means no.
    return click.confirm(question, default=False, err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Requests per second per key; 0 turns the limit off.",
)
@click.option(
    "--latency",
    default="0,0",
    show_default=True,
    help="MIN,MAX (or MIN-MAX, or one value) milliseconds added to every answer.",
)
@click.option(
    "--faults",
    type=click.FloatRange(min=0, max=1),
    default=0.0,
    show_default=True,
    help="Share of calls that get an injected fault.",
)
@click.option("--seed", type=int, help="Seed for latency and faults (reproducible runs).")
@click.option(
    "--daily-quota",
    type=click.IntRange(min=0),
    help="Billed answers after which every billable answer becomes Result -4.",
)
def simulate(
    host: str,
    port: int,
    rate_limit: int,
    latency: str,
    faults: float,
    seed: int | None,
    daily_quota: int | None,
) -> None:
    """Run the local MobileStatus simulator in the foreground (Ctrl-C stops it)."""
    from batchverify.simulator import SimConfig, parse_latency, serve_forever

    config = SimConfig.from_env(
        rate_limit=rate_limit,
        latency_ms=parse_latency(latency),
        faults=faults,
        seed=seed,
        daily_quota=daily_quota,
    )
    serve_forever(config, host, port)


# --summary-json of the run in progress, so a run that fails before its summary still leaves one.
_SUMMARY_JSON: list[Path | None] = [None]


def _error(text: str) -> None:
    """An error line on stderr; off a terminal it carries the UTC timestamp every cron line has."""
    if not sys.stderr.isatty():
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + text
    click.echo(text, err=True)


def _failed_summary(exc: errors.BatchVerifyError) -> None:
    """A monitor reading --summary-json sees this failure, not last night's success."""
    path = _SUMMARY_JSON[0]
    if path is None:
        return
    doc = {
        "outcome": "error",
        "exit_code": exc.exit_code,
        "error": str(exc),
        "version": __version__,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with contextlib.suppress(OSError):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    fmt = (
        "batchverify: %(message)s"
        if sys.stderr.isatty()
        else "%(asctime)sZ batchverify %(levelname)s %(message)s"
    )
    formatter = logging.Formatter(fmt, "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime  # the same UTC stamps as every other line of a cron log
    handler.setFormatter(formatter)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM outside the sending stage behaves like Ctrl-C: unwind cleanly, exit 130.
    raise KeyboardInterrupt


cli.add_command(serve)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps every error to a one-line message and a documented exit code."""
    _setup_logging()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="batchverify", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("batchverify: interrupted", err=True)
        sys.exit(errors.EXIT_INTERRUPTED)
    except click.ClickException as exc:
        # One line, like every other error ("batchverify run --help" shows the usage).
        message = " ".join(exc.format_message().split())
        _error(f"batchverify: error: {message}")
        sys.exit(errors.EXIT_USAGE)
    except errors.BatchVerifyError as exc:
        _error(f"batchverify: error: {exc}")
        _failed_summary(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("batchverify: interrupted", err=True)
        sys.exit(errors.EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("BATCHVERIFY_DEBUG"):
            raise
        click.echo(
            f"batchverify: internal error: {type(exc).__name__}: {exc} (set BATCHVERIFY_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(errors.EXIT_INTERNAL)
