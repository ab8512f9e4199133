"""What the commands share: the platform's URL and JSON output options, and its clients."""

from __future__ import annotations

import os
from typing import Callable

import click

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "SERVERLESS_RAY_URL"

# The platform URL of the command running now, for error messages ("nothing answers at ...").
current_url: list[str] = []


def _remember_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    url = value.rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    current_url[:] = [url]
    return url


def url_option(command: Callable) -> Callable:
    """``--url``: the running platform (default $SERVERLESS_RAY_URL, else 127.0.0.1:8080)."""
    return click.option(
        "--url", default=lambda: os.environ.get(URL_ENV, DEFAULT_URL), show_default=DEFAULT_URL,
        callback=_remember_url, expose_value=True, is_eager=True,
        help=f"The platform's address (or set {URL_ENV}).",
    )(command)


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)


def platform_client(service: str, url: str, **options):
    """A boto3 ``service`` client of the platform at ``url``, signed as ``apply`` signs:
    with boto3's standard credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    AWS_PROFILE, ...), anonymous keys if it finds none; AWS_CA_BUNDLE verifies HTTPS."""
    from serverless_ray.declarative.clients import platform_client as client, standard_access

    return client(service, url, standard_access(), **options)


def admin_client(url: str):
    """A client of the platform's own operations, signed as :func:`platform_client` signs."""
    from serverless_ray.admin_client import AdminClient

    return AdminClient(url)
