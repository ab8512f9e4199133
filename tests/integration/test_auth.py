"""Authentication and authorization end to end: entry points started with a credentials
file (one over HTTP, one over HTTPS) on the session's platform, driven by real boto3, the
AWS CLI and the SageMaker SDK. Signed calls work; every refusal comes back through
botocore with AWS's code and creates, runs and counts nothing."""

from __future__ import annotations

import datetime
import http.client
import json
import os
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.auth
import pytest
import trustme
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, SSLError
from support import Deployer, metric_value, unique, wait_in_service
from test_aws_cli import AWS, Cli

from serverless_ray.auth.credentials import internal_principal
from serverless_ray.cli import main
from serverless_ray.declarative import EndpointDeclaration, apply_declarations, in_cluster_access
from serverless_ray.decorator import EndpointHandle
from serverless_ray.settings import PlatformSettings

ACCOUNT = "123456789012"
KEYS = {
    "admin": ("AKIAAUTHTESTADMIN001", "admin-secret-for-tests-0123456789"),
    "prod-client": ("AKIAAUTHTESTPROD0001", "prod-client-secret-0123456789ab"),
    "builder": ("AKIAAUTHTESTBUILD001", "builder-secret-for-tests-012345"),
}
POLICIES = {
    "admin": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    "prod-client": [{"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
                     "Resource": "arn:aws:sagemaker:*:*:endpoint/prod-*"}],
    "builder": [{"Effect": "Allow", "Action": ["sagemaker:*"], "Resource": "*"},
                {"Effect": "Deny", "Action": "sagemaker:CreateModel", "Resource": "arn:aws:sagemaker:*:*:model/locked-*"}],
}
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=90)


class AuthGateway:
    """An entry point with credentials, on the session's platform."""

    def __init__(self, handle, url: str, settings: PlatformSettings, ca: str | None = None) -> None:
        self.handle, self.url, self.settings, self.ca = handle, url, settings, ca

    def client(self, service: str, who: str | None = "admin", *, keys: tuple[str, str] | None = None,
               config: Config = NO_RETRIES, verify=None):
        if who is None and keys is None:
            config = config.merge(Config(signature_version=UNSIGNED))
        key_id, secret = keys or KEYS.get(who, (None, None))
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=key_id,
                            aws_secret_access_key=secret, config=config,
                            verify=verify if verify is not None else self.ca)

    def metrics(self) -> str:
        return urllib.request.urlopen(f"{self.url}/metrics", timeout=10).read().decode()


def _settings(platform, tmp: Path, roots: list[Path], **extra) -> PlatformSettings:
    credentials = tmp / "credentials.json"
    credentials.write_text(json.dumps({"principals": [
        {"name": name, "access_key_id": key_id, "secret_access_key": secret,
         "policy": {"Version": "2012-10-17", "Statement": POLICIES[name]}}
        for name, (key_id, secret) in KEYS.items()]}))
    base = platform.platform.settings.model_dump(exclude={"credentials", "internal_principal"})
    return PlatformSettings.model_validate({
        **base, "port": 0, "warm_pool_size": 0, "credentials_file": credentials,
        "model_data_roots": roots, "internal_principal": internal_principal(), **extra})


@pytest.fixture(scope="module")
def model_root(model_urls) -> Path:
    return Path(model_urls["echo"]).parent


@pytest.fixture(scope="module")
def gateway(platform, tmp_path_factory, model_root) -> AuthGateway:
    settings = _settings(platform, tmp_path_factory.mktemp("auth"), [model_root])
    handle, port = platform.platform.add_gateway(unique("auth"), settings=settings)
    return AuthGateway(handle, f"http://127.0.0.1:{port}", settings)


@pytest.fixture(scope="module")
def endpoints(gateway, model_urls):
    """prod-… and dev-… endpoints of the echo model, created through the authenticated
    entry point by the admin principal."""
    deployer = Deployer(gateway.client("sagemaker"))
    config = deployer.config(deployer.model(model_urls["echo"]))
    names = {"prod": deployer.endpoint(config, name=unique("prod-a"), wait=False),
             "dev": deployer.endpoint(config, name=unique("dev-a"), wait=False)}
    for name in names.values():
        wait_in_service(deployer.sm, name)
    yield names
    deployer.cleanup()


