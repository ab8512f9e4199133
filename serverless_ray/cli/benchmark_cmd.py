"""``benchmark``: which memory size and concurrency to pick, measured on the running
platform (see :mod:`serverless_ray.benchmark`)."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from serverless_ray.cli.shared import admin_client, platform_client, url_option
from serverless_ray.cli.errors import INTERRUPTED, CliError, usage_error
from serverless_ray.cli.render import usd
from serverless_ray.cli.terminal import terminal


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int]:
    if value is None or not value.strip():
        return []
    try:
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give whole numbers separated by commas, e.g. 1024,2048") from None


@click.command()
@click.option("--model-name", default=None, help="An existing model to benchmark.")
@click.option("--model-data", default=None, metavar="URL",
              help="Model data (s3://, file://, a path) to create a model from (deleted afterwards).")
@click.option("--image", default="serverless-ray/benchmark", show_default=True, help="Image named in that model.")
@click.option("--requests", "requests_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help='Example requests: JSON Lines of {"Body": ..., "ContentType": ...} (AWS\'s toolkit format).')
@click.option("--memory-sizes", default="1024,2048,3072,4096,5120,6144", show_default=True, callback=_int_list,
              help="MemorySizeInMB values to sweep.")
@click.option("--max-concurrency", default="1", show_default=True, callback=_int_list,
              help="MaxConcurrency values to sweep.")
@click.option("--concurrency", default="1", show_default=True, callback=_int_list,
              help="Concurrent clients to sweep.")
@click.option("--provisioned", default="", callback=_int_list,
              help="ProvisionedConcurrency levels to run as scenarios too (e.g. 1,2).")
@click.option("--invocations", default=100, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Warm calls measured per configuration.")
@click.option("--cold-starts", default=3, show_default=True, type=click.IntRange(0, 1000),
              help="Rounds of scale-to-zero and first calls per configuration.")
@click.option("--slo-p99-ms", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Recommend the cheapest configuration whose warm p99 is within this.")
@click.option("--requests-per-month", default=1_000_000, show_default=True, type=click.IntRange(0),
              help="Traffic the monthly costs are computed for.")
@click.option("--prices", "prices_file", default=None, type=click.Path(path_type=Path, dir_okay=False),
              help="Price the results with this table instead of the platform's.")
@click.option("--output", default=None, type=click.Path(path_type=Path, file_okay=False),
              help="Directory for results.csv, results.json and report.html (default ./benchmark-<run id>).")
@url_option
def benchmark(model_name, model_data, image, requests_file, memory_sizes, max_concurrency, concurrency,
              provisioned, invocations, cold_starts, slo_p99_ms, requests_per_month, prices_file, output, url):
    """Measure latency, cold starts and cost per memory size and concurrency, and
    recommend the cheapest configuration that meets --slo-p99-ms.

    Creates one endpoint per configuration on the running platform and deletes all it
    created at the end, also when interrupted (Ctrl-C).
    """
    from serverless_ray.benchmark.analysis import recommend, result_row
    from serverless_ray.benchmark.plan import sweep
    from serverless_ray.benchmark.report import write_reports
    from serverless_ray.benchmark.requests import RequestsFileError, load_requests
    from serverless_ray.benchmark.runner import BenchmarkError, BenchmarkRunner, BenchmarkSpec
    from serverless_ray.billing.prices import PriceTable

    if bool(model_name) == bool(model_data):
        raise usage_error("give either --model-name (an existing model) or --model-data (to create one)")
    try:
        requests = load_requests(requests_file)
        scenarios = sweep(memory_sizes, max_concurrency, concurrency, provisioned)
    except RequestsFileError as exc:
        raise usage_error(str(exc), code="InvalidRequestsFile") from None
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    admin = admin_client(url)
    prices = PriceTable.load(prices_file) if prices_file else PriceTable.model_validate(
        admin.call("GetCostAndUsage", SinceSeconds=60)["PriceTable"])
    clients = max(concurrency) + 2
    progress = RichProgress()
    runner = BenchmarkRunner(
        platform_client("sagemaker", url), platform_client("sagemaker-runtime", url, max_pool_connections=clients),
        admin, BenchmarkSpec(requests=requests, invocations=invocations, cold_starts=cold_starts,
                             model_name=model_name, model_data=model_data, image=image),
        progress=progress,
    )
    output = output or Path(f"benchmark-{runner.run_id}")
    run = {"run_id": runner.run_id, "url": url, "model": model_name or model_data, "requests_file": str(requests_file),
           "invocations": invocations, "cold_starts": cold_starts, "slo_p99_ms": slo_p99_ms,
           "requests_per_month": requests_per_month, "started_at": datetime.now(timezone.utc).isoformat()}
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        with progress:
            results = runner.run(scenarios)
    except BenchmarkError as exc:
        raise CliError("BenchmarkFailed", str(exc)) from None
    except KeyboardInterrupt:
        left = runner.leftovers()
        raise CliError("Interrupted", "stopped by Ctrl-C; " + (
            f"could not delete {', '.join(left)}" if left else "everything the benchmark created was deleted"),
            INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    if runner.leftovers():
        terminal().err.print(f"[yellow]Could not delete (the platform stopped answering): "
                             f"{', '.join(runner.leftovers())}[/]")
    rows = [result_row(r, prices, requests_per_month, slo_p99_ms) for r in results]
    best = recommend(rows)
    run["duration_s"] = round(time.monotonic() - started, 1)
    paths = write_reports(output, rows, results, best, prices=prices, run=run)
    _print_table(rows, best, slo_p99_ms, requests_per_month)
    terminal().out.print(f"Wrote {', '.join(str(p) for p in paths.values())}")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _print_table(rows, best, slo_p99_ms, requests_per_month) -> None:
    from serverless_ray.benchmark.report import row_label

    table = Table(header_style="bold", title="Benchmark results (warm latency; cold = first call after scale to zero)",
                  title_justify="left")
    for column in ("configuration", "p50 ms", "p99 ms", "max ms", "calls/s", "errors", "throttles", "cold p50 ms",
                   "per 1M", f"month @ {requests_per_month:,}", "objective"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for r in rows:
        table.add_row(
            ("★ " if r["recommended"] else "") + row_label(r), _ms(r["p50_ms"]), _ms(r["p99_ms"]), _ms(r["max_ms"]),
            _ms(r["throughput_rps"]), f"{r['error_rate']:.0%}", f"{r['throttle_rate']:.0%}", _ms(r["cold_p50_ms"]),
            usd(r["cost_per_1m_invocations_usd"]), usd(r["monthly_cost_usd"]),
            "failed" if r["failure"] else ("met" if r["meets_slo"] else "missed"),
            style="bold green" if r["recommended"] else None,
        )
    out = terminal().out
    out.print(table)
    if best:
        out.print(f"Recommended: [bold]{row_label(best)}[/] (warm p99 {_ms(best['p99_ms'])} ms"
                  f"{f' within {slo_p99_ms:g} ms' if slo_p99_ms else ''}, {usd(best['monthly_cost_usd'])} a month).")
    else:
        out.print("[yellow]No configuration met the objective with every call answered.[/]")


def _ms(value) -> str:
    return "-" if value is None else f"{value:,.1f}"


class RichProgress:
    """The runner's progress as a bar per configuration and a line for the phase."""

    def __init__(self) -> None:
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=terminal().out, transient=False)
        self._overall = None
        self._phase = None
        self._label = ""  # the configuration the phase line is about

    def __enter__(self) -> "RichProgress":
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def scenario(self, index: int, total: int, scenario) -> None:
        if self._overall is None:
            self._overall = self._bar.add_task("configurations", total=total)
        self._bar.update(self._overall, completed=index - 1, description=f"configuration {index}/{total}")
        if self._phase is not None:
            self._bar.remove_task(self._phase)
        self._label = scenario.label
        self._phase = self._bar.add_task(scenario.label, total=None)

    def phase(self, text: str, done: int = 0, total: int | None = None) -> None:
        if self._phase is not None:
            self._bar.update(self._phase, description=f"{self._label}: {text}", completed=done, total=total)

    def advance(self, done: int) -> None:
        if self._phase is not None:
            self._bar.update(self._phase, completed=done)
