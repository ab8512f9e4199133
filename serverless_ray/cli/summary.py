"""What ``up`` prints once the platform runs: where it is, how it authenticates, its
endpoints and how to call them."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from serverless_ray.billing.prices import PriceTable


def authentication_mode(settings) -> str:
    """How the platform checks callers, and who can reach it."""
    from serverless_ray.settings import is_loopback

    reach = "loopback only" if is_loopback(settings.host) else f"{settings.host} (beyond this machine)"
    transport = "HTTPS" if settings.tls_cert else "HTTP"
    if settings.credentials is None:
        return f"none: requests are not authenticated (any AWS credentials work); {transport} on {reach}"
    principals = len(settings.credentials.principals)
    return (f"SigV4 with the {principals} principal{'s' if principals != 1 else ''} of {settings.credentials_file} "
            f"(IAM policies checked); {transport} on {reach}")


def ray_address() -> str:
    """The GCS address of the Ray cluster the platform runs on (what `down --address` takes)."""
    import ray

    return ray.get_runtime_context().gcs_address


def print_summary(console: Console, platform, prices: PriceTable, log_path: Path) -> None:
    from serverless_ray.declarative.clients import in_cluster_access, pages, platform_client

    url, settings = platform.url, platform.settings
    sm = platform_client("sagemaker", url, in_cluster_access(settings))
    endpoints = pages(sm.list_endpoints, "Endpoints", MaxResults=100)
    console.print(f"[bold green]serverless-ray is up[/] at [bold]{url}[/]")
    console.print(f"  authentication  {authentication_mode(settings)}")
    console.print(f"  state           {settings.state_dir}")
    console.print(f"  log             {log_path}")
    console.print(f"  prices          {prices.region}, {prices.currency}, as of {prices.as_of}")
    console.print(f"  ray             {ray_address()} (stop from another shell: serverless-ray down --address "
                  f"{ray_address()})")
    if endpoints:
        table = Table(show_edge=False, box=None, padding=(0, 2), header_style="bold")
        for column in ("endpoint", "status", "created"):
            table.add_column(column)
        for e in sorted(endpoints, key=lambda e: e["EndpointName"]):
            table.add_row(e["EndpointName"], e["EndpointStatus"], f"{e['CreationTime']:%Y-%m-%d %H:%M}")
        console.print("  endpoints")
        console.print(table)
        name = sorted(e["EndpointName"] for e in endpoints)[0]
    else:
        console.print("  endpoints       none yet (create them with boto3, the AWS CLI or `serverless-ray apply FILE`)")
        name = "NAME"
    console.print("  call one" + (" (signed with your keys: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile)"
                                  if settings.credentials is not None else ""))
    console.print(f"    serverless-ray invoke {name} --body '{{\"inputs\": [[1, 2, 3]]}}' --url {url}")
    if settings.credentials is None:  # curl does not sign
        console.print(f"    curl -X POST {url}/endpoints/{name}/invocations -H 'Content-Type: application/json' "
                      "-d '{\"inputs\": [[1, 2, 3]]}'")
    console.print(f"    aws sagemaker-runtime invoke-endpoint --endpoint-url {url} --endpoint-name {name} "
                  "--content-type application/json --body '{\"inputs\": [[1, 2, 3]]}' "
                  "--cli-binary-format raw-in-base64-out /dev/stdout")
    console.print("Ready. Press Ctrl-C to stop.")