def _code(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response["Error"]["Code"], refused.value.response["Error"]["Message"]


def _invoke(runtime, name: str, body: bytes = b'{"x": 1}') -> dict:
    reply = runtime.invoke_endpoint(EndpointName=name, Body=body, ContentType="application/json")
    return json.loads(reply["Body"].read())


def _absent(sm, model: str) -> bool:
    code, _ = _code(lambda: sm.describe_model(ModelName=model))
    return code == "ValidationException"


def _create_model(sm, name: str, url: str = "s3://models/echo/model.tar.gz"):
    return sm.create_model(ModelName=name, PrimaryContainer={"Image": "sagemaker-inference:test", "ModelDataUrl": url})


def _invocations(gateway: AuthGateway, endpoint: str) -> float:
    return metric_value(gateway.metrics(), "serverless_ray_invocations_total",
                        endpoint_name=endpoint, variant_name="AllTraffic") or 0.0


def test_signed_calls_work_end_to_end(gateway, endpoints):
    sm, runtime = gateway.client("sagemaker"), gateway.client("sagemaker-runtime")
    assert {e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]} >= set(endpoints.values())
    assert _invoke(runtime, endpoints["prod"])["body"] == '{"x": 1}'
    aas = gateway.client("application-autoscaling")
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] is not None
    # Probes and scrapers need no signature.
    assert urllib.request.urlopen(f"{gateway.url}/healthz", timeout=10).status == 200
    assert "serverless_ray_invocations_total" in gateway.metrics()


def test_a_principal_allowed_only_to_invoke_prod_endpoints(gateway, endpoints):
    runtime, sm = gateway.client("sagemaker-runtime", "prod-client"), gateway.client("sagemaker", "prod-client")
    assert _invoke(runtime, endpoints["prod"])["body"] == '{"x": 1}'
    before = _invocations(gateway, endpoints["dev"])
    code, message = _code(lambda: _invoke(runtime, endpoints["dev"]))
    assert code == "AccessDeniedException"
    assert message == (f"User: arn:aws:iam::{ACCOUNT}:user/prod-client is not authorized to perform: "
                       f"sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/"
                       f"{endpoints['dev']} because no identity-based policy allows the sagemaker:InvokeEndpoint action")
    assert _invocations(gateway, endpoints["dev"]) == before  # the refused call ran nothing
    name = unique("m")
    code, message = _code(lambda: _create_model(sm, name))
    assert code == "AccessDeniedException" and f"sagemaker:CreateModel on resource: " \
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/{name}" in message
    assert _absent(gateway.client("sagemaker"), name)
    assert _code(lambda: sm.list_endpoints())[0] == "AccessDeniedException"
    aas = gateway.client("application-autoscaling", "prod-client")
    assert _code(lambda: aas.describe_scalable_targets(ServiceNamespace="sagemaker"))[0] == "AccessDeniedException"


def test_a_deny_statement_overrides_an_allow(gateway):
    sm, admin = gateway.client("sagemaker", "builder"), gateway.client("sagemaker")
    locked, free = unique("locked"), unique("free")
    code, message = _code(lambda: _create_model(sm, locked))
    assert code == "AccessDeniedException" and message.endswith("with an explicit deny in an identity-based policy")
    assert _absent(admin, locked)
    _create_model(sm, free)  # the Allow still holds elsewhere
    sm.delete_model(ModelName=free)


