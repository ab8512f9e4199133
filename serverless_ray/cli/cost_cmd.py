"""``cost``: what the metered usage costs, per endpoint and variant, at the platform's
price table (``up --prices FILE``; default SageMaker's published us-east-1 rates)."""

from __future__ import annotations

import click
from rich.table import Table

from serverless_ray.cli.shared import admin_client, json_option, url_option
from serverless_ray.cli.render import parse_duration, print_json, usd
from serverless_ray.cli.terminal import terminal

# Bill components, their column, and the metered quantity each prices.
COMPONENTS = (("compute", "compute", "OnDemandGbSeconds"), ("provisioned_compute", "compute on PC",
              "ProvisionedComputeGbSeconds"), ("data_processing", "data", "ProcessedBytes"),
              ("provisioned_concurrency", "PC kept", "ProvisionedGbSeconds"))


@click.command()
@click.option("--since", default=None, metavar="DURATION",
              help="Only the last DURATION (90s, 15m, 1h, 2d; whole minutes). Default: everything metered.")
@click.option("--endpoint", default=None, metavar="NAME", help="Only this endpoint.")
@url_option
@json_option
def cost(since: str | None, endpoint: str | None, url: str, as_json: bool) -> None:
    """Metered usage and its cost, as SageMaker bills serverless endpoints."""
    payload = {}
    if since is not None:
        payload["SinceSeconds"] = parse_duration(since)
    if endpoint is not None:
        payload["EndpointName"] = endpoint
    report = admin_client(url).call("GetCostAndUsage", **payload)
    report.pop("ResponseMetadata", None)
    if as_json:
        print_json(report)
        return
    unpriced = set(report["UnpricedComponents"])
    prices = report["PriceTable"]
    table = Table(header_style="bold", title=_title(since, prices), title_justify="left")
    for column in ("endpoint", "variant", "invocations", "GB-s", "of which on PC", "MB processed", "PC GB-s kept"):
        table.add_column(column, justify="left" if column in ("endpoint", "variant") else "right")
    for _, label, _ in COMPONENTS:
        table.add_column(label, justify="right")
    table.add_column("total", justify="right", style="bold")
    items = [*report["Usage"], {"EndpointName": "total", "VariantName": "", **report["Total"]}]
    for item in items:
        item["OnDemandGbSeconds"] = item["BilledGbSeconds"] - item["ProvisionedComputeGbSeconds"]
        table.add_row(
            item["EndpointName"], item["VariantName"], str(item["Invocations"]), f"{item['BilledGbSeconds']:.3f}",
            f"{item['ProvisionedComputeGbSeconds']:.3f}", f"{item['ProcessedBytes'] / 1e6:.3f}",
            f"{item['ProvisionedGbSeconds']:.1f}",
            *(usd(None if key in unpriced and item[quantity] > 0 else item["CostUsd"][key])
              for key, _, quantity in COMPONENTS),
            usd(item["TotalCostUsd"]), end_section=item is items[-2],
        )
    out = terminal().out
    out.print(table)
    if unpriced:
        out.print(f"[dim]Not priced (the price table has no rate): {', '.join(sorted(unpriced))}; the usage is "
                  "metered all the same, and `serverless-ray up --prices FILE` sets rates.[/]")
    out.print(f"[dim]Prices: {prices['source']}[/]")


def _title(since: str | None, prices: dict) -> str:
    span = f"last {since}" if since else "since the state directory was created"
    return f"Cost and usage, {span} ({prices['region']}, {prices['currency']}, prices as of {prices['as_of']})"
