"""``up``, ``apply`` and ``down``: run the platform, declare endpoints, stop it."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from serverless_ray.cli.shared import url_option
from serverless_ray.cli.errors import CliError, UNREACHABLE, usage_error
from serverless_ray.cli.options import setting_options, settings_from
from serverless_ray.cli.terminal import ProcessOutput, terminal

LOG_FILE = Path("logs") / "serverless-ray.log"  # under the state directory


@click.command()
@setting_options
@click.option("--apply", "apply_files", type=click.Path(path_type=Path), multiple=True, metavar="FILE",
              help="Endpoints file (or Serve config) to apply once the platform is up (repeatable).")
@click.option("-v", "--verbose", is_flag=True,
              help="Show Ray's own log lines on the terminal too (they always go to the log file).")
def up(apply_files: tuple[Path, ...], verbose: bool, **options) -> None:
    """Start the platform and serve until Ctrl-C (or SIGTERM).

    The state directory keeps every model, config and endpoint; the next `up` on it
    brings them all back. Ray's log lines go to <state-dir>/logs/serverless-ray.log.
    """
    from serverless_ray.billing.prices import PriceTable

    settings = settings_from(options)
    prices = PriceTable.load(settings.prices_file)  # a bad file is reported before anything starts
    for path in apply_files:
        if not path.is_file():
            raise usage_error(f"--apply {path}: no such file")
    log_path = settings.state_dir.expanduser().resolve() / LOG_FILE
    with ProcessOutput(log_path, echo=verbose):
        _configure_logging(log_path, verbose)
        _serve(settings, apply_files, prices, log_path)


def _configure_logging(log_path: Path, verbose: bool) -> None:
    # Python logging goes to stderr, which ProcessOutput sends to the log file.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    if not verbose:
        logging.getLogger("ray").setLevel(logging.WARNING)


def _serve(settings, apply_files, prices, log_path: Path) -> None:
    from serverless_ray.cli.summary import print_summary
    from serverless_ray.declarative import apply_file, in_cluster_access
    from serverless_ray.platform import Platform
    from serverless_ray.platform_watch import WATCH_INTERVAL_S, PlatformWatch

    console = terminal().out
    with console.status("Starting Ray and the platform…"):
        platform = Platform(settings).start()
    # After Ray's own handlers are installed (ray.init), so that ours win: stop cleanly.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        for path in apply_files:
            with console.status(f"Applying {path}…") as status:
                apply_file(path, platform.url, access=in_cluster_access(platform.settings),
                           echo=lambda line: (status.update(f"Applying {path}: {line}"), console.print(f"  {line}")))
        # A platform actor that dies is restarted by Ray: this process says so and serves on.
        # The first look is taken before the platform is announced, so that a restart from
        # then on shows as a new process even if no poll fell while it was down.
        watch = PlatformWatch(platform.unavailable)
        watch.poll()
        print_summary(console, platform, prices, log_path)
        while not stop.wait(WATCH_INTERVAL_S):
            watch.poll()
    finally:
        with console.status("Stopping (the state directory keeps every endpoint)…"):
            platform.stop()
        console.print("serverless-ray stopped.")


@click.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@url_option
@click.option("--no-wait", is_flag=True, help="Do not wait for the endpoints to be InService.")
@click.option("--owner", default=None, metavar="NAME",
              help="Tag what is created as NAME's; refuse to take over endpoints NAME did not create.")
@click.option("--prune", is_flag=True,
              help="Delete the endpoints NAME created that the file no longer declares (needs --owner).")
def apply(file: Path, url: str, no_wait: bool, owner: str | None, prune: bool) -> None:
    """Create or update the endpoints of an endpoints file or Serve config on a running platform."""
    from serverless_ray.declarative import ApplyError, NotOwnedError, apply_file

    if prune and not owner:
        raise usage_error("--prune needs --owner (only endpoints an owner created are ever deleted)")
    console = terminal().out
    try:
        with console.status(f"Applying {file}…") as status:
            def echo(line: str) -> None:
                status.update(f"Applying {file}: {line}")
                console.print(f"  {line}")

            apply_file(file, url, wait=not no_wait, owner=owner, prune=prune, echo=echo)
    except ApplyError as exc:
        raise CliError("EndpointNotInService", str(exc)) from None
    except NotOwnedError as exc:
        raise CliError("NotOwned", str(exc)) from None
    except ValueError as exc:  # the file does not declare endpoints as the schema says
        raise usage_error(f"{file}: {exc}", code="InvalidEndpointsFile") from None
    except Exception as exc:
        import yaml

        if isinstance(exc, yaml.YAMLError):
            raise usage_error(f"{file} is not valid YAML: {exc}", code="InvalidEndpointsFile") from None
        raise


@click.command()
@click.option("--address", default="auto", show_default=True, help="The Ray cluster the platform runs on.")
def down(address: str) -> None:
    """Stop the platform running on a Ray cluster (e.g. one a Serve config started)."""
    import tempfile

    log_path = Path(tempfile.gettempdir()) / "serverless-ray-down.log"
    with ProcessOutput(log_path, echo=False):
        import ray

        from serverless_ray.cluster_names import NAMESPACE
        from serverless_ray.serve_app import stop_platform

        with terminal().out.status(f"Stopping the platform on the Ray cluster at {address}…"):
            try:
                ray.init(address=address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
            except ConnectionError as exc:
                raise CliError("RayClusterUnreachable", f"no Ray cluster at {address}: {exc}", UNREACHABLE) from None
            try:
                if not stop_platform():
                    raise CliError("PlatformNotRunning", "no serverless-ray platform is running on this Ray cluster")
            finally:
                ray.shutdown()
    terminal().out.print("serverless-ray stopped (the state directory keeps every endpoint).")
