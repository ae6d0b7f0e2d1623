"""``batchverify users``: the upload server's users file (``serve --users FILE``)."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(path_type=Path, dir_okay=False)


@click.group()
def users() -> None:
    """Add, remove and list the users of the upload page (serve --users FILE)."""


@users.command("add")
@click.argument("file", type=_FILE)
@click.argument("name")
@click.option("--admin", is_flag=True, help="This user sees (and may delete) every user's jobs.")
def add(file: Path, name: str, admin: bool) -> None:
    """Add NAME to FILE (made if missing) and print their access code, once: give it to them.

    The file keeps only the code's SHA-256; a running server reads the change within seconds."""
    from batchverify.web.users import add_user

    code = add_user(file, name, admin=admin)
    click.echo(f"{name}'s access code (shown once; the file keeps only its hash): {code}", err=True)
    click.echo(code)


@users.command("remove")
@click.argument("file", type=_FILE)
@click.argument("name")
def remove(file: Path, name: str) -> None:
    """Take NAME out of FILE: their code stops working and their sessions end."""
    from batchverify.web.users import remove_user

    remove_user(file, name)
    click.echo(f"removed {name}; their jobs stay, seen by the admins", err=True)


@users.command("list")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def listing(file: Path) -> None:
    """The users in FILE and their roles."""
    from batchverify.web.users import Users

    for user in Users.load(file).all():
        click.echo(f"{user.name}\t{'admin' if user.admin else 'user'}")
