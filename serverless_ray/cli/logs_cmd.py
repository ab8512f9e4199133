"""``logs``: an endpoint's log group, printed from the platform's CloudWatch Logs API
(what ``aws logs tail`` does against AWS)."""

from __future__ import annotations

import time

import click

from serverless_ray.cli.errors import usage_error
from serverless_ray.cli.shared import platform_client, url_option


@click.command()
@click.argument("endpoint", metavar="ENDPOINT")
@url_option
@click.option("--since", default="10m", show_default=True, metavar="WHEN",
              help="From this long ago (30s, 10m, 2h, 1d, 1w) or this ISO 8601 time.")
@click.option("--filter", "pattern", default=None, metavar="PATTERN",
              help='CloudWatch filter pattern: terms, "quoted phrases", ?alternatives, -exclusions.')
@click.option("--follow", is_flag=True, help="Keep printing new events until Ctrl-C.")
def logs(endpoint: str, url: str, since: str, pattern: str | None, follow: bool) -> None:
    """Print ENDPOINT's log group (/aws/sagemaker/Endpoints/ENDPOINT) from a running platform."""
    from serverless_ray.logs.tail import LogTail, SinceError, format_event, since_ms

    try:
        start = since_ms(since, time.time())
    except SinceError as exc:
        raise usage_error(str(exc)) from None
    tail = LogTail(platform_client("logs", url), endpoint, start, pattern)
    try:
        for event in tail.follow() if follow else iter(tail.poll()):
            click.echo(format_event(event))
    except KeyboardInterrupt:
        pass  # how --follow is meant to end
