"""``endpoints``, ``describe``, ``invoke`` and ``delete``: endpoints of a running platform,
through the same SageMaker API boto3 users call."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from serverless_ray.cli.shared import admin_client, json_option, platform_client, url_option
from serverless_ray.cli.errors import CliError, usage_error
from serverless_ray.cli.render import print_json, usd
from serverless_ray.cli.terminal import terminal

DELETE_WAIT_S = 300.0


@click.command()
@url_option
@json_option
def endpoints(url: str, as_json: bool) -> None:
    """List the endpoints: status, memory, concurrency, replicas, invocations, cost so far."""
    from serverless_ray.declarative.clients import pages

    sm, admin = platform_client("sagemaker", url), admin_client(url)
    rows = []
    capacity = {(c["EndpointName"], c["VariantName"]): c
                for c in admin.call("ListEndpointCapacity")["Endpoints"]}
    usage = {(u["EndpointName"], u["VariantName"]): u for u in admin.call("GetCostAndUsage")["Usage"]}
    for summary in sorted(pages(sm.list_endpoints, "Endpoints", MaxResults=100), key=lambda e: e["EndpointName"]):
        described = sm.describe_endpoint(EndpointName=summary["EndpointName"])
        for variant in described.get("ProductionVariants") or [{"VariantName": "-"}]:
            key = (described["EndpointName"], variant["VariantName"])
            config = variant.get("CurrentServerlessConfig") or {}
            used = usage.get(key, {})
            rows.append({
                "EndpointName": key[0], "VariantName": key[1], "Status": described["EndpointStatus"],
                "MemorySizeInMB": config.get("MemorySizeInMB"), "MaxConcurrency": config.get("MaxConcurrency"),
                "ProvisionedConcurrency": config.get("ProvisionedConcurrency", 0) if config else None,
                "InstanceType": variant.get("InstanceType") or None,
                "Replicas": capacity.get(key, {}).get("RunningReplicas"),
                "Invocations": used.get("Invocations", 0), "CostUsd": used.get("TotalCostUsd", 0.0),
            })
    if as_json:
        print_json({"Endpoints": rows})
        return
    if not rows:
        terminal().out.print("No endpoints yet.")
        return
    table = Table(header_style="bold")
    for column, justify in (("endpoint", "left"), ("variant", "left"), ("status", "left"), ("memory MB", "right"),
                            ("max conc.", "right"), ("provisioned", "right"), ("replicas", "right"),
                            ("invocations", "right"), ("cost so far", "right")):
        table.add_column(column, justify=justify)
    for r in rows:
        table.add_row(r["EndpointName"], r["VariantName"], _status(r["Status"]),
                      str(r["MemorySizeInMB"] or r["InstanceType"] or "-"), _dash(r["MaxConcurrency"]),
                      _dash(r["ProvisionedConcurrency"]), _dash(r["Replicas"]), str(r["Invocations"]),
                      usd(r["CostUsd"]))
    terminal().out.print(table)


@click.command()
@click.argument("name")
@url_option
@json_option
def describe(name: str, url: str, as_json: bool) -> None:
    """Describe endpoint NAME (DescribeEndpoint)."""
    described = platform_client("sagemaker", url).describe_endpoint(EndpointName=name)
    described.pop("ResponseMetadata", None)
    if as_json:
        print_json(described)
        return
    out = terminal().out
    out.print(f"[bold]{described['EndpointName']}[/]  {_status(described['EndpointStatus'])}")
    for label, key in (("arn", "EndpointArn"), ("config", "EndpointConfigName"), ("created", "CreationTime"),
                       ("modified", "LastModifiedTime"), ("failure", "FailureReason")):
        if described.get(key):
            out.print(f"  {label:<9} {described[key]}")
    for variant in described.get("ProductionVariants") or []:
        config = variant.get("CurrentServerlessConfig")
        shape = (f"serverless {config['MemorySizeInMB']} MB, MaxConcurrency {config['MaxConcurrency']}, "
                 f"ProvisionedConcurrency {config.get('ProvisionedConcurrency', 0)}" if config else
                 f"{variant.get('CurrentInstanceCount')} x {variant.get('InstanceType', 'instance')}")
        out.print(f"  variant   {variant['VariantName']}: {shape}")
        for status in variant.get("VariantStatus") or []:
            out.print(f"            {status.get('Status')}: {status.get('StatusMessage', '')}")


@click.command()
@click.argument("name")
@click.option("--body", required=True, metavar="JSON|@FILE",
              help="The request body: text (JSON by default), or @path to send a file's bytes.")
@click.option("--content-type", default="application/json", show_default=True)
@click.option("--accept", default=None, help="The Accept header (default: the model's choice).")
@click.option("--custom-attributes", default=None, help="X-Amzn-SageMaker-Custom-Attributes.")
@click.option("--target-variant", default=None, help="The production variant to call.")
@click.option("--stream", is_flag=True, help="Use InvokeEndpointWithResponseStream and print parts as they come.")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the response body to this file instead of stdout.")
@url_option
def invoke(name: str, body: str, content_type: str, accept: str | None, custom_attributes: str | None,
           target_variant: str | None, stream: bool, output: Path | None, url: str) -> None:
    """Invoke endpoint NAME (InvokeEndpoint) and print the response body."""
    payload = _request_body(body, content_type)
    kwargs: dict[str, Any] = {"EndpointName": name, "Body": payload, "ContentType": content_type}
    for key, value in (("Accept", accept), ("CustomAttributes", custom_attributes),
                       ("TargetVariant", target_variant)):
        if value is not None:
            kwargs[key] = value
    runtime = platform_client("sagemaker-runtime", url)
    sink = output.open("wb") if output else sys.stdout.buffer
    try:
        if stream:
            # InvokeEndpointWithResponseStream: parts are written as they arrive.
            reply = runtime.invoke_endpoint_with_response_stream(**kwargs)
            for event in reply["Body"]:
                if "PayloadPart" in event:
                    sink.write(event["PayloadPart"]["Bytes"])
                    sink.flush()
                elif event:
                    kind, detail = next(iter(event.items()))
                    raise CliError(kind, detail.get("Message", str(detail)))
        else:
            reply = runtime.invoke_endpoint(**kwargs)
            sink.write(reply["Body"].read())
    finally:
        if output:
            sink.close()
        elif sink.isatty():
            sink.write(b"\n")  # the shell's prompt on a line of its own
            sink.flush()
    if output:
        terminal().err.print(f"{reply.get('ContentType', '')} written to {output} "
                             f"(variant {reply.get('InvokedProductionVariant', '?')})")


def _request_body(body: str, content_type: str) -> bytes:
    if body.startswith("@"):
        path = Path(body[1:])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise usage_error(f"--body {body}: cannot read {path}: {exc.strerror}") from None
    else:
        data = body.encode()
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            json.loads(data)
        except ValueError as exc:
            raise usage_error(f"--body is not valid JSON ({exc}); pass another --content-type to send it as it is",
                              code="InvalidJson") from None
    return data


@click.command()
@click.argument("name")
@click.option("--no-wait", is_flag=True, help="Return once the deletion started.")
@url_option
def delete(name: str, no_wait: bool, url: str) -> None:
    """Delete endpoint NAME (its endpoint config and model stay)."""
    from botocore.exceptions import ClientError

    sm = platform_client("sagemaker", url)
    sm.delete_endpoint(EndpointName=name)
    if not no_wait:
        deadline = time.monotonic() + DELETE_WAIT_S
        with terminal().out.status(f"Deleting {name}…"):
            while time.monotonic() < deadline:
                try:
                    sm.describe_endpoint(EndpointName=name)
                except ClientError:
                    break
                time.sleep(0.25)
            else:
                raise CliError("Timeout", f"endpoint {name} was still being deleted after {DELETE_WAIT_S:.0f} s")
    terminal().out.print(f"Deleted endpoint {name}." if not no_wait else f"Deleting endpoint {name}.")


def _status(status: str) -> str:
    colour = {"InService": "green", "Failed": "red", "Creating": "yellow", "Updating": "yellow",
              "Deleting": "yellow"}.get(status, "white")
    return f"[{colour}]{status}[/]"


def _dash(value) -> str:
    return "-" if value is None else str(value)
