"""The options of ``serverless-ray up``: one declaration each, mapped onto a field of
:class:`~serverless_ray.settings.PlatformSettings`.

Defaults and help come from the settings model itself (its ``Field`` defaults and
descriptions), so adding an option is adding one :class:`SettingOption` to
``UP_OPTIONS`` (and the field to ``PlatformSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from serverless_ray.settings import PlatformSettings

PATH = click.Path(path_type=Path)


@dataclass(frozen=True)
class SettingOption:
    flag: str  # e.g. "--scale-to-zero-after"
    field: str  # the PlatformSettings field it sets
    type: Any = str  # a click type; bool makes a flag that sets the field to ``value``
    metavar: str | None = None
    help: str | None = None  # default: the field's description
    value: Any = True  # what a bool flag sets its field to
    multiple: bool = False  # repeatable; the field gets a tuple of every value given

    @property
    def param(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def describe(self) -> str:
        field = PlatformSettings.model_fields[self.field]
        text = self.help or field.description or ""
        default = field.get_default(call_default_factory=True)
        if self.help or default is None or default == () or self.type is bool:
            return text
        return f"{text} (default: {default})"

    def decorate(self, command: Callable) -> Callable:
        if self.type is bool:
            return click.option(self.flag, self.param, is_flag=True, default=None, help=self.describe())(command)
        return click.option(self.flag, self.param, type=self.type, default=None, metavar=self.metavar,
                            multiple=self.multiple, help=self.describe())(command)

    def given(self, params: dict[str, Any]) -> bool:
        value = params.get(self.param)
        return value is not None and value != ()

    def setting(self, params: dict[str, Any]) -> Any:
        """The field's value for the options given (``given(params)`` must hold)."""
        return self.value if self.type is bool else params[self.param]


UP_OPTIONS: tuple[SettingOption, ...] = (
    SettingOption("--host", "host"),
    SettingOption("--port", "port", int),
    SettingOption("--state-dir", "state_dir", PATH, metavar="DIR"),
    SettingOption("--region", "region"),
    SettingOption("--account-id", "account_id"),
    SettingOption("--address", "ray_address", metavar="RAY_ADDRESS"),
    SettingOption("--num-cpus", "num_cpus", int, metavar="N"),
    SettingOption("--scale-to-zero-after", "scale_to_zero_after_s", float, metavar="SECONDS"),
    SettingOption("--vcpu-per-gb", "vcpu_per_gb", float),
    SettingOption("--account-concurrency", "account_concurrency", int, metavar="N"),
    SettingOption("--max-endpoints", "max_endpoints", int, metavar="N"),
    SettingOption("--warm-pool-size", "warm_pool_size", int, metavar="N"),
    SettingOption("--environment-standbys", "environment_standbys", int, metavar="N"),
    SettingOption("--invocation-timeout-s", "invocation_timeout_s", float, metavar="SECONDS"),
    SettingOption("--model-ready-timeout-s", "model_ready_timeout_s", float, metavar="SECONDS"),
    SettingOption("--ephemeral-storage-mb", "ephemeral_storage_mb", int, metavar="MB"),
    SettingOption("--max-model-size-mb", "max_model_size_mb", int, metavar="MB"),
    SettingOption("--artifact-cache-mb", "artifact_cache_mb", int, metavar="MB"),
    SettingOption("--isolation", "isolation", click.Choice(["auto", "rlimit", "off"])),
    SettingOption("--prices", "prices_file", PATH, metavar="FILE"),
    SettingOption("--no-observability", "observability", bool, value=False,
                  help="Record no CloudWatch datapoints and capture no replica output (Prometheus stays)."),
    # Security: who may call, over what.
    SettingOption("--credentials", "credentials_file", PATH, metavar="FILE",
                  help="Credentials file (principals, access keys, IAM policies; YAML or JSON): every request must "
                  "then be SigV4-signed and allowed (default: $SERVERLESS_RAY_CREDENTIALS)."),
    SettingOption("--allow-anonymous", "allow_anonymous", bool,
                  help="Serve a non-loopback --host without credentials (anyone reaching the port can run code "
                  "on the cluster)."),
    SettingOption("--tls-cert", "tls_cert", PATH, metavar="FILE",
                  help="PEM certificate: serve HTTPS on the same port (with --tls-key)."),
    SettingOption("--tls-key", "tls_key", PATH, metavar="FILE", help="PEM private key of --tls-cert."),
    SettingOption("--model-data-root", "model_data_roots", PATH, metavar="DIR", multiple=True,
                  help="With credentials, file:// and path ModelDataUrls must lie under a DIR (repeatable)."),
)


def setting_options(command: Callable) -> Callable:
    """Adds every option of ``UP_OPTIONS`` to a click command."""
    for option in reversed(UP_OPTIONS):
        command = option.decorate(command)
    return command


def settings_from(params: dict[str, Any]) -> PlatformSettings:
    """The settings the given options ask for (options not given keep the model's defaults)."""
    from pydantic import ValidationError

    from serverless_ray.cli.errors import usage_error

    given = {o.field: o.setting(params) for o in UP_OPTIONS if o.given(params)}
    try:
        return PlatformSettings(**given)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        flag = next((o.flag for o in UP_OPTIONS if o.field == field), field)
        message = first["msg"].removeprefix("Value error, ")  # a check across options names them itself
        raise usage_error(f"{flag}: {message}" if flag else message, code="InvalidOption") from None
