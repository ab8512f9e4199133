"""The ``serverless-ray`` command group and the options its commands share.

Each command lives in a module of this package and is registered in :func:`_register`.
"""

from __future__ import annotations

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="serverless-ray", prog_name="serverless-ray")
def cli() -> None:
    """serverless-ray: SageMaker Serverless Inference on Ray Serve.

    `up` runs the platform; the other commands talk to a running one over its API
    (--url, or SERVERLESS_RAY_URL).
    """


def _register() -> None:
    from serverless_ray.cli import benchmark_cmd, cost_cmd, endpoint_cmds, logs_cmd, platform_cmds

    for command in (
        platform_cmds.up, platform_cmds.apply, platform_cmds.down,
        endpoint_cmds.endpoints, endpoint_cmds.describe, endpoint_cmds.invoke, endpoint_cmds.delete,
        logs_cmd.logs, cost_cmd.cost, benchmark_cmd.benchmark,
    ):
        cli.add_command(command)


_register()


def parse_command(argv: list[str]) -> tuple[str, dict]:
    """The command ``argv`` names and the parameters it would run with (nothing runs):
    checks that a command line elsewhere (cluster.yaml, a Makefile) is one this accepts."""
    with cli.make_context("serverless-ray", list(argv), resilient_parsing=False) as ctx:
        name, command, args = cli.resolve_command(ctx, ctx.protected_args + ctx.args)
        with command.make_context(name, args, parent=ctx) as sub:
            return name, dict(sub.params)
