"""What the check remembers between requests (signers and signing keys, policy
decisions) never decides a request it was not made for: a changed secret, date, policy
or credentials file is checked anew, and an explicit Deny still wins."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.credentials import load_credentials
from serverless_ray.auth.operations import Arns
from serverless_ray.auth.policy import CompiledPolicy, Decision, PolicyDocument
from serverless_ray.auth.sigv4 import Signers, parse_authorization, verify_signature
from serverless_ray.errors import AccessDenied, InvalidSignature
from signed_requests import KEY_ID, SECRET, SIGNED_AT, SIGNED_AT_EPOCH, sign

OTHER_SECRET = "another-secret-key-0123456789abcdef"
PROD_A = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-a"
DEV_A = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/dev-a"


def verify(request, secret: str, signers: Signers) -> None:
    header = parse_authorization(request.header("authorization"))
    verify_signature(request, header, request.header("x-amz-date"), secret, signers)


def test_a_signer_is_kept_per_secret_so_a_changed_secret_is_checked_with_the_new_one():
    signers = Signers()
    by_old, by_new = (sign("POST", "https://gw.test/", body=b"{}", secret=s) for s in (SECRET, OTHER_SECRET))
    verify(by_old, SECRET, signers)
    with pytest.raises(InvalidSignature):
        verify(by_old, OTHER_SECRET, signers)
    verify(by_new, OTHER_SECRET, signers)
    with pytest.raises(InvalidSignature):
        verify(by_new, SECRET, signers)
    assert signers.get(KEY_ID, SECRET, "sagemaker", "us-east-1") is not signers.get(
        KEY_ID, OTHER_SECRET, "sagemaker", "us-east-1")


def test_signing_keys_are_kept_by_date():
    signers = Signers()
    today = sign("POST", "https://gw.test/", body=b"{}")
    tomorrow = sign("POST", "https://gw.test/", body=b"{}", at=SIGNED_AT + datetime.timedelta(days=1))
    for _ in range(2):
        verify(today, SECRET, signers)
        verify(tomorrow, SECRET, signers)
    # Today's signature with tomorrow's date (and scope) is checked with tomorrow's key: refused.
    moved = dataclasses.replace(today, headers=[
        (n, tomorrow.header(n.lower())) if n.lower() in ("x-amz-date", "authorization") else (n, v)
        for n, v in today.headers])
    moved = dataclasses.replace(moved, headers=[
        (n, v.replace(parse_authorization(v).signature, parse_authorization(today.header("authorization")).signature))
        if n.lower() == "authorization" else (n, v) for n, v in moved.headers])
    with pytest.raises(InvalidSignature):
        verify(moved, SECRET, signers)


def test_signers_are_bounded():
    signers = Signers()
    for i in range(Signers.LIMIT + 5):
        signers.get(f"AKIAKEY{i:013d}", SECRET, "sagemaker", "us-east-1")
    assert len(signers._signers) <= Signers.LIMIT


def _policy(*statements: dict) -> CompiledPolicy:
    return PolicyDocument.model_validate({"Statement": list(statements)}).compile()


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
DENY_PROD = {"Effect": "Deny", "Action": "sagemaker:InvokeEndpoint", "Resource": "arn:aws:sagemaker:*:*:endpoint/prod-*"}


def test_an_explicit_deny_still_wins_once_decisions_are_cached():
    policy = _policy(ALLOW_ALL, DENY_PROD)
    for _ in range(3):
        assert policy.evaluate("sagemaker:InvokeEndpoint", PROD_A) is Decision.EXPLICIT_DENY
        assert policy.evaluate("sagemaker:InvokeEndpoint", DEV_A) is Decision.ALLOWED
        assert policy.evaluate("sagemaker:DescribeEndpoint", PROD_A) is Decision.ALLOWED
    assert policy.evaluate.cache_info().hits >= 6


def test_decisions_are_cached_per_policy_not_per_action_and_resource():
    allowing, denying = _policy(ALLOW_ALL), _policy(ALLOW_ALL, DENY_PROD)
    assert allowing.evaluate("sagemaker:InvokeEndpoint", PROD_A) is Decision.ALLOWED
    assert denying.evaluate("sagemaker:InvokeEndpoint", PROD_A) is Decision.EXPLICIT_DENY
    assert allowing.evaluate("sagemaker:InvokeEndpoint", PROD_A) is Decision.ALLOWED


def test_the_decision_cache_is_bounded_and_evicted_decisions_are_evaluated_again():
    policy = _policy(ALLOW_ALL, DENY_PROD)
    names = [f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-{i}" for i in range(CompiledPolicy.CACHED + 10)]
    assert all(policy.evaluate("sagemaker:InvokeEndpoint", n) is Decision.EXPLICIT_DENY for n in names)
    assert policy.evaluate.cache_info().currsize == CompiledPolicy.CACHED
    assert policy.evaluate("sagemaker:InvokeEndpoint", names[0]) is Decision.EXPLICIT_DENY


def _credentials_file(path, statement: dict):
    path.write_text(json.dumps({"principals": [{
        "name": "alice", "access_key_id": KEY_ID, "secret_access_key": SECRET, "policy": {"Statement": [statement]}}]}))
    return path


def _authenticator(path) -> Authenticator:
    return Authenticator(load_credentials(path).principals, arns=Arns("us-east-1", "123456789012"),
                         clock=lambda: SIGNED_AT_EPOCH)


def test_a_changed_credentials_file_is_not_answered_from_the_old_cache(tmp_path):
    request = sign("POST", "https://gw.test/endpoints/prod-a/invocations", body=b"[1]")

    def authorize(auth: Authenticator):
        return auth.authorize(auth.admit(dataclasses.replace(request, body=b"")), request, request.raw_path)

    path = _credentials_file(tmp_path / "credentials.json", ALLOW_ALL)
    before = _authenticator(path)
    for _ in range(2):
        assert authorize(before).operation.action == "sagemaker:InvokeEndpoint"
    _credentials_file(path, DENY_PROD)  # the same key, now denied: a gateway started after this reads it
    with pytest.raises(AccessDenied, match="with an explicit deny"):
        authorize(_authenticator(path))
    path.write_text(path.read_text().replace(SECRET, OTHER_SECRET))  # and with another secret
    with pytest.raises(InvalidSignature):
        authorize(_authenticator(path))
