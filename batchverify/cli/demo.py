"""``batchverify demo [FOLDER]``: an installed package's first run. It writes the sample lists into
FOLDER, verifies the workbook against the built-in simulator (nothing leaves the machine, nothing is
billed) and says what to do next, with the real command."""

from __future__ import annotations

import os
from pathlib import Path

import click

from batchverify import errors
from batchverify.cli.lines import emit

DEFAULT_FOLDER = Path("batchverify-demo")
NEXT_STEPS = """
what to do next:
  1. open {result}: every row with its status, a label and an action in your language,
     and a summary sheet; {problems} holds only the rows that need action.
  2. your own list, for real (each successful lookup is billed): put your Tencent Cloud keys in
     ~/.tencentcloud/credentials (or TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY), then
       batchverify run YOUR-LIST.xlsx --dry-run                     # what it would send, for free
       batchverify run YOUR-LIST.xlsx --max-billable 100 --price 0.05
  3. the nightly job without an account:
       batchverify run {nightly} --simulator --simulator-night 1 --yes --changes changes.csv
     then night 2, 3, ...: each night says what changed.
  4. the upload page for people who do not use a terminal: batchverify serve --simulator
"""


@click.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def demo(ctx: click.Context, folder: Path | None) -> None:
    """Write a sample customer list into FOLDER [default: ./batchverify-demo] and verify it against
    the built-in simulator: nothing is sent to Tencent, nothing is billed."""
    from batchverify.cli.run import run
    from batchverify.files.samples import sample_bytes

    folder = folder or DEFAULT_FOLDER
    samples = sample_bytes()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.UsageError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
    for name, data in samples.items():  # every file checked before any is written
        path = folder / name
        if path.is_symlink() or (path.exists() and (not path.is_file() or path.read_bytes() != data)):
            # Never over a file of the user's: the demo's own files are the only ones it replaces.
            raise errors.UsageError(
                f"{path} is there and is not the demo's sample: choose a new or empty folder "
                "(batchverify demo FOLDER)"
            )
    for name, data in samples.items():
        path = folder / name
        if not path.exists():
            try:
                path.write_bytes(data)
            except OSError as exc:
                raise errors.UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    emit(f"batchverify demo: the sample lists are in {folder}/ ({', '.join(samples)})")
    workbook, result = folder / "customers.xlsx", folder / "customers.verified.xlsx"
    problems = folder / "customers.problems.xlsx"
    try:
        ctx.invoke(
            run,
            input_path=workbook,
            output=result,
            simulator=True,
            yes=True,
            restart=True,  # the demo starts afresh each time it is run
            problems=problems,
            progress="auto",
            # ctx.invoke reads no environment: the demo passes on the line format it was given
            log_format=os.environ.get("BATCHVERIFY_LOG_FORMAT", "text").strip().lower() or "text",
        )
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else 1
    else:
        code = 0
    if code not in (errors.EXIT_OK, errors.EXIT_INCOMPLETE):
        raise SystemExit(code)
    # Exit 1 is the sample's design: it holds numbers that stay busy, hit the daily limit or fail,
    # to show every status (a real list would have them filled in on the next night).
    emit(NEXT_STEPS.format(result=result, problems=problems, nightly=folder / "nightly.csv"))
