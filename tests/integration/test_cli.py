"""`serverless-ray` commands against the live platform, as a user runs them: results on
stdout, and every error as one line with its code and a non-zero exit status."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading

from support import wait_for

CLI = [sys.executable, "-m", "serverless_ray.cli"]


def run(*args: str, url: str | None = None, timeout: float = 300, env: dict | None = None
        ) -> subprocess.CompletedProcess:
    env = {**(os.environ if env is None else env), "COLUMNS": "200"}
    if url is not None:
        env["SERVERLESS_RAY_URL"] = url
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def one_line_error(done: subprocess.CompletedProcess, status: int, code: str) -> str:
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"serverless-ray: {code}: "), done.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_endpoints_describe_invoke_cost_and_delete(platform, deployer, model_urls, tmp_path):
    url = platform.url
    name = deployer.serverless(model_urls["echo"], memory=1024, max_concurrency=2)
    done = run("invoke", name, "--body", '{"hello": "there"}', url=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["body"] == '{"hello": "there"}'
    body_file = tmp_path / "body.csv"
    body_file.write_text("1,2,3")
    done = run("invoke", name, "--body", f"@{body_file}", "--content-type", "text/csv", url=url)
    assert done.returncode == 0 and json.loads(done.stdout)["body"] == "1,2,3"

    def listed():
        done = run("endpoints", "--json", url=url)
        assert done.returncode == 0, done.stderr
        rows = [r for r in json.loads(done.stdout)["Endpoints"] if r["EndpointName"] == name]
        return rows if rows and rows[0]["Invocations"] == 2 else None

    [row] = wait_for(listed, timeout_s=60, what="two metered invocations in `endpoints`")
    assert (row["Status"], row["MemorySizeInMB"], row["MaxConcurrency"]) == ("InService", 1024, 2)
    assert row["CostUsd"] > 0
    table = run("endpoints", url=url)
    assert table.returncode == 0 and name in table.stdout and "cost so far" in table.stdout

    described = run("describe", name, url=url)
    assert described.returncode == 0 and "InService" in described.stdout and "1024 MB" in described.stdout
    assert json.loads(run("describe", name, "--json", url=url).stdout)["EndpointName"] == name

    cost = run("cost", "--since", "1h", url=url)
    assert cost.returncode == 0 and name in cost.stdout and "Not priced" in cost.stdout
    report = json.loads(run("cost", "--json", "--endpoint", name, url=url).stdout)
    assert report["Usage"][0]["Invocations"] == 2 and report["Total"]["TotalCostUsd"] > 0

    deleted = run("delete", name, url=url)
    assert deleted.returncode == 0 and f"Deleted endpoint {name}" in deleted.stdout
    one_line_error(run("describe", name, url=url), 1, "ValidationException")


def test_invoke_stream_prints_the_parts_and_the_stream_is_metered(platform, deployer, tmp_path):
    from conftest import MODELS, make_tarball

    url = platform.url
    model = f"file://{make_tarball(MODELS / 'streamer', tmp_path / 'streamer.tar.gz')}"
    name = deployer.serverless(model, memory=1024, max_concurrency=1)
    body = '{"parts": 3, "interval": 0.1}'
    done = run("invoke", name, "--body", body, "--stream", url=url)
    assert (done.returncode, done.stdout) == (0, "part-0;part-1;part-2;"), done.stderr

    def metered():
        report = json.loads(run("cost", "--json", "--endpoint", name, url=url).stdout)
        return report["Usage"][0] if report["Usage"] and report["Usage"][0]["Invocations"] == 1 else None

    usage = wait_for(metered, timeout_s=60, what="the streamed invocation metered")
    assert usage["ProcessedBytes"] == len(body) + len("part-0;part-1;part-2;")
    assert usage["BilledGbSeconds"] > 0


def test_errors_are_one_line_with_a_code_and_an_exit_status(platform, tmp_path):
    url = platform.url
    assert "not found" in one_line_error(run("invoke", "no-such-endpoint", "--body", "{}", url=url), 1,
                                         "ValidationError")
    one_line_error(run("invoke", "no-such-endpoint", "--body", "{not json", url=url), 2, "InvalidJson")
    assert "not found" in one_line_error(run("invoke", "no-such-endpoint", "--body", "{}", "--stream", url=url), 1,
                                         "ValidationError")
    one_line_error(run("invoke", "x", "--body", f"@{tmp_path / 'missing.json'}", url=url), 2, "InvalidArgument")
    one_line_error(run("describe", "no-such-endpoint", url=url), 1, "ValidationException")
    one_line_error(run("delete", "no-such-endpoint", url=url), 1, "ValidationException")
    one_line_error(run("cost", "--since", "yesterday", url=url), 2, "InvalidArgument")
    one_line_error(run("invoke", url=url), 2, "InvalidArgument")
    bad = tmp_path / "endpoints.yaml"
    bad.write_text("endpoints:\n  - name: x\n    memory_size_mb: 1000\n")
    one_line_error(run("apply", str(bad), "--url", url), 2, "InvalidEndpointsFile")
    one_line_error(run("apply", str(tmp_path / "missing.yaml"), "--url", url), 2, "InvalidArgument")
    nobody = f"http://127.0.0.1:{free_port()}"
    for args in (["endpoints"], ["cost"], ["describe", "x"], ["invoke", "x", "--body", "{}"], ["delete", "x"]):
        one_line_error(run(*args, url=nobody), 3, "PlatformUnreachable")


def test_apply_creates_the_declared_endpoints(platform, sm, model_urls, tmp_path):
    file = tmp_path / "endpoints.yaml"
    name = f"cli-apply-{os.getpid()}"
    file.write_text(f"endpoints:\n  - name: {name}\n    model_data: {model_urls['echo']}\n"
                    "    memory_size_mb: 1024\n    max_concurrency: 1\n")
    try:
        done = run("apply", str(file), "--url", platform.url)
        assert done.returncode == 0, done.stderr
        assert f"endpoint {name}: InService" in done.stdout
        assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    finally:
        config = sm.describe_endpoint(EndpointName=name)["EndpointConfigName"]
        model = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]
        sm.delete_endpoint(EndpointName=name)
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        sm.delete_endpoint_config(EndpointConfigName=config)
        sm.delete_model(ModelName=model)


def test_up_and_down(tmp_path):
    """`up` on a Ray of its own: progress, a summary, Ray's lines only in the log file; `down`
    stops it from another shell; Ctrl-C ends `up`."""
    one_line_error(run("up", "--port", "70000"), 2, "InvalidOption")
    (tmp_path / "prices.toml").write_text("region = 1")
    one_line_error(run("up", "--prices", str(tmp_path / "prices.toml")), 2, "InvalidPriceTable")

    ray_tmp = tempfile.mkdtemp(prefix="sr-up-")  # a Ray cluster of its own, out of the session's way
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Without a token: `down` below is another process that must be let in (a token Ray made
    # for this cluster is not one another process finds).
    env.update(RAY_TMPDIR=ray_tmp, COLUMNS="200", RAY_AUTH_MODE="disabled")
    state = tmp_path / "state"
    up = subprocess.Popen([*CLI, "up", "--port", "0", "--state-dir", str(state), "--num-cpus", "2",
                           "--warm-pool-size", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env)
    # Each pipe has one reader (communicate() beside a reader thread would take some of
    # stdout's last lines for itself, and the test would not see them).
    out: list[str] = []
    errors: list[str] = []
    readers = [threading.Thread(target=lambda: out.extend(up.stdout), daemon=True),
               threading.Thread(target=lambda: errors.extend(up.stderr), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        wait_for(lambda: any("Press Ctrl-C to stop" in line for line in out) or up.poll() is not None,
                 timeout_s=400, what="`up` to be ready")
        summary = "".join(out)
        assert "serverless-ray is up at http://127.0.0.1:" in summary, (summary, up.poll())
        assert "authentication" in summary and "endpoints       none yet" in summary
        # The controller dies: `up` logs it and serves on while Ray restarts it.
        url = re.search(r"serverless-ray is up at (http://127\.0\.0\.1:\d+)", summary).group(1)
        killed = _descendant(up.pid, "ray::PlatformController")
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: _descendant(up.pid, "ray::PlatformController") not in (None, killed), timeout_s=120,
                 what="Ray to restart the controller")
        wait_for(lambda: _healthz(url) == 200, timeout_s=60, what="the platform whole again")
        log_file = state / "logs" / "serverless-ray.log"
        wait_for(lambda: "the controller is back after" in log_file.read_text(), timeout_s=30,
                 what="`up` to log the controller's return")
        assert up.poll() is None
        # A Ray that `up` started itself writes no ray_current_cluster file: the summary names it.
        address = re.search(r"serverless-ray down --address (\S+?)\)", summary).group(1)
        # `down` from another shell with the same Ray settings.
        stopped = run("down", "--address", address, env=env)
        assert stopped.returncode == 0, stopped.stderr
        one_line_error(run("down", "--address", address, env=env), 1, "PlatformNotRunning")
        up.send_signal(signal.SIGINT)
        up.wait(timeout=120)
    finally:
        up.kill()
    for reader in readers:
        reader.join(timeout=60)  # both pipes are at their end once up and its children exited
    printed = "".join(out) + "".join(errors)
    assert up.returncode == 0, printed
    assert "serverless-ray stopped" in printed
    for ray_line in ("(ServeController", "Started a local Ray instance", " INFO ", "WARNING"):
        assert ray_line not in printed
    log = (state / "logs" / "serverless-ray.log").read_text()
    assert "Started a local Ray instance" in log and "Serve" in log
    assert "the controller is down" in log and "the controller is back after" in log


def _descendant(root: int, title: str) -> int | None:
    """The pid of a process under ``root`` whose command line starts with ``title``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(title.encode()):
                    return pid
        except OSError:
            pass
        stack.extend(children.get(pid, []))
    return None


def _healthz(url: str) -> int | None:
    from urllib.error import HTTPError, URLError
    from urllib.request import urlopen

    try:
        with urlopen(f"{url}/healthz", timeout=10) as response:
            return response.status
    except HTTPError as exc:
        return exc.code
    except URLError:
        return None
