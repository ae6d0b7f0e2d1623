"""The command line (``batchverify run | serve | simulate``): a front end that fills an ``Options``
value from flags, shows progress on a terminal or as log lines, and maps outcomes to exit codes."""

from batchverify.cli.main import cli, main

__all__ = ["cli", "main"]
