"""The options ``run`` and ``serve`` share, declared once, and how the command line names an option
in a message (``--column``, ``-o``). Ranges are not checked here: ``Options`` checks every value, for
every front end alike, and the command line only renders its errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from batchverify.errors import OptionNames
from batchverify.models import DEFAULT_ENDPOINT

log = logging.getLogger("batchverify")

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS = {
    "output": "-o/--output",
    "input": "INPUT",
    "summary_sheet": "--no-summary-sheet",
    "max_age_by_status": "--max-age STATUS=DURATION",
    "credentials": "the credentials",
}

CLI_NAMES = OptionNames(lambda field: _FLAGS.get(field) or "--" + field.replace("_", "-"))


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def where_options(rate_help: str, *, simulator_env: bool = False) -> Callable[[F], F]:
    """Where requests go and how fast: shared by ``run`` and ``serve``. ``simulator_env``: the
    simulator may be chosen by BATCHVERIFY_SIMULATOR (serve's environment file), never for ``run``,
    where a variable left in a shell would answer a real list with simulated statuses."""
    return _stack(
        click.option(
            "--endpoint",
            envvar="BATCHVERIFY_ENDPOINT",
            help=f"API endpoint URL [default: {DEFAULT_ENDPOINT}; env BATCHVERIFY_ENDPOINT].",
        ),
        click.option(
            "--simulator",
            is_flag=True,
            envvar="BATCHVERIFY_SIMULATOR" if simulator_env else None,
            show_envvar=simulator_env,
            help="Send to the built-in simulator (demo keys, nothing billed).",
        ),
        click.option(
            "--simulator-night",
            type=int,
            default=0,
            show_default=True,
            envvar="BATCHVERIFY_SIMULATOR_NIGHT" if simulator_env else None,
            show_envvar=simulator_env,
            help="With --simulator: rehearse night N of the nightly job (about 5 % of normal numbers "
            "change each night).",
        ),
        click.option(
            "--rate",
            type=float,
            default=20.0,
            show_default=True,
            envvar="BATCHVERIFY_RATE",
            show_envvar=True,
            help=rate_help,
        ),
        click.option(
            "--profile",
            envvar="BATCHVERIFY_PROFILE",
            show_envvar=True,
            help="Section of ~/.tencentcloud/credentials to use.",
        ),
        click.option(
            "--rate-store",
            envvar="BATCHVERIFY_RATE_STORE",
            help="Where processes sharing the account keep its send log: host (default), memory, or "
            "redis://HOST:PORT/DB [env BATCHVERIFY_RATE_STORE].",
        ),
        click.option(
            "--language",
            envvar="BATCHVERIFY_LANGUAGE",
            show_envvar=True,
            help="zh-CN or en [default: the locale's].",
        ),
    )


def answers_options() -> Callable[[F], F]:
    """The answer store every job shares: shared by ``run`` and ``serve``."""
    return _stack(
        click.option(
            "--answers",
            envvar="BATCHVERIFY_ANSWERS",
            help="The answer store every job shares, which --max-age reuses from: a file, or none "
            "[default: ~/.local/share/batchverify/answers.sqlite; env BATCHVERIFY_ANSWERS].",
        ),
        click.option(
            "--answers-keep",
            default="90d",
            show_default=True,
            envvar="BATCHVERIFY_ANSWERS_KEEP",
            show_envvar=True,
            help="How long the answer store keeps an answer.",
        ),
    )


def ages(given: tuple[str, ...]) -> tuple[str | None, dict[str, str]]:
    """``--max-age 7d --max-age cancelled=90d``: the window for every status, and those per status
    (checked by ``Options``). The last plain value wins, as for any option given twice."""
    default: str | None = None
    by_status: dict[str, str] = {}
    for text in given:
        status, sep, age = text.partition("=")
        if sep:
            by_status[status.strip()] = age.strip()
        else:
            default = text
    return default, by_status


def endpoint_given(simulator: bool, endpoint: str | None) -> str | None:
    """``--endpoint`` as it applies: BATCHVERIFY_ENDPOINT does not apply to ``--simulator`` (one given
    on the command line does, and ``Options`` refuses the pair)."""
    if simulator:
        source = click.get_current_context().get_parameter_source("endpoint")
        if source is not click.core.ParameterSource.COMMANDLINE:
            return None
    return endpoint


def warn_rate(simulator: bool, rate: float) -> None:
    if rate > 20 and not simulator:
        log.warning("--rate %g is above the API's limit of 20/s: expect RequestLimitExceeded replies", rate)


def log_format_option() -> Callable[[F], F]:
    """``--log-format text|json``: shared by ``run`` and ``serve``."""
    from batchverify.cli.lines import FORMATS

    return click.option(
        "--log-format",
        type=click.Choice(FORMATS, case_sensitive=False),
        default="text",
        show_default=True,
        envvar="BATCHVERIFY_LOG_FORMAT",
        show_envvar=True,
        help="text: a timestamp and a level before each line off a terminal; json: one JSON object a line "
        "(time, level, message), printed and logged lines alike.",
    )
