"""``serverless-ray``: run the platform, and manage and measure it from a shell.

``main`` runs a command and turns whatever it raised into one line with a code and an
exit status (:mod:`.errors`); the commands are registered in :mod:`.app`.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns its exit status."""
    import click

    from serverless_ray.cli.errors import as_cli_error, report
    from serverless_ray.cli.terminal import terminal

    try:
        from serverless_ray.cli.app import cli

        result = cli.main(args=argv, prog_name="serverless-ray", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.Abort:
        return report(as_cli_error(KeyboardInterrupt()), terminal().err_stream)
    except BaseException as exc:  # noqa: BLE001 - every error becomes one line
        from serverless_ray.cli.shared import current_url

        return report(as_cli_error(exc, current_url[0] if current_url else None), terminal().err_stream, exc)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
