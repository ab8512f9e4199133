"""Per-replica overhead of the limits: start-up time and memory, with and without them.

Starts a local Ray and, in fresh worker processes, builds the example model's replica
exactly as Serve does (``ModelReplica(spec)``) once with the limits (cgroup memory and
CPU, a loop-mounted scratch disk, the load watchdog) and once without; prints, for
each, how long the replica took to become ready (limits set-up included) and its
resident and unique memory, plus how much of the tier the runtime itself takes once
the model is loaded (the cgroup's own usage). Asserts nothing. Usage::

    .venv/bin/python bench/replica_limits.py [--runs 5] [--memory-mb 1024] [--storage-mb 5120]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray

from serverless_ray.messages import ReplicaLimits, ReplicaSpec
from serverless_ray.runtime.replica import ModelReplica

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "deployments" / "example" / "model"


@ray.remote(num_cpus=0)
class Probe:
    def build(self, spec: ReplicaSpec) -> dict:
        import psutil

        started = time.perf_counter()
        self._replica = ModelReplica(spec, setup_from_process_start=False)
        ready_s = time.perf_counter() - started
        self._replica.invoke(b'{"inputs": [[1, 2, 3]]}', "application/json", "application/json", None, "bench")
        memory = psutil.Process().memory_full_info()
        confinement = self._replica._confinement
        group_usage = confinement.group.memory_usage() if confinement and confinement.group else None
        mode = confinement.record.mode if confinement else "none"
        return {"ready_s": ready_s, "rss": memory.rss, "uss": memory.uss, "tier_used": group_usage, "mode": mode,
                "scratch_mounted": bool(confinement and confinement.disk.mounted)}

    def close(self) -> None:
        self._replica.__del__()


def _row(name: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    values = sorted(v / scale for v in values)
    return f"  {name:<24} min {values[0]:8.1f}  median {statistics.median(values):8.1f}  max {values[-1]:8.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--storage-mb", type=int, default=5120)
    args = parser.parse_args()

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    work = Path(tempfile.mkdtemp(prefix="replica-limits-"))
    limits = ReplicaLimits(memory_mb=args.memory_mb, cpus=args.memory_mb / 1024 * 0.5,
                           ephemeral_storage_mb=args.storage_mb, model_ready_timeout_s=180,
                           runtime_dir=str(work / "replicas"))
    base = ReplicaSpec("bench", "AllTraffic", str(MODEL), str(work / "cache"))
    variants = {"without limits": base, "with limits": ReplicaSpec(**{**base.__dict__, "limits": limits})}
    results: dict[str, list[dict]] = {name: [] for name in variants}
    try:
        for _ in range(args.runs):
            for name, spec in variants.items():  # alternate, so drift hits both alike
                probe = Probe.remote()
                results[name].append(ray.get(probe.build.remote(spec)))
                ray.get(probe.close.remote())
                ray.kill(probe)
    finally:
        ray.shutdown()
    print(f"{args.runs} replicas each, {args.memory_mb} MB tier, {args.storage_mb} MB scratch disk")
    for name, rows in results.items():
        print(f"{name} (memory held by: {rows[0]['mode']}, scratch mounted: {rows[0]['scratch_mounted']})")
        print(_row("ready (model loaded)", [r["ready_s"] * 1000 for r in rows], "ms"))
        print(_row("resident memory", [r["rss"] for r in rows], "MB", 2**20))
        print(_row("unique memory", [r["uss"] for r in rows], "MB", 2**20))
        if rows[0]["tier_used"] is not None:
            print(_row("tier used by the runtime", [r["tier_used"] for r in rows], "MB", 2**20))


if __name__ == "__main__":
    main()
