"""The benchmark's three files: ``results.csv`` (one row per configuration),
``results.json`` (the same rows with their samples, the recommendation and how the run
was made) and ``report.html`` (self-contained: tables and inline SVG charts, nothing
fetched from anywhere)."""

from __future__ import annotations

import csv
import json
import re
from html import escape
from pathlib import Path
from typing import Any, Sequence

from serverless_ray.benchmark import svg
from serverless_ray.benchmark.analysis import FIELDS, ScenarioResult
from serverless_ray.billing.prices import PriceTable


def row_label(row: dict[str, Any]) -> str:
    pc = f" PC{row['provisioned_concurrency']}" if row["provisioned_concurrency"] else ""
    return f"{row['memory_size_mb']}MB c{row['max_concurrency']} k{row['client_concurrency']}{pc}"


def write_reports(
    directory: Path, rows: list[dict[str, Any]], results: Sequence[ScenarioResult], recommended: dict | None,
    *, prices: PriceTable, run: dict[str, Any],
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("results.csv", "results.json", "report.html")}
    with paths["results.csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: ("" if row[k] is None else row[k]) for k in FIELDS} for row in rows)
    document = {
        "run": run,
        "prices": prices.model_dump(mode="json"),
        "recommendation": recommended,
        "results": [
            {**row, "samples": {"warm_latency_ms": r.warm_latencies_ms,
                                "cold_start_latency_ms": r.after_idle_latencies_ms,
                                "model_setup_time_ms": r.model_setup_ms}}
            for row, r in zip(rows, results)
        ],
    }
    paths["results.json"].write_text(json.dumps(document, indent=2))
    paths["report.html"].write_text(html_report(rows, results, recommended, prices=prices, run=run))
    return paths


def _text(text: str) -> str:
    """``text`` for the page, addresses without their scheme: the report links to nothing."""
    return escape(re.sub(r"https?://", "", text))


def _cell(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return escape(str(value))


def _usd(value: float | None) -> str:
    if value is None:
        return "not priced"
    return f"${value:,.6f}" if value < 1 else f"${value:,.2f}"


def html_report(rows: list[dict[str, Any]], results: Sequence[ScenarioResult], recommended: dict | None,
                *, prices: PriceTable, run: dict[str, Any]) -> str:
    labels = [row_label(r) for r in rows]
    slo = run.get("slo_p99_ms")
    latency = svg.bar_chart(
        "Warm latency by memory size", labels,
        {"p50": [r["p50_ms"] for r in rows], "p90": [r["p90_ms"] for r in rows], "p99": [r["p99_ms"] for r in rows],
         "cold start p50": [r["cold_p50_ms"] for r in rows]},
        "milliseconds",
    )
    priced = [(r["p99_ms"], r["cost_per_1m_invocations_usd"], row_label(r), bool(r["recommended"]))
              for r in rows if r["p99_ms"] is not None and r["cost_per_1m_invocations_usd"] is not None]
    cost = svg.scatter("Cost per 1M invocations against warm p99 latency", priced, "warm p99 latency (ms)",
                       "USD per 1M invocations", x_line=slo, x_line_label=f"objective {slo} ms" if slo else "")
    distribution = svg.strip_chart(
        "Cold start against warm: every call", [
            (row_label(row), {"warm": r.warm_latencies_ms, "cold start (end to end)": r.after_idle_latencies_ms,
                              "ModelSetupTime": r.model_setup_ms})
            for row, r in zip(rows, results)
        ], "milliseconds (log scale)",
    )
    if recommended:
        verdict = (f"<p class='verdict'>Recommended: <b>{escape(row_label(recommended))}</b> — warm p99 "
                   f"{_cell(recommended['p99_ms'])} ms, {_usd(recommended['cost_per_1m_invocations_usd'])} per 1M "
                   f"invocations, {_usd(recommended['monthly_cost_usd'])} a month at "
                   f"{run['requests_per_month']:,} requests.</p>")
    else:
        verdict = ("<p class='verdict'>No configuration met the objective with every call answered "
                   "(and a priced monthly cost).</p>")
    columns = [("configuration", None), ("p50 ms", "p50_ms"), ("p90 ms", "p90_ms"), ("p99 ms", "p99_ms"),
               ("max ms", "max_ms"), ("calls/s", "throughput_rps"), ("errors", "error_rate"),
               ("throttles", "throttle_rate"), ("cold p50 ms", "cold_p50_ms"), ("cold p99 ms", "cold_p99_ms"),
               ("setup p50 ms", "model_setup_p50_ms"), ("per 1M", "cost_per_1m_invocations_usd"),
               ("month w/o PC", "monthly_cost_without_pc_usd"), ("month with PC", "monthly_cost_with_pc_usd"),
               ("meets objective", "meets_slo")]
    head = "".join(f"<th>{escape(name)}</th>" for name, _ in columns)
    body = []
    for row in rows:
        cells = []
        for _, key in columns:
            if key is None:
                cells.append(f"<td>{escape(row_label(row))}</td>")
            elif key.endswith("_usd"):
                cells.append(f"<td>{_usd(row[key]) if not (key.endswith('with_pc_usd') and not row['provisioned_concurrency']) else '–'}</td>")
            elif key.endswith("_rate"):
                cells.append(f"<td>{row[key] * 100:.1f}%</td>" if row[key] is not None else "<td>–</td>")
            else:
                cells.append(f"<td>{_cell(row[key])}</td>")
        style = " class='recommended'" if row["recommended"] else ""
        failure = f"<tr><td colspan='{len(columns)}' class='failure'>{escape(row['failure'])}</td></tr>" \
            if row["failure"] else ""
        body.append(f"<tr{style}>{''.join(cells)}</tr>{failure}")
    unpriced = ", ".join(c.value for c in prices.unpriced()) or "none"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>serverless-ray benchmark {escape(run.get('run_id', ''))}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 12px 0; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child {{ text-align: left; white-space: nowrap; }}
tr.recommended td {{ background: #e7f5e4; font-weight: bold; }}
td.failure {{ color: #b00; text-align: left; }}
.verdict {{ font-size: 16px; padding: 8px 12px; background: #f6f8fa; border-left: 4px solid #54A24B; }}
.note {{ color: #555; font-size: 13px; }} figure {{ margin: 16px 0; }}
</style></head><body>
<h1>Which size to pick</h1>
<p class="note">Model {escape(str(run.get('model')))}; {run.get('invocations')} warm calls and {run.get('cold_starts')}
rounds of cold starts per configuration; requests from {escape(str(run.get('requests_file')))};
platform {escape(str(run.get('url')))}; {escape(str(run.get('started_at')))}.
Objective: warm p99 ≤ {escape(str(slo)) + ' ms' if slo else '(none given)'}, every call answered.</p>
{verdict}
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<p class="note">Latency is end to end at the client. Cold starts are the first calls after the endpoint was
scaled to zero (with provisioned concurrency: after its on-demand capacity was released), ModelSetupTime
what the platform measured for the replicas they waited for. Cost is what the platform's cost meter billed
(inference duration in milliseconds × memory, cold starts included, plus data processed), priced at
{escape(prices.region)} rates as of {escape(prices.as_of)}; a month is 730 hours, and the cost with provisioned
concurrency assumes the traffic fits within it. Not priced: {escape(unpriced)}.</p>
<figure>{latency}</figure>
<figure>{cost}</figure>
<figure>{distribution}</figure>
<p class="note">Prices: {_text(prices.source)} {_text(prices.note)}</p>
</body></html>
"""
