"""``batchverify serve``'s options: the upload page's command, beside ``run`` in ``batchverify.cli``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from batchverify.cliopts import checked_endpoint
from batchverify.models import DEFAULT_ENDPOINT

log = logging.getLogger("batchverify")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Uploads, checkpoints, results and job records [default: ~/.local/share/batchverify/serve].",
)
@click.option(
    "--endpoint", envvar="BATCHVERIFY_ENDPOINT", help=f"API endpoint URL [default: {DEFAULT_ENDPOINT}]."
)
@click.option("--simulator", is_flag=True, help="Send to the built-in simulator (demo keys, nothing billed).")
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1, max=1000),
    default=20.0,
    show_default=True,
    help="Requests per second for all jobs together.",
)
@click.option(
    "--max-upload-mb",
    type=click.FloatRange(min=0.001, max=10_000),
    default=100.0,
    show_default=True,
    help="Largest upload accepted (MB).",
)
@click.option(
    "--keep",
    default="30d",
    show_default=True,
    help="Delete a job's files this long after its last change (0: never).",
)
@click.option("--profile", help="Section of ~/.tencentcloud/credentials to use.")
@click.option(
    "--rate-store",
    envvar="BATCHVERIFY_RATE_STORE",
    help="Where processes sharing the account keep its send log: host (default), memory, or redis://HOST:PORT/DB.",
)
@click.option("--language", help="zh-CN or en for a browser that asks for neither [default: the locale's].")
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    endpoint: str | None,
    simulator: bool,
    rate: float,
    max_upload_mb: float,
    keep: str,
    profile: str | None,
    rate_store: str | None,
    language: str | None,
) -> None:
    """Serve the upload page and its JSON API: upload a list, check the plan, start, download."""
    endpoint = checked_endpoint(simulator, endpoint, rate)
    from batchverify.api import language_of
    from batchverify.core.timeutil import parse_duration
    from batchverify.web.server import ServeOptions, default_data_dir
    from batchverify.web.server import serve as run_server

    kept = None if keep.strip().lower() in ("0", "never") else parse_duration(keep)
    options = ServeOptions(
        host=host,
        port=port,
        data_dir=data_dir or default_data_dir(),
        endpoint=endpoint,
        simulator=simulator,
        rate=rate,
        max_upload_mb=max_upload_mb,
        keep=kept or None,  # 0 (or 0d): never delete
        profile=profile,
        rate_store=rate_store,
        language=language_of(language),
    )
    sys.exit(run_server(options))
