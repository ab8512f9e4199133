"""The command line's pure parts: options mapped onto settings, durations, and every
error turned into one line with a code and an exit status."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from serverless_ray.admin_client import AdminCallError
from serverless_ray.billing.prices import PriceTableError
from serverless_ray.cli import main
from serverless_ray.cli.app import parse_command
from serverless_ray.cli.errors import CliError, as_cli_error, report
from serverless_ray.cli.options import UP_OPTIONS, settings_from
from serverless_ray.cli.render import parse_duration
from serverless_ray.settings import PlatformSettings


def test_every_up_option_is_a_settings_field_and_only_given_ones_are_passed():
    assert all(option.field in PlatformSettings.model_fields for option in UP_OPTIONS)
    name, params = parse_command(["up", "--port", "9000", "--scale-to-zero-after", "5", "--prices", "p.toml"])
    settings = settings_from(params)
    assert (name, settings.port, settings.scale_to_zero_after_s, settings.host) == ("up", 9000, 5.0, "127.0.0.1")
    assert str(settings.prices_file) == "p.toml" and settings.warm_pool_size == PlatformSettings().warm_pool_size
    with pytest.raises(CliError, match=r"--port: Input should be less than or equal to 65535") as raised:
        settings_from(parse_command(["up", "--port", "70000"])[1])
    assert (raised.value.code, raised.value.exit_code) == ("InvalidOption", 2)


def test_security_and_observability_options_map_onto_their_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("SERVERLESS_RAY_CREDENTIALS", raising=False)
    settings = settings_from(parse_command([
        "up", "--host", "0.0.0.0", "--allow-anonymous", "--no-observability",
        "--model-data-root", str(tmp_path / "a"), "--model-data-root", str(tmp_path / "b")])[1])
    assert (settings.allow_anonymous, settings.observability) == (True, False)
    assert settings.model_data_roots == (tmp_path / "a", tmp_path / "b")
    defaults = settings_from(parse_command(["up"])[1])
    assert (defaults.allow_anonymous, defaults.observability, defaults.model_data_roots) == (False, True, ())
    with pytest.raises(CliError) as refused:  # a check across options names the options itself
        settings_from(parse_command(["up", "--host", "0.0.0.0"])[1])
    assert refused.value.message.startswith("refusing to listen on 0.0.0.0 without credentials")
    assert "--credentials FILE" in refused.value.message and refused.value.exit_code == 2
    with pytest.raises(CliError, match="cannot read the credentials file"):
        settings_from(parse_command(["up", "--credentials", str(tmp_path / "missing.yaml")])[1])


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800
    for bad in ("1x", "h", "0m", ""):
        with pytest.raises(CliError):
            parse_duration(bad)


def test_errors_become_one_line_with_their_code_and_status():
    aws = ClientError({"Error": {"Code": "ValidationError", "Message": "Endpoint x\nnot found."}}, "InvokeEndpoint")
    for exc, expected, status in [
        (aws, "serverless-ray: ValidationError: Endpoint x not found.", 1),
        (EndpointConnectionError(endpoint_url="http://h:1/"), "serverless-ray: PlatformUnreachable: no ", 3),
        (ConnectionError("refused"), "serverless-ray: PlatformUnreachable: no serverless-ray platform answers at "
                                     "http://h:1", 3),
        (AdminCallError("ValidationException", "bad", 400), "serverless-ray: ValidationException: bad", 1),
        (PriceTableError("the price file p is not valid TOML"), "serverless-ray: InvalidPriceTable: the price", 2),
        (KeyboardInterrupt(), "serverless-ray: Interrupted:", 130),
        (RuntimeError("boom"), "serverless-ray: InternalError: RuntimeError: boom", 1),
    ]:
        stream = io.StringIO()
        assert report(as_cli_error(exc, "http://h:1"), stream, exc) == status
        assert stream.getvalue().startswith(expected) and stream.getvalue().count("\n") == 1, stream.getvalue()


def test_usage_errors_are_one_line_too(capsys):
    assert main(["invoke"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["cost", "--since", "soon"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("serverless-ray: InvalidArgument: ") for line in err)
    assert "see `serverless-ray invoke --help`" in err[0]
    assert main(["--help"]) == 0 and "benchmark" in capsys.readouterr().out


def test_benchmark_progress_follows_one_configuration_after_another():
    from types import SimpleNamespace

    from serverless_ray.cli import benchmark_cmd

    progress = benchmark_cmd.RichProgress()
    with progress:
        for index in (1, 2, 3):  # each replaces the previous configuration's phase line
            progress.scenario(index, 3, SimpleNamespace(label=f"{index} GB"))
            progress.phase("warm calls", 0, 5)
            progress.advance(3)
    assert [task.description for task in progress._bar.tasks] == ["configuration 3/3", "3 GB: warm calls"]


def test_the_platforms_own_operations_are_signed_with_the_standard_chain_or_the_given_keys(monkeypatch):
    from serverless_ray.admin_client import AdminClient
    from serverless_ray.declarative.clients import ANONYMOUS_KEY, PlatformAccess

    def credential(client: AdminClient) -> str:
        headers = client._signed(b"{}", {"X-Amz-Target": "ServerlessRay.GetCostAndUsage"})
        return headers["Authorization"].split("Credential=")[1].split(",")[0]

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRONMT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-environment")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert credential(AdminClient("http://h:1")).startswith("AKIAFROMTHEENVIRONMT/")
    assert credential(AdminClient("http://h:1")).endswith("/eu-west-1/sagemaker/aws4_request")
    given = AdminClient("http://h:1", PlatformAccess("AKIAGIVENKEY00000001", "s", "us-east-1"))
    assert credential(given).startswith("AKIAGIVENKEY00000001/")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert credential(AdminClient("http://h:1")).startswith(f"{ANONYMOUS_KEY}/")
