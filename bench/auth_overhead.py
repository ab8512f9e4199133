"""What authentication costs an invocation: warm InvokeEndpoint p50 and throughput
through an entry point without credentials and one with them, in the same run.

Starts the platform on an embedded Ray, adds two gateways on the same node the same way
(``Platform.add_gateway``, the same settings but for the credentials file of the second
one), deploys the example model once and compares the two:

- warm p50: one client per gateway, calls alternate between the two in short blocks, so
  that the machine's load (it is shared) falls on both alike;
- throughput: ``--clients`` concurrent clients (no more than MaxConcurrency, so that
  none is throttled) turn from one gateway to the other every ``--window`` seconds until
  each has had ``--seconds``, ``--rounds`` times (which goes first alternates by round),
  after one such run untimed, in which the endpoint scales out to the clients;
- gateway CPU per call: the CPU time each gateway's process spent during the warm
  calls, per call (its own work, whatever else the machine runs; a gateway's idle
  background work is included alike on both sides);
- the gateway alone: p50 and gateway CPU per request of a signed call of an endpoint
  that does not exist (allowed by the policy; the gateway answers 400 without any
  replica), alternating in blocks: what authentication costs the HTTP path by itself;
- the check itself: what the authenticated gateway's check (header, key, signature,
  policy) costs per request in this process, without HTTP.

``--baseline`` gives neither gateway credentials (an A/A run): the difference it prints
is the bench's own bias, the figure to read the A/B difference against.

Requests carry a SigV4 signature made once per round with botocore (a signature stays
valid for 5 minutes), so the figures are the server's cost, not the client's signing;
both gateways get the same headers, only one checks them. The two gateways share the
endpoint's concurrency tokens: a call throttled while tokens move from one gateway to
the other is retried and counted. Prints figures; asserts nothing. Usage::

    .venv/bin/python bench/auth_overhead.py [--baseline] [--rounds 3] [--warm 1000] [--seconds 5] [--window 1] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import boto3
import psutil
import ray
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.sigv4 import IncomingRequest
from serverless_ray.platform import Platform
from serverless_ray.settings import PlatformSettings

from bench_support import deploy

ROOT = Path(__file__).resolve().parents[1]
BODY = json.dumps({"inputs": [[1, 2, 3]]}).encode()
PATH = "/endpoints/bench/invocations"
UNKNOWN_PATH = "/endpoints/bench-none/invocations"  # allowed by the bench's policy, served by no endpoint
KEY_ID, SECRET = "AKIABENCHMARK0000001", "bench-secret-0123456789abcdefgh"
BLOCK = 25  # calls to one gateway before the p50 client turns to the other


class Caller:
    """One keep-alive connection to a gateway; counts the throttled calls it retried."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self._headers = headers
        self.throttled = 0

    def invoke(self) -> None:
        while True:
            self._conn.request("POST", PATH, BODY, self._headers)
            response = self._conn.getresponse()
            response.read()
            if response.status == 200:
                return
            if response.getheader("x-amzn-ErrorType", "").startswith("ThrottlingException"):
                self.throttled += 1
                time.sleep(0.005)
                continue
            raise RuntimeError(f"HTTP {response.status}: {response.getheader('x-amzn-ErrorType')}")

    def timed(self) -> float:
        started = time.perf_counter()
        self.invoke()
        return time.perf_counter() - started

    def close(self) -> None:
        self._conn.close()