def _refusals(gateway, endpoint: str) -> dict[str, tuple[str, str]]:
    """Each refused call: a CreateModel (whose model must then not exist) and an InvokeEndpoint."""
    admin_key, admin_secret = KEYS["admin"]
    outcomes = {}

    def attempt(label: str, *, who: str | None = "admin", keys=None, hook=None):
        sm = gateway.client("sagemaker", who, keys=keys)
        runtime = gateway.client("sagemaker-runtime", who, keys=keys)
        if hook:
            sm.meta.events.register("before-send", hook)
            runtime.meta.events.register("before-send", hook)
        name = unique("refused")
        outcomes[label] = _code(lambda: _create_model(sm, name))
        outcomes[label + " (invoke)"] = _code(lambda: _invoke(runtime, endpoint))
        assert _absent(gateway.client("sagemaker"), name), label

    attempt("unsigned", who=None)

    def malformed(request, **_):
        request.headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential={admin_key}/20240101/us-east-1/sagemaker"

    attempt("malformed", hook=malformed)
    attempt("unknown key", keys=("AKIANOBODYKNOWSTHIS1", admin_secret))
    attempt("wrong secret", keys=(admin_key, "not-the-admin-secret-0123456789"))

    def tampered(request, **_):
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        # Same length, so the signed Content-Length still fits: only the signature can tell.
        request.body = body.replace(b"refused-", b"TAMPERD-").replace(b'{"x": 1}', b'{"x": 2}')

    attempt("tampered body", hook=tampered)
    return outcomes


def test_every_refusal_comes_back_through_botocore_with_its_code_and_leaves_nothing(gateway, endpoints):
    before = _invocations(gateway, endpoints["prod"])
    outcomes = _refusals(gateway, endpoints["prod"])
    codes = {label: code for label, (code, _) in outcomes.items()}
    assert codes == {
        "unsigned": "MissingAuthenticationTokenException",
        "unsigned (invoke)": "MissingAuthenticationTokenException",
        "malformed": "IncompleteSignatureException",
        "malformed (invoke)": "IncompleteSignatureException",
        "unknown key": "UnrecognizedClientException",
        "unknown key (invoke)": "UnrecognizedClientException",
        "wrong secret": "InvalidSignatureException",
        "wrong secret (invoke)": "InvalidSignatureException",
        "tampered body": "InvalidSignatureException",
        "tampered body (invoke)": "InvalidSignatureException",
    }
    assert outcomes["unknown key"][1] == "The security token included in the request is invalid."
    assert outcomes["wrong secret"][1].startswith("The request signature we calculated does not match")
    assert _invocations(gateway, endpoints["prod"]) == before  # no refused call reached the model
    for _, message in outcomes.values():  # no secret in any answer
        assert not any(secret in message for _, secret in KEYS.values())


def test_a_request_signed_ten_minutes_ago_is_refused(gateway, endpoints, monkeypatch):
    sm, runtime = gateway.client("sagemaker"), gateway.client("sagemaker-runtime")
    ten_minutes_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    name = unique("late")
    with monkeypatch.context() as m:
        m.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: ten_minutes_ago)
        code, message = _code(lambda: _create_model(sm, name))
        assert code == "InvalidSignatureException" and message.startswith("Signature expired")
        assert _code(lambda: _invoke(runtime, endpoints["prod"]))[0] == "InvalidSignatureException"
    assert _absent(sm, name)


def test_local_model_data_is_fenced_to_the_model_data_roots(gateway, model_root, model_urls, tmp_path):
    sm = gateway.client("sagemaker")
    outside = shutil.copy(model_urls["echo"], tmp_path / "echo.tar.gz")
    for url in (str(outside), f"file://{outside}", "/etc/passwd"):
        name = unique("fenced")
        code, message = _code(lambda: _create_model(sm, name, url))
        assert code == "ValidationException" and str(model_root) in message
        assert _absent(sm, name)
    inside = unique("inside")
    _create_model(sm, inside, model_urls["echo"])
    sm.delete_model(ModelName=inside)


