"""``batchverify answers stats|forget``: look into and prune the answer store every job shares."""

from __future__ import annotations

import json
from pathlib import Path

import click

from batchverify.errors import UsageError

_STORE = click.option(
    "--answers",
    "path",
    envvar="BATCHVERIFY_ANSWERS",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The answer store [default: ~/.local/share/batchverify/answers.sqlite; env BATCHVERIFY_ANSWERS].",
)


@click.group()
def answers() -> None:
    """The answer store: every final answer paid for, kept as keyed hashes (no number in the clear)."""


def _path(path: Path | None) -> Path:
    from batchverify.engine.answers import default_answers_path

    return path or default_answers_path()


@answers.command()
@_STORE
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats(path: Path | None, as_json: bool) -> None:
    """How many answers the store keeps, how old, by status and endpoint."""
    from batchverify.engine.answers import AnswerStore

    with AnswerStore.open(_path(path), create=False) as store:
        figures = store.stats()
    doc = {
        "path": str(figures.path.absolute()),
        "answers": figures.answers,
        "oldest": figures.oldest,
        "newest": figures.newest,
        "by_status": figures.by_status,
        "by_endpoint": figures.by_endpoint,
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    click.echo(f"answer store {doc['path']}: {figures.answers} answer{'' if figures.answers == 1 else 's'}")
    if figures.answers:
        click.echo(f"checked from {figures.oldest} to {figures.newest}")
        click.echo("by status: " + ", ".join(f"{k} {v}" for k, v in figures.by_status.items()))
        click.echo("by endpoint: " + ", ".join(f"{k} {v}" for k, v in figures.by_endpoint.items()))


@answers.command()
@_STORE
@click.option("--older-than", help="Forget the answers checked longer ago than this (30d, 12h).")
@click.option("--all", "everything", is_flag=True, help="Forget every answer.")
@click.argument("numbers", nargs=-1)
def forget(path: Path | None, older_than: str | None, everything: bool, numbers: tuple[str, ...]) -> None:
    """Forget answers: those about NUMBERS, those older than --older-than, or --all."""
    import datetime

    from batchverify.core.normalize import normalize_mobile
    from batchverify.core.timeutil import parse_duration, utc_now_iso
    from batchverify.engine.answers import AnswerStore

    if sum((bool(numbers), older_than is not None, everything)) != 1:
        raise UsageError("name the answers to forget: NUMBERS, --older-than DURATION or --all", code="usage")
    age = datetime.timedelta(0)
    if older_than is not None:
        try:
            age = parse_duration(older_than)
        except UsageError as exc:
            raise UsageError(
                "bad --older-than {value!r}: {why}",
                code=exc.code,
                value=older_than,
                why=exc.params.get("why", ""),
            ) from None
        if age <= datetime.timedelta(0):
            raise UsageError(
                "--older-than must be longer than 0 (--all forgets everything)", code="out_of_range"
            )
    parsed = []
    for text in numbers:
        norm = normalize_mobile(text)
        if norm.number is None:
            raise UsageError("{text!r} is not a mobile number", code="bad_number", text=text)
        parsed.append(int(norm.number))
    with AnswerStore.open(_path(path), create=False) as store:
        if parsed:
            removed = store.forget_numbers(parsed)
        elif everything:
            removed = store.forget()
        else:
            assert older_than is not None
            before = datetime.datetime.now(datetime.UTC) - age
            removed = store.forget(before=utc_now_iso(before))
    click.echo(f"forgot {removed} answer{'' if removed == 1 else 's'}")