def _signed_headers(port: int, path: str = PATH) -> dict[str, str]:
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}{path}", data=BODY,
                         headers={"Content-Type": "application/json", "Accept": "application/json"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _warm_samples(ports: dict[str, int], headers: dict[str, str], n: int) -> tuple[dict[str, list[float]], int]:
    """``n`` timed calls per gateway, alternating in blocks; returns the durations and the
    throttled calls that were retried."""
    callers = {label: Caller(port, headers) for label, port in ports.items()}
    samples: dict[str, list[float]] = {label: [] for label in ports}
    for label, caller in callers.items():  # the tokens come to this gateway; the connection opens
        for _ in range(BLOCK):
            caller.invoke()
    while any(len(s) < n for s in samples.values()):
        for label, caller in callers.items():
            for _ in range(min(BLOCK, n - len(samples[label]))):
                samples[label].append(caller.timed())
    for caller in callers.values():
        caller.close()
    return samples, sum(c.throttled for c in callers.values())


def _throughput(ports: dict[str, int], headers: dict[str, str], clients: int, seconds: float,
                window_s: float) -> tuple[dict[str, float], int]:
    """Successful calls per second through each gateway, and the throttled calls retried.
    After one second of warm-up, all ``clients`` call one gateway for ``window_s``, then the
    other, in turn, until each has had ``seconds``; a call counts for the gateway of the
    window it started in."""
    labels = list(ports)
    callers = [{label: Caller(port, headers) for label, port in ports.items()} for _ in range(clients)]
    done = [dict.fromkeys(labels, 0) for _ in range(clients)]
    errors: list[BaseException] = []
    measure_from = time.perf_counter() + 1
    stop_at = measure_from + seconds * len(labels)

    def client(i: int) -> None:
        try:
            while (now := time.perf_counter()) < stop_at:
                label = labels[int(abs(now - measure_from) / window_s) % len(labels)]
                callers[i][label].invoke()
                if now >= measure_from:
                    done[i][label] += 1
        except BaseException as error:  # noqa: BLE001 - reported below, after the other clients end
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for by_label in callers:
        for caller in by_label.values():
            caller.close()
    if errors:
        raise errors[0]
    rates = {label: sum(d[label] for d in done) / seconds for label in labels}
    return rates, sum(c.throttled for by_label in callers for c in by_label.values())


def _gateway_alone(ports: dict[str, int], processes: dict[str, psutil.Process], headers: dict[str, str],
                   n: int) -> tuple[dict[str, float], dict[str, float]]:
    """p50 seconds and gateway CPU seconds per request of ``n`` calls per gateway of an
    endpoint that does not exist, alternating in blocks."""
    connections = {label: http.client.HTTPConnection("127.0.0.1", port, timeout=60) for label, port in ports.items()}

    def call(label: str) -> None:
        connections[label].request("POST", UNKNOWN_PATH, BODY, headers)
        response = connections[label].getresponse()
        response.read()
        if response.status != 400:
            raise RuntimeError(f"HTTP {response.status} for an unknown endpoint: {response.getheader('x-amzn-ErrorType')}")

    for label in ports:  # the connection opens; the gateway learns the name is unknown
        for _ in range(BLOCK):
            call(label)
    samples: dict[str, list[float]] = {label: [] for label in ports}
    cpu_s = dict.fromkeys(ports, 0.0)
    while any(len(s) < n for s in samples.values()):
        for label in ports:
            before = _cpu_s(processes[label])
            for _ in range(min(BLOCK, n - len(samples[label]))):
                started = time.perf_counter()
                call(label)
                samples[label].append(time.perf_counter() - started)
            cpu_s[label] += _cpu_s(processes[label]) - before
    for connection in connections.values():
        connection.close()
    return ({label: statistics.median(s) for label, s in samples.items()},
            {label: cpu_s[label] / len(samples[label]) for label in ports})


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _check_cost(settings: PlatformSettings, port: int, n: int) -> tuple[float, float]:
    """Seconds the authenticated gateway's check takes per request in this process: wall
    time, and CPU time (what it costs, whatever else the machine runs)."""
    authenticator = Authenticator.for_platform(settings.credentials, region=settings.region,
                                               account_id=settings.account_id)
    request = IncomingRequest(method="POST", raw_path=PATH, query="",
                              headers=[("host", f"127.0.0.1:{port}"), *_signed_headers(port).items()], body=BODY)
    header_only = request.with_body(b"")
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        authenticator.authorize(authenticator.admit(header_only), request, PATH)
    return (time.perf_counter() - started) / n, (time.process_time() - cpu) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two gateways")
    parser.add_argument("--warm", type=int, default=1000, help="timed sequential warm invocations per gateway and round")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run per gateway and round")
    parser.add_argument("--window", type=float, default=1.0,
                        help="seconds the throughput clients stay with one gateway before turning to the other")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in the throughput runs")
    parser.add_argument("--max-concurrency", type=int, default=4, help="the endpoint's MaxConcurrency")
    parser.add_argument("--baseline", action="store_true",
                        help="A/A run: neither gateway has credentials (shows the bench's own bias)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    credentials = tmp / "credentials.json"
    credentials.write_text(json.dumps({"principals": [{
        "name": "bench", "access_key_id": KEY_ID, "secret_access_key": SECRET,
        "policy": {"Statement": [
            {"Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint", "sagemaker:Describe*"],
             "Resource": "arn:aws:sagemaker:*:*:endpoint/bench*"},
            {"Effect": "Deny", "Action": "sagemaker:Delete*", "Resource": "*"}]}}]}))
    settings = PlatformSettings(port=0, state_dir=tmp / "state", scale_to_zero_after_s=600.0)
    platform = Platform(settings).start()
    try:
        common = platform.settings.model_dump(exclude={"credentials", "credentials_file", "internal_principal"})
        gateway_settings = {
            label: PlatformSettings.model_validate({**common, "port": 0, "credentials_file": file})
            for label, file in (("off", None), ("on", None if args.baseline else credentials))
        }
        added = {label: platform.add_gateway(f"bench-{label}", settings=s) for label, s in gateway_settings.items()}
        ports = {label: port for label, (_, port) in added.items()}
        processes = {label: psutil.Process(ray.get(handle.pid.remote())) for label, (handle, _) in added.items()}
        auth_port = ports["on"]
        sm = boto3.client("sagemaker", endpoint_url=platform.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        deploy(sm, "bench", ROOT / "deployments/example/model", args.max_concurrency)

        # Untimed: the endpoint scales out to the clients' concurrency (more replicas) once,
        # before any round, instead of during the first round's throughput run.
        _throughput(ports, _signed_headers(auth_port), args.clients, args.seconds, args.window)
        warm: dict[str, list[float]] = {"off": [], "on": []}
        rps: dict[str, list[float]] = {"off": [], "on": []}
        throttled = 0
        cpu_s = dict.fromkeys(ports, 0.0)
        for round_ in range(args.rounds):
            headers = _signed_headers(auth_port)  # both send the same headers; only one checks them
            order = list(ports) if round_ % 2 == 0 else list(reversed(ports))
            in_order = {label: ports[label] for label in order}
            before = {label: _cpu_s(process) for label, process in processes.items()}
            samples, retried = _warm_samples(in_order, headers, args.warm)
            for label, process in processes.items():
                cpu_s[label] += _cpu_s(process) - before[label]
            throttled += retried
            rates, retried = _throughput(in_order, headers, args.clients, args.seconds, args.window)
            throttled += retried
            for label in ports:
                warm[label].extend(samples[label])
                rps[label].append(rates[label])
        alone_p50, alone_cpu = _gateway_alone(ports, processes, _signed_headers(auth_port, UNKNOWN_PATH), args.warm)
        check = None if args.baseline else _check_cost(gateway_settings["on"], auth_port, 2000)

        ms = lambda s: f"{s * 1000:.3f} ms"  # noqa: E731
        p50 = {label: statistics.median(samples) for label, samples in warm.items()}
        throughput = {label: statistics.median(rates) for label, rates in rps.items()}
        titles = (("off", "gateway A (no credentials)"), ("on", "gateway B (no credentials)")) if args.baseline \
            else (("off", "credentials off"), ("on", "credentials on "))
        for label, title in titles:
            print(f"{title}: warm invoke p50 {ms(p50[label])} (n={len(warm[label])}); throughput "
                  f"{throughput[label]:.0f} req/s (rounds: {', '.join(f'{v:.0f}' for v in rps[label])})")
        what = "A/A baseline (the bench's own bias): gateway B" if args.baseline else "authentication"
        print(f"{what} adds {ms(p50['on'] - p50['off'])} to the warm p50 (goal <= +0.200 ms) and keeps "
              f"{throughput['on'] / throughput['off']:.2f}x the throughput (goal >= 0.95x); "
              f"{args.clients} clients, MaxConcurrency {args.max_concurrency}, {args.rounds} rounds of "
              f"{args.warm} calls and {args.seconds:.0f} s; {throttled} throttled calls retried")
        per_call = {label: cpu_s[label] / len(warm[label]) * 1e6 for label in ports}
        print(f"gateway CPU per warm call: {per_call['off']:.0f} us {titles[0][1].strip()}, {per_call['on']:.0f} us "
              f"{titles[1][1].strip()} ({per_call['on'] - per_call['off']:+.0f} us)")
        print(f"the gateway alone (a signed call of an endpoint that does not exist, answered 400): p50 "
              f"{ms(alone_p50['off'])} {titles[0][1].strip()}, {ms(alone_p50['on'])} {titles[1][1].strip()} "
              f"({(alone_p50['on'] - alone_p50['off']) * 1000:+.3f} ms); gateway CPU per request "
              f"{alone_cpu['off'] * 1e6:.0f} us and {alone_cpu['on'] * 1e6:.0f} us "
              f"({(alone_cpu['on'] - alone_cpu['off']) * 1e6:+.0f} us)")
        if check is not None:
            print(f"the check alone (header, key, SigV4 signature, policy): {check[0] * 1e6:.0f} us wall time, "
                  f"{check[1] * 1e6:.0f} us CPU time per request")
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