def test_the_aws_cli_signs_with_keys_from_the_environment_or_a_profile(gateway, endpoints, tmp_path, s3_server):
    assert shutil.which(AWS)
    cli = Cli(tmp_path, gateway.url, s3_server)
    cli.env["AWS_ACCESS_KEY_ID"], cli.env["AWS_SECRET_ACCESS_KEY"] = KEYS["admin"]
    listed = cli("sagemaker", "list-endpoints", "--max-results", "100")["Endpoints"]
    assert set(endpoints.values()) <= {e["EndpointName"] for e in listed}

    # A profile holding the prod client's keys.
    del cli.env["AWS_ACCESS_KEY_ID"], cli.env["AWS_SECRET_ACCESS_KEY"]
    key_id, secret = KEYS["prod-client"]
    Path(cli.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[prod]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    (tmp_path / "body.json").write_text('{"x": 1}')
    out = tmp_path / "out.json"
    cli("sagemaker-runtime", "invoke-endpoint", "--endpoint-name", endpoints["prod"], "--profile", "prod",
        "--content-type", "application/json", "--body", f"fileb://{tmp_path / 'body.json'}", str(out))
    assert json.loads(out.read_text())["body"] == '{"x": 1}'
    refused = cli.fails("sagemaker", "create-model", "--model-name", unique("m"), "--profile", "prod",
                        "--primary-container", "Image=i,ModelDataUrl=s3://models/echo/model.tar.gz")
    assert "(AccessDeniedException)" in refused and "user/prod-client" in refused
    Path(cli.env["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        f"[prod]\naws_access_key_id = {key_id}\naws_secret_access_key = wrong-secret-0123456789\n")
    refused = cli.fails("sagemaker", "list-endpoints", "--profile", "prod")
    assert "(InvalidSignatureException)" in refused and "wrong-secret" not in refused


def test_the_sagemaker_sdk_predicts_with_a_signed_session(gateway, endpoints, monkeypatch):
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", gateway.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", gateway.url)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    key_id, secret = KEYS["prod-client"]
    boto_session = boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1")
    session = sagemaker.Session(boto_session=boto_session, sagemaker_config={
        "SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {
            "TelemetryOptOut": True, "Session": {"DefaultS3Bucket": "sagemaker-artifacts"}}}}})
    predictor = Predictor(endpoints["prod"], sagemaker_session=session, serializer=JSONSerializer(),
                          deserializer=JSONDeserializer())
    assert predictor.predict({"x": 3})["body"] == '{"x": 3}'
    denied = Predictor(endpoints["dev"], sagemaker_session=session, serializer=JSONSerializer())
    with pytest.raises(ClientError, match="AccessDeniedException"):
        denied.predict({"x": 3})


def test_serverless_ray_apply_signs_with_the_standard_credential_chain(gateway, model_root, model_urls, monkeypatch,
                                                                        capsys):
    name = unique("applied")
    endpoints_file = model_root / f"{name}.yaml"  # model data relative to it: inside the fence
    endpoints_file.write_text(json.dumps({"endpoints": [
        {"name": name, "model_data": Path(model_urls["echo"]).name, "memory_size_mb": 1024}]}))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOBODYKNOWSTHIS1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "whatever-secret-0123456789")
    assert main(["apply", str(endpoints_file), "--url", gateway.url, "--no-wait"]) == 1
    assert "serverless-ray: UnrecognizedClientException: " in capsys.readouterr().err
    admin_key, admin_secret = KEYS["admin"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", admin_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", admin_secret)
    assert main(["apply", str(endpoints_file), "--url", gateway.url, "--no-wait"]) == 0
    sm = gateway.client("sagemaker")
    try:
        assert sm.describe_endpoint(EndpointName=name)["EndpointName"] == name
    finally:
        _delete_endpoint(sm, name)


