"""``serverless-ray``: run the platform and manage it from a shell."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from serverless_ray.settings import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, PlatformSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serverless-ray", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the platform and serve until SIGINT/SIGTERM")
    up.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    up.add_argument("--port", type=int, default=8080, help="port for the SageMaker APIs (default 8080)")
    up.add_argument("--state-dir", type=Path, default=Path(".state"), help="where state is kept (SQLite)")
    up.add_argument("--region", default=DEFAULT_REGION, help="region named in ARNs")
    up.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID, help="12-digit account id named in ARNs")
    up.add_argument("--address", default=None, help="join this Ray cluster instead of starting one")
    up.add_argument("--num-cpus", type=int, default=None, help="logical CPUs of the embedded Ray")
    up.add_argument("--scale-to-zero-after", type=float, default=60.0, metavar="SECONDS",
                    help="idle seconds before an on-demand replica is released (default 60)")
    up.add_argument("--vcpu-per-gb", type=float, default=0.5,
                    help="vCPUs reserved per GB of MemorySizeInMB (default 0.5)")
    up.add_argument("--account-concurrency", type=int, default=None, metavar="N",
                    help="concurrent invocations across all serverless endpoints (default: the region's pool)")
    up.add_argument("--max-endpoints", type=int, default=50, metavar="N",
                    help="most serverless endpoints the account may have (default 50)")
    up.add_argument("--warm-pool-size", type=int, default=2, metavar="N",
                    help="model-less standby replicas per node that take over cold starts (default 2; 0: off)")
    up.add_argument("--invocation-timeout-s", type=float, default=60.0, metavar="SECONDS",
                    help="longest a model may take to answer; its replica is then replaced (default 60)")
    up.add_argument("--model-ready-timeout-s", type=float, default=180.0, metavar="SECONDS",
                    help="longest a replica may take to download, unpack and load its model (default 180)")
    up.add_argument("--ephemeral-storage-mb", type=int, default=5120, metavar="MB",
                    help="private scratch disk of each replica, its TMPDIR and working directory (default 5120)")
    up.add_argument("--max-model-size-mb", type=int, default=10 * 1024, metavar="MB",
                    help="largest unpacked size of a model archive (default 10240)")
    up.add_argument("--artifact-cache-mb", type=int, default=20 * 1024, metavar="MB",
                    help="bound of each node's model cache; unused models are evicted past it (default 20480)")
    up.add_argument("--isolation", choices=("auto", "rlimit", "off"), default="auto",
                    help="memory and CPU limits per replica: a cgroup where possible (auto), an address-space "
                         "limit (rlimit), or none (off)")
    up.add_argument("--no-observability", dest="observability", action="store_false",
                    help="record no CloudWatch datapoints and capture no replica output (Prometheus stays)")
    up.add_argument("--apply", type=Path, action="append", default=[], metavar="FILE",
                    help="endpoints file (or Serve config) to apply once the platform is up (repeatable)")
    security = up.add_argument_group("security")
    security.add_argument("--credentials", type=Path, default=None, metavar="FILE",
                          help="credentials file (principals, access keys, IAM policies; YAML or JSON): every "
                          "request must then be SigV4-signed and allowed (default: $SERVERLESS_RAY_CREDENTIALS)")
    security.add_argument("--allow-anonymous", action="store_true",
                          help="serve a non-loopback --host without credentials (anyone reaching the port can "
                          "run code on the cluster)")
    security.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                          help="PEM certificate: serve HTTPS on the same port (with --tls-key)")
    security.add_argument("--tls-key", type=Path, default=None, metavar="FILE", help="PEM private key of --tls-cert")
    security.add_argument("--model-data-root", type=Path, action="append", default=[], metavar="DIR",
                          help="with credentials, file:// and path ModelDataUrls must lie under a DIR (repeatable)")

    apply = commands.add_parser(
        "apply", help="create or update the endpoints of an endpoints file or Serve config on a running platform")
    apply.add_argument("file", type=Path)
    apply.add_argument("--url", default="http://127.0.0.1:8080",
                       help="the platform's address; calls are signed with the standard AWS credential chain "
                       "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...), AWS_CA_BUNDLE verifies HTTPS")
    apply.add_argument("--no-wait", action="store_true", help="do not wait for InService")
    apply.add_argument("--owner", default=None, metavar="NAME",
                       help="tag what is created as NAME's; refuse to take over endpoints NAME did not create")
    apply.add_argument("--prune", action="store_true",
                       help="delete the endpoints NAME created that the file no longer declares (needs --owner)")
    logs = commands.add_parser(
        "logs", help="print an endpoint's log group (/aws/sagemaker/Endpoints/ENDPOINT) from a running platform")
    logs.add_argument("endpoint", metavar="ENDPOINT")
    logs.add_argument("--url", default="http://127.0.0.1:8080", help="the platform's address")
    logs.add_argument("--since", default="10m",
                      help="from this long ago (30s, 10m, 2h, 1d, 1w) or this ISO 8601 time (default 10m)")
    logs.add_argument("--filter", default=None, metavar="PATTERN",
                      help='CloudWatch filter pattern: terms, "quoted phrases", ?alternatives, -exclusions')
    logs.add_argument("--follow", action="store_true", help="keep printing new events until Ctrl-C")
    down = commands.add_parser(
        "down", help="stop the platform running on a Ray cluster (e.g. one a Serve config started)")
    down.add_argument("--address", default="auto", help="the Ray cluster (default: the one on this machine)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "up":
        return _up(args)
    if args.command == "down":
        return _down(args)
    if args.command == "logs":
        return _logs(args)
    from serverless_ray.declarative import apply_file

    if args.prune and not args.owner:
        print("serverless-ray: --prune needs --owner (only endpoints an owner created are ever deleted)",
              file=sys.stderr)
        return 2
    apply_file(args.file, args.url, wait=not args.no_wait, owner=args.owner, prune=args.prune)
    return 0


def _up(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        settings = PlatformSettings(
            host=args.host, port=args.port, state_dir=args.state_dir, region=args.region,
            account_id=args.account_id, ray_address=args.address, num_cpus=args.num_cpus,
            scale_to_zero_after_s=args.scale_to_zero_after, vcpu_per_gb=args.vcpu_per_gb,
            account_concurrency=args.account_concurrency, max_endpoints=args.max_endpoints,
            warm_pool_size=args.warm_pool_size, invocation_timeout_s=args.invocation_timeout_s,
            model_ready_timeout_s=args.model_ready_timeout_s, ephemeral_storage_mb=args.ephemeral_storage_mb,
            max_model_size_mb=args.max_model_size_mb, artifact_cache_mb=args.artifact_cache_mb,
            isolation=args.isolation, allow_anonymous=args.allow_anonymous,
            tls_cert=args.tls_cert, tls_key=args.tls_key, model_data_roots=tuple(args.model_data_root),
            **({"credentials_file": args.credentials} if args.credentials else {}),
        )
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(map(str, error["loc"])), error["msg"].removeprefix("Value error, "))))
            for error in exc.errors())
        print(f"serverless-ray: invalid option: {problems}", file=sys.stderr)
        return 2
    # Ray and boto3 load only once the options are known to be good.
    from serverless_ray.declarative import apply_file, in_cluster_access
    from serverless_ray.platform import Platform

    platform = Platform(settings).start()
    # After Ray's own handlers are installed (ray.init), so that ours win: stop cleanly.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        print(f"serverless-ray is up at {platform.url} (state in {platform.settings.state_dir})", flush=True)
        for path in args.apply:
            apply_file(path, platform.url, access=in_cluster_access(platform.settings))
        print("Ready. Press Ctrl-C to stop.", flush=True)
        stop.wait()
    finally:
        print("serverless-ray: stopping", flush=True)
        platform.stop()
    return 0


def _logs(args: argparse.Namespace) -> int:
    import time

    from botocore.exceptions import ClientError

    from serverless_ray.declarative.clients import platform_client
    from serverless_ray.logs.tail import LogTail, SinceError, format_event, since_ms

    try:
        start = since_ms(args.since, time.time())
    except SinceError as exc:
        print(f"serverless-ray: {exc}", file=sys.stderr)
        return 2
    tail = LogTail(platform_client("logs", args.url), args.endpoint, start, args.filter)
    try:
        events = tail.follow() if args.follow else iter(tail.poll())
        for event in events:
            print(format_event(event), flush=True)
    except ClientError as exc:
        error = exc.response["Error"]
        print(f"serverless-ray: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _down(args: argparse.Namespace) -> int:
    import ray

    from serverless_ray.cluster_names import NAMESPACE
    from serverless_ray.serve_app import stop_platform

    ray.init(address=args.address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
    if not stop_platform():
        print("serverless-ray: no platform is running on this Ray cluster", file=sys.stderr)
        return 1
    print("serverless-ray: stopped (the state directory keeps every endpoint)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
