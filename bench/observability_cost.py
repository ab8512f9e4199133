"""What recording costs: warm invoke p50 and throughput with CloudWatch metrics and logs
recording on and off, in the same run, and the size on disk per million invocations.

Each round starts the platform in a fresh process (``observability`` on, then off, then
on again ...), deploys a model that prints one line per invocation (so every call also
writes a log event when recording), times sequential warm calls and a throughput run,
and reads how much the metric and log stores grew. Rounds alternate so that the machine's
load drifts over both settings alike. Asserts nothing. Usage::

    .venv/bin/python bench/observability_cost.py [--rounds 2] [--warm 500] [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from invoke_latency import _invoke, _pct, deploy, run_clients  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "integration" / "models" / "chatty"
BODY = json.dumps({"tag": "bench", "print": True})


def _stored_bytes(path: Path) -> int:
    """Bytes the database holds (its size once the write-ahead log is checkpointed)."""
    if not path.exists():
        return 0
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * connection.execute("PRAGMA page_size").fetchone()[0]
    finally:
        connection.close()


def one_round(observability: bool, args: argparse.Namespace) -> dict:
    from serverless_ray.platform import Platform
    from serverless_ray.settings import PlatformSettings

    settings = PlatformSettings(port=0, state_dir=Path(tempfile.mkdtemp()) / "state", observability=observability,
                                scale_to_zero_after_s=600.0, warm_pool_size=0)
    platform = Platform(settings).start()
    try:
        host, port, path = deploy(platform.url, str(MODEL), args.max_concurrency)
        conn = http.client.HTTPConnection(host, port, timeout=60)
        for _ in range(20):
            _invoke(conn, path, BODY)
        time.sleep(3)  # what the warm-up recorded is shipped before the stores are measured
        before = {p: _stored_bytes(p) for p in (settings.metrics_path, settings.logs_path)}
        began = time.time()

        warm = []
        for _ in range(args.warm):
            started = time.perf_counter()
            _invoke(conn, path, BODY)
            warm.append(time.perf_counter() - started)

        throughput_calls = run_clients(host, port, path, clients=args.clients, seconds=args.seconds, body=BODY)
        active_s = time.time() - began
        invocations = args.warm + throughput_calls
        time.sleep(5)  # the last second's datapoints and log lines reach the stores
        grown = {p.name: _stored_bytes(p) - before[p] for p in before}
        return {"observability": observability, "warm_p50_ms": _pct(warm, 0.5) * 1000,
                "warm_p99_ms": _pct(warm, 0.99) * 1000, "throughput": throughput_calls / args.seconds,
                "invocations": invocations, "active_s": active_s, "metrics_bytes": grown["metrics.sqlite3"],
                "logs_bytes": grown["logs.sqlite3"]}
    finally:
        platform.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each setting (alternating)")
    parser.add_argument("--warm", type=int, default=500, help="sequential warm invocations a round")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of a round's throughput run")
    parser.add_argument("--clients", type=int, default=2,
                        help="concurrent clients in the throughput run (at most MaxConcurrency: none is throttled)")
    parser.add_argument("--max-concurrency", type=int, default=2)
    parser.add_argument("--one", choices=["on", "off"], help=argparse.SUPPRESS)  # a round, in a child process
    args = parser.parse_args()
    if args.one:
        print("ROUND " + json.dumps(one_round(args.one == "on", args)), flush=True)
        return

    results: list[dict] = []
    passthrough = [f"--warm={args.warm}", f"--seconds={args.seconds}", f"--clients={args.clients}",
                   f"--max-concurrency={args.max_concurrency}"]
    for _ in range(args.rounds):
        for setting in ("on", "off"):
            for attempt in range(5):  # on a loaded machine Ray itself may fail to start
                run = subprocess.run([sys.executable, __file__, "--one", setting, *passthrough],
                                     capture_output=True, text=True)
                if run.returncode == 0:
                    break
                print(f"a round with recording {setting} failed (attempt {attempt + 1}):\n{run.stderr[-1500:]}",
                      file=sys.stderr, flush=True)
            else:
                sys.exit(f"a round with recording {setting} failed five times")
            out = run.stdout
            result = json.loads(next(line for line in out.splitlines() if line.startswith("ROUND "))[6:])
            results.append(result)
            print(f"round: recording {setting:3}  warm p50 {result['warm_p50_ms']:.1f} ms  "
                  f"p99 {result['warm_p99_ms']:.1f} ms  throughput {result['throughput']:.0f} req/s  "
                  f"({result['invocations']} invocations in {result['active_s']:.0f} s; stores grew "
                  f"metrics {result['metrics_bytes']} B, logs {result['logs_bytes']} B)", flush=True)

    def median(setting: bool, key: str) -> float:
        return statistics.median(r[key] for r in results if r["observability"] == setting)

    print(f"\nwarm invoke p50 ({args.warm} sequential calls a round, median of {args.rounds} rounds): "
          f"recording {median(True, 'warm_p50_ms'):.1f} ms, not recording {median(False, 'warm_p50_ms'):.1f} ms")
    print(f"throughput ({args.clients} clients, MaxConcurrency {args.max_concurrency}, {args.seconds:.0f} s): "
          f"recording {median(True, 'throughput'):.0f} req/s, not recording {median(False, 'throughput'):.0f} req/s")
    on = [r for r in results if r["observability"]]
    calls = sum(r["invocations"] for r in on)
    seconds = sum(r["active_s"] for r in on)
    metrics, logs = sum(r["metrics_bytes"] for r in on), sum(r["logs_bytes"] for r in on)
    per_million = lambda b: b / calls * 1e6 / 2**20  # noqa: E731
    print(f"size on disk per million invocations (at {calls / seconds:.0f} invocations/s, one log line each): "
          f"metrics {per_million(metrics):.1f} MiB, logs {per_million(logs):.1f} MiB, "
          f"total {per_million(metrics + logs):.1f} MiB")
    print(f"metric store per active endpoint-second: {metrics / seconds / 1024:.2f} KiB "
          f"(datapoints are kept per second, so this does not grow with the call rate)")
    off_bytes = sum(r["metrics_bytes"] + r["logs_bytes"] for r in results if not r["observability"])
    print(f"stores grew {off_bytes} B in the rounds not recording")


if __name__ == "__main__":
    main()
