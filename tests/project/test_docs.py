"""The documentation stays true: every command option, exit code, output column and test number is
documented in its pages (docs/), the README is a front page that opens with the first commands, and
the site builds without a broken link."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from batchverify import errors
from batchverify.cli import cli
from batchverify.engine.output import OUTPUT_COLUMNS
from batchverify.models import Status
from batchverify.simulator.numbers import TEST_NUMBERS

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").rglob("*.md")))


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_option_is_documented(command: str) -> None:
    cmd = cli.commands[command]
    assert cmd.help, f"{command} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert f"`{longest}" in DOCS or f"[{longest}" in DOCS, f"{command} {longest} is not in docs/"


def test_exit_codes_columns_statuses_and_test_numbers_are_documented() -> None:
    for code in (
        errors.EXIT_OK,
        errors.EXIT_INCOMPLETE,
        errors.EXIT_USAGE,
        errors.EXIT_FATAL_API,
        errors.EXIT_STORAGE,
        errors.EXIT_BUDGET,
        errors.EXIT_QUOTA,
        errors.EXIT_UNREACHABLE,
        errors.EXIT_THROTTLED,
        errors.EXIT_INTERNAL,
        errors.EXIT_INTERRUPTED,
    ):
        assert f"| {code} |" in README and f"| {code} |" in (ROOT / "docs" / "exit-codes.md").read_text()
    for column in OUTPUT_COLUMNS:
        assert f"`{column}`" in DOCS
    for status in Status:
        assert f"| `{status.value}` |" in DOCS
    for number in TEST_NUMBERS:
        assert f"`{number}`" in DOCS, f"test number {number} is not in docs/"


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:12])
    assert "make demo" in head and "make test" in head


def test_the_readme_is_a_front_page() -> None:
    assert len(README.encode()) <= 10_000, "the README is a front page: the rest lives in docs/"
    for link in ("docs/getting-started.md", "docs/exit-codes.md", "docs/reference/cli.md"):
        assert f"]({link})" in README and (ROOT / link).is_file()


def test_every_serve_option_also_comes_from_the_environment() -> None:
    """An operator's EnvironmentFile or a container's environment sets any of them; --help names it."""
    serve = cli.commands["serve"]
    for param in serve.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert isinstance(param.envvar, str) and param.envvar.startswith("BATCHVERIFY_"), param.name
            assert param.show_envvar or param.envvar in (param.help or ""), param.name  # --help names it
    assert "BATCHVERIFY_TOKEN" in (serve.help or "")