def test_the_command_line_signs_its_calls_with_the_standard_credential_chain(gateway, endpoints, monkeypatch, capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        status = main([*argv, "--url", gateway.url])
        out, err = capsys.readouterr()
        return status, out, err

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS["admin"][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["admin"][1])
    status, out, _ = run("invoke", endpoints["prod"], "--body", '{"x": 3}')
    assert status == 0 and json.loads(out)["body"] == '{"x": 3}'
    status, out, _ = run("endpoints", "--json")
    assert status == 0 and set(endpoints.values()) <= {e["EndpointName"] for e in json.loads(out)["Endpoints"]}
    status, out, _ = run("cost", "--json", "--endpoint", endpoints["prod"])
    assert status == 0 and json.loads(out)["Total"]["Invocations"] >= 0
    # The prod client may invoke, and nothing else: the platform's own operations are refused too.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS["prod-client"][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["prod-client"][1])
    assert run("invoke", endpoints["prod"], "--body", '{"x": 4}')[0] == 0
    status, _, err = run("cost", "--json")
    assert status == 1 and err.startswith("serverless-ray: AccessDeniedException: ") and "serverless-ray:GetCostAndUsage" in err
    status, _, err = run("logs", endpoints["prod"])
    assert status == 1 and err.startswith("serverless-ray: AccessDeniedException: ") and "logs:FilterLogEvents" in err


def test_in_cluster_callers_sign_with_the_internal_key_unfenced(gateway, model_urls, endpoints, tmp_path):
    outside = tmp_path / "echo"
    shutil.copytree(Path(__file__).parent / "models" / "echo", outside)
    name = unique("internal")
    declaration = EndpointDeclaration(name=name, model_data=str(outside), memory_size_mb=1024)
    apply_declarations([declaration], gateway.url, echo=lambda _: None, access=in_cluster_access(gateway.settings))
    sm = gateway.client("sagemaker")
    try:
        assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        # Python handles call the gateway actor directly, with no HTTP and no signature.
        assert EndpointHandle(endpoints["prod"], gateway.handle).invoke_json({"x": 5})["body"] == '{"x": 5}'
    finally:
        _delete_endpoint(sm, name)


def _delete_endpoint(sm, name: str) -> None:
    wait_in_service(sm, name)  # an endpoint still being created cannot be deleted
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


@pytest.fixture(scope="module")
def tls_gateway(platform, tmp_path_factory, model_root) -> AuthGateway:
    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    for blob in issued.cert_chain_pems[1:]:
        blob.write_to_path(str(tmp / "cert.pem"), append=True)
    issued.private_key_pem.write_to_path(str(tmp / "key.pem"))
    settings = _settings(platform, tmp, [model_root], tls_cert=tmp / "cert.pem", tls_key=tmp / "key.pem")
    handle, port = platform.platform.add_gateway(unique("tls"), settings=settings)
    return AuthGateway(handle, f"https://127.0.0.1:{port}", settings, ca=str(tmp / "ca.pem"))


def test_https_with_a_certificate_authority_made_at_test_time(tls_gateway, endpoints, monkeypatch, capsys):
    sm = tls_gateway.client("sagemaker")
    assert set(endpoints.values()) <= {e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]}
    runtime = tls_gateway.client("sagemaker-runtime", "prod-client")
    assert _invoke(runtime, endpoints["prod"])["body"] == '{"x": 1}'
    assert _code(lambda: tls_gateway.client("sagemaker", "prod-client").list_endpoints())[0] == "AccessDeniedException"
    # Without the authority the certificate is not trusted; plain HTTP gets no answer.
    with pytest.raises(SSLError):
        tls_gateway.client("sagemaker", verify=True).list_endpoints()
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(tls_gateway.url.replace("https://", "http://") + "/healthz", timeout=10)
    trusted = ssl.create_default_context(cafile=tls_gateway.ca)
    assert urllib.request.urlopen(f"{tls_gateway.url}/healthz", context=trusted, timeout=10).status == 200
    # The command line trusts the authority AWS_CA_BUNDLE names, as boto3 does (its own operations too).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS["admin"][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["admin"][1])
    monkeypatch.setenv("AWS_CA_BUNDLE", tls_gateway.ca)
    capsys.readouterr()
    assert main(["endpoints", "--json", "--url", tls_gateway.url]) == 0, capsys.readouterr().err
    assert set(endpoints.values()) <= {e["EndpointName"] for e in json.loads(capsys.readouterr().out)["Endpoints"]}


def test_no_secret_in_logs_metrics_or_state(gateway, endpoints):
    """After signed calls and every kind of refusal, no secret key (the principals' nor the
    in-cluster one) is in the metrics, in any log of the Ray cluster or in the state."""
    _refusals(gateway, endpoints["prod"])
    _invoke(gateway.client("sagemaker-runtime", "prod-client"), endpoints["prod"])
    secrets = [secret.encode() for _, secret in KEYS.values()] + [gateway.settings.internal_principal.secret().encode()]
    assert not any(secret in gateway.metrics().encode() for secret in secrets)
    logs = [p for p in Path(os.environ["RAY_TMPDIR"]).glob("**/logs/**/*") if p.is_file()]
    assert logs  # the cluster's logs are where this test looks for them
    state = [p for p in gateway.settings.state_dir.glob("**/*") if p.is_file()]
    for path in logs + state:
        content = path.read_bytes()
        assert not any(secret in content for secret in secrets), path
