"""``batchverify serve``: the upload page's command. Its jobs' options are one ``Options`` value, the
same the command line's ``run`` and the Python API fill."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from batchverify.cli import flags
from batchverify.cli.lines import use_format
from batchverify.engine.options import Options

log = logging.getLogger("batchverify")


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="BATCHVERIFY_HOST",
    show_envvar=True,
    help="Address to listen on.",
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8000,
    show_default=True,
    envvar="BATCHVERIFY_PORT",
    show_envvar=True,
    help="Port to listen on (0: a free one, printed).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="BATCHVERIFY_DATA_DIR",
    show_envvar=True,
    help="Uploads, checkpoints, results and job records [default: ~/.local/share/batchverify/serve].",
)
@flags.where_options("Requests per second for all jobs together (0.1 to 1000).", simulator_env=True)
@flags.answers_options()
@click.option(
    "--max-upload-mb",
    type=click.FloatRange(min=0.001, max=10_000),
    envvar="BATCHVERIFY_MAX_UPLOAD_MB",
    show_envvar=True,
    default=100.0,
    show_default=True,
    help="Largest upload accepted (MB).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxy",
    multiple=True,
    envvar="BATCHVERIFY_TRUSTED_PROXY",
    show_envvar=True,
    metavar="ADDR",
    help="The reverse proxy's address (repeat for more): requests from it are counted by the client "
    "its X-Forwarded-For names (login brake, limits per address).",
)
@click.option(
    "--notify",
    metavar="URL",
    envvar="BATCHVERIFY_NOTIFY",
    show_envvar=True,
    help="POST each job's summary JSON here when its run ends, signed with BATCHVERIFY_NOTIFY_SECRET "
    "[default: BATCHVERIFY_NOTIFY].",
)
@click.option(
    "--metrics-public",
    is_flag=True,
    envvar="BATCHVERIFY_METRICS_PUBLIC",
    show_envvar=True,
    help="Serve GET /metrics without the token (a scraper inside the network).",
)
@click.option(
    "--users",
    "users_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="BATCHVERIFY_USERS",
    show_envvar=True,
    help="Who may log in, each seeing their own jobs (admins: every job); made by "
    "batchverify users add. Without it, everyone with the token sees every job.",
)
@click.option(
    "--price",
    type=float,
    envvar="BATCHVERIFY_PRICE",
    show_envvar=True,
    help="Price of one billable answer: the page shows money beside counts.",
)
@flags.log_format_option()
@click.option(
    "--keep",
    default="30d",
    envvar="BATCHVERIFY_KEEP",
    show_envvar=True,
    show_default=True,
    help="Delete a job's files this long after its last change (0: never).",
)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    endpoint: str | None,
    simulator: bool,
    simulator_night: int,
    rate: float,
    max_upload_mb: float,
    trusted_proxy: tuple[str, ...],
    notify: str | None,
    metrics_public: bool,
    users_file: Path | None,
    price: float | None,
    log_format: str,
    keep: str,
    profile: str | None,
    rate_store: str | None,
    language: str | None,
    answers: str | None,
    answers_keep: str,
) -> None:
    """Serve the upload page and its JSON API: upload a list, check the plan, start, download.

    The token every API client and login needs is BATCHVERIFY_TOKEN (at least 32 characters);
    without it a token is generated and shown once. Every option can also come from the
    environment variable shown beside it (a systemd EnvironmentFile, a container's environment).
    """
    use_format(log_format)
    endpoint = flags.endpoint_given(simulator, endpoint)
    job = Options(
        endpoint=endpoint,
        simulator=simulator,
        simulator_night=simulator_night,
        rate=rate,
        profile=profile,
        rate_store=rate_store,
        language=language,
        answers=answers,
        answers_keep=answers_keep,  # type: ignore[arg-type]  # text, checked and parsed by Options
        price=price,
    )
    flags.warn_rate(simulator, job.rate)
    from batchverify.build import language_of
    from batchverify.core.timeutil import parse_duration
    from batchverify.web.server import ServeOptions, default_data_dir
    from batchverify.web.server import serve as run_server

    kept = None if keep.strip().lower() in ("0", "never") else parse_duration(keep)
    options = ServeOptions(
        host=host,
        port=port,
        data_dir=data_dir or default_data_dir(),
        job=job.replace(language=language_of(job)),
        max_upload_mb=max_upload_mb,
        keep=kept or None,  # 0 (or 0d): never delete
        trusted_proxies=trusted_proxy,
        notify=notify,
        metrics_public=metrics_public,
        users_file=users_file,
        log_format=log_format,
    )
    sys.exit(run_server(options))
