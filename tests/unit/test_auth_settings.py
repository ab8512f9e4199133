"""Safe defaults: loopback unless credentials (or an explicit --allow-anonymous); the
credentials file read once, from the option or the environment; TLS files checked at
start; secrets in no message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from serverless_ray.auth.credentials import CREDENTIALS_ENV, CredentialsError, load_credentials
from serverless_ray.cli import main
from serverless_ray.settings import PlatformSettings, is_loopback

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "deployments" / "credentials.example.yaml"
SECRET = "s3cr3t-never-shown-0123456789"


def write_credentials(path: Path, **principal) -> Path:
    entry = {"name": "ops", "access_key_id": "AKIAOPS0000000000001", "secret_access_key": SECRET,
             "policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, **principal}
    path.write_text(json.dumps({"principals": [entry]}))
    return path


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("gateway.internal", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_non_loopback_host_needs_credentials_or_an_explicit_allow_anonymous(tmp_path, monkeypatch):
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    with pytest.raises(ValidationError, match="refusing to listen on 0.0.0.0 without credentials.*--credentials FILE"):
        PlatformSettings(host="0.0.0.0")
    assert PlatformSettings(host="0.0.0.0", allow_anonymous=True).credentials is None
    settings = PlatformSettings(host="0.0.0.0", credentials_file=write_credentials(tmp_path / "c.json"))
    assert [p.name for p in settings.credentials.principals] == ["ops"]


def test_the_environment_names_the_credentials_file(tmp_path, monkeypatch):
    monkeypatch.setenv(CREDENTIALS_ENV, str(write_credentials(tmp_path / "c.json")))
    settings = PlatformSettings(host="0.0.0.0")
    assert settings.credentials_file == tmp_path / "c.json" and settings.credentials is not None


def test_up_refuses_to_start_exposed_and_says_how_to_configure_credentials(capsys, monkeypatch):
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    assert main(["up", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "without credentials" in err and "--credentials FILE" in err and "--allow-anonymous" in err


def test_the_example_credentials_file_is_valid_yaml_of_principals():
    credentials = load_credentials(EXAMPLE)
    assert len(credentials.principals) >= 2
    assert len({p.access_key_id for p in credentials.principals}) == len(credentials.principals)


@pytest.mark.parametrize("change, says", [
    ({"secret_access_key": "short"}, "at least 16 characters"),
    ({"access_key_id": "no spaces allowed here"}, "access_key_id"),
    ({"policy": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}]}},
     "Condition is not supported"),
])
def test_an_invalid_credentials_file_names_the_field_and_never_the_secret(tmp_path, change, says):
    path = write_credentials(tmp_path / "c.json", **change)
    with pytest.raises(CredentialsError) as refused:
        load_credentials(path)
    assert says in str(refused.value) and str(path) in str(refused.value)
    assert SECRET not in str(refused.value)


def test_duplicate_access_keys_are_refused(tmp_path):
    path = tmp_path / "c.json"
    entry = {"access_key_id": "AKIAOPS0000000000001", "secret_access_key": SECRET, "policy": {"Statement": []}}
    path.write_text(json.dumps({"principals": [{"name": "a", **entry}, {"name": "b", **entry}]}))
    with pytest.raises(CredentialsError, match="access_key_id"):
        load_credentials(path)


def test_secrets_appear_in_no_repr_of_the_settings(tmp_path):
    settings = PlatformSettings(credentials_file=write_credentials(tmp_path / "c.json"))
    from serverless_ray.platform import Platform

    platform = Platform(settings)  # makes the in-cluster key; starts nothing
    internal = platform.settings.internal_principal
    assert internal is not None and internal.secret() not in repr(platform.settings)
    assert SECRET not in repr(platform.settings) and SECRET not in str(platform.settings)


def test_tls_needs_both_files_and_they_must_load(tmp_path):
    with pytest.raises(ValidationError, match="--tls-cert and --tls-key go together"):
        PlatformSettings(tls_cert=tmp_path / "cert.pem")
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ValidationError, match="cannot load the TLS certificate"):
        PlatformSettings(tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem")


def test_tls_files_make_the_gateways_https(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    shutil.copy(tmp_path / "both.pem", tmp_path / "key.pem")
    settings = PlatformSettings(tls_cert=tmp_path / "both.pem", tls_key=tmp_path / "key.pem")
    assert settings.scheme == "https"
