"""The README stays true: every command option, exit code, output column and test number is documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from batchverify import errors
from batchverify.cli import cli
from batchverify.engine.output import OUTPUT_COLUMNS
from batchverify.models import Status
from batchverify.simulator.numbers import TEST_NUMBERS

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_option_is_documented(command: str) -> None:
    cmd = cli.commands[command]
    assert cmd.help, f"{command} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert f"`{longest}" in README or f"[{longest}" in README, (
                f"{command} {longest} is not in README.md"
            )


def test_exit_codes_columns_statuses_and_test_numbers_are_documented() -> None:
    for code in (
        errors.EXIT_OK,
        errors.EXIT_INCOMPLETE,
        errors.EXIT_USAGE,
        errors.EXIT_FATAL_API,
        errors.EXIT_STORAGE,
        errors.EXIT_INTERNAL,
        errors.EXIT_INTERRUPTED,
    ):
        assert f"| {code} |" in README
    for column in OUTPUT_COLUMNS:
        assert f"`{column}`" in README
    for status in Status:
        assert f"| `{status.value}` |" in README
    for number in TEST_NUMBERS:
        assert f"`{number}`" in README, f"test number {number} is not in README.md"


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:12])
    assert "make demo" in head and "make test" in head
