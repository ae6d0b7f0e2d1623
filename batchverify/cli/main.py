"""The command line's entry point: the command group, and every error as one line and a documented
exit code. The commands live beside it (``run``, ``serve``, ``simulate``)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sys

import click

from batchverify import errors
from batchverify._version import __version__
from batchverify.cli.answers import answers
from batchverify.cli.demo import demo
from batchverify.cli.exits import write_failed_summary, write_internal_error, write_interrupted_summary
from batchverify.cli.flags import CLI_NAMES
from batchverify.cli.lines import FORMATS, emit, log_handler, use_format
from batchverify.cli.run import run
from batchverify.cli.serve import serve
from batchverify.cli.users import users

# The engine (aiohttp, SQLite, the rate store) loads inside the commands, so --help and --version
# start without it.

log = logging.getLogger("batchverify")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchverify")
def cli() -> None:
    """Check in bulk whether mobile numbers are live, through Tencent Cloud FaceID MobileStatus."""


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
@click.option(
    "--night",
    type=click.IntRange(min=0, max=100_000),
    default=0,
    show_default=True,
    help="Rehearse the nightly job: night N (>= 1) moves about 5 % of the normal numbers to cancelled "
    "or out of service for that night; the next night, others.",
)
def simulate(
    host: str,
    port: int,
    rate_limit: int,
    latency: str,
    faults: float,
    seed: int | None,
    daily_quota: int | None,
    night: int,
) -> None:
    """Run the local MobileStatus simulator in the foreground (Ctrl-C stops it)."""
    from batchverify.simulator import SimConfig, parse_latency, serve_forever

    config = SimConfig.from_env(
        rate_limit=rate_limit,
        latency_ms=parse_latency(latency),
        faults=faults,
        seed=seed,
        daily_quota=daily_quota,
        night=night,
    )
    serve_forever(config, host, port)


def _error(text: str, level: str = "ERROR") -> None:
    """An error line on stderr, in the format of every other line."""
    emit(text, level=level, err=True)


def _setup_logging() -> None:
    # Before the command's options are read: an early error is already in the chosen format (a value
    # that is no format is left to the option's own check, which names it).
    chosen = os.environ.get("BATCHVERIFY_LOG_FORMAT", "").strip().lower()
    args = sys.argv[1:]
    for i, arg in enumerate(args):  # the flag too, so that an error in another flag is in its format
        if arg == "--log-format" and i + 1 < len(args):
            chosen = args[i + 1].lower()
        elif arg.startswith("--log-format="):
            chosen = arg.split("=", 1)[1].lower()
    use_format(chosen if chosen in FORMATS else None)
    log.addHandler(log_handler())
    log.setLevel(logging.INFO)
    log.propagate = False


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM outside the sending stage behaves like Ctrl-C: unwind cleanly, exit 130.
    raise KeyboardInterrupt


cli.add_command(run)
cli.add_command(serve)
cli.add_command(answers)
cli.add_command(demo)
cli.add_command(users)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps every error to a one-line message and a documented exit code."""
    for stream in (sys.stdout, sys.stderr):
        # A terminal or log in a narrow encoding (GBK, ASCII under cron) shows what it cannot hold
        # as "?" instead of failing the run on a character of the API's text or a file name.
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError):
                stream.reconfigure(errors="replace")
    _setup_logging()
    # SIGTERM and SIGHUP (the terminal closed) before or after the sending stage end as Ctrl-C
    # does: unwind cleanly, say so, exit 130 (the sending stage has handlers of its own).
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        cli.main(args=argv, prog_name="batchverify", standalone_mode=False)
    except click.exceptions.Abort:
        _error("batchverify: interrupted", "WARNING")
        write_interrupted_summary()
        sys.exit(errors.EXIT_INTERRUPTED)
    except click.ClickException as exc:
        # One line, like every other error ("batchverify run --help" shows the usage).
        message = " ".join(exc.format_message().split())
        _error(f"batchverify: error: {message}")
        sys.exit(errors.EXIT_USAGE)
    except errors.BatchVerifyError as exc:
        message = exc.render(CLI_NAMES)
        _error(f"batchverify: error: {message}")
        write_failed_summary(exc, message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _error("batchverify: interrupted", "WARNING")
        write_interrupted_summary()
        sys.exit(errors.EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("BATCHVERIFY_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        _error(f"batchverify: {message} (set BATCHVERIFY_DEBUG=1 for details)")
        write_internal_error(message)
        sys.exit(errors.EXIT_INTERNAL)
