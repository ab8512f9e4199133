"""IAM policy evaluation: wildcards, case, NotAction/NotResource, Deny precedence, and
the document's validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serverless_ray.auth.policy import ALLOW_ALL, Decision, PolicyDocument

ALLOWED, EXPLICIT, IMPLICIT = Decision.ALLOWED, Decision.EXPLICIT_DENY, Decision.IMPLICIT_DENY
PROD_A = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-a"
DEV_A = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/dev-a"
MODEL = "arn:aws:sagemaker:us-east-1:123456789012:model/m"


def policy(*statements: dict) -> PolicyDocument:
    return PolicyDocument.model_validate({"Version": "2012-10-17", "Statement": list(statements)})


def test_invoke_only_on_prod_endpoints():
    p = policy({"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint",
                "Resource": "arn:aws:sagemaker:*:*:endpoint/prod-*"})
    assert p.evaluate("sagemaker:InvokeEndpoint", PROD_A) is ALLOWED
    assert p.evaluate("sagemaker:InvokeEndpoint", DEV_A) is IMPLICIT
    assert p.evaluate("sagemaker:CreateModel", MODEL) is IMPLICIT
    assert p.evaluate("sagemaker:CreateModel", PROD_A) is IMPLICIT


@pytest.mark.parametrize("pattern, action, expected", [
    ("sagemaker:Create*", "sagemaker:CreateModel", True),
    ("sagemaker:Create*", "sagemaker:createendpointconfig", True),  # action names ignore case
    ("SAGEMAKER:invokeendpoint", "sagemaker:InvokeEndpoint", True),
    ("sagemaker:Create*", "sagemaker:DeleteModel", False),
    ("sagemaker:*", "application-autoscaling:PutScalingPolicy", False),
    ("*", "application-autoscaling:PutScalingPolicy", True),
    ("sagemaker:Describe?odel", "sagemaker:DescribeModel", True),
    ("sagemaker:Describe?odel", "sagemaker:DescribeMmodel", False),  # ? is exactly one character
    ("sagemaker:List*", "sagemaker:ListEndpoints", True),
    ("sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointAsync", False),  # whole names only
])
def test_action_wildcards(pattern, action, expected):
    p = policy({"Effect": "Allow", "Action": [pattern], "Resource": "*"})
    assert (p.evaluate(action, "*") is ALLOWED) is expected


@pytest.mark.parametrize("pattern, resource, expected", [
    ("arn:aws:sagemaker:*:*:endpoint/prod-*", PROD_A, True),
    ("arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-?", PROD_A, True),
    ("arn:aws:sagemaker:us-east-1:123456789012:endpoint/prod-?", PROD_A + "b", False),
    ("arn:aws:sagemaker:us-east-1:123456789012:endpoint/PROD-*", PROD_A, False),  # ARNs keep case
    ("arn:aws:sagemaker:eu-west-1:*:endpoint/*", PROD_A, False),
    ("arn:aws:sagemaker:*", PROD_A, True),
    ("*", PROD_A, True),
    ("arn:aws:sagemaker:*:*:endpoint/prod-[a]", "arn:aws:sagemaker:x:y:endpoint/prod-a", False),  # no regex
    ("arn:aws:sagemaker:*:*:endpoint/prod.a", "arn:aws:sagemaker:x:y:endpoint/prodXa", False),
])
def test_resource_wildcards(pattern, resource, expected):
    p = policy({"Effect": "Allow", "Action": "*", "Resource": pattern})
    assert (p.evaluate("sagemaker:DescribeEndpoint", resource) is ALLOWED) is expected


def test_an_explicit_deny_overrides_any_allow_in_any_order():
    allow = {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "sagemaker:Delete*", "Resource": "arn:aws:sagemaker:*:*:endpoint/prod-*"}
    for p in (policy(allow, deny), policy(deny, allow)):
        assert p.evaluate("sagemaker:DeleteEndpoint", PROD_A) is EXPLICIT
        assert p.evaluate("sagemaker:DeleteEndpoint", DEV_A) is ALLOWED
        assert p.evaluate("sagemaker:InvokeEndpoint", PROD_A) is ALLOWED


def test_not_action_applies_to_every_other_action():
    p = policy({"Effect": "Allow", "NotAction": ["sagemaker:Delete*", "sagemaker:Create*"], "Resource": "*"})
    assert p.evaluate("sagemaker:InvokeEndpoint", PROD_A) is ALLOWED
    assert p.evaluate("application-autoscaling:DescribeScalableTargets", "*") is ALLOWED
    assert p.evaluate("sagemaker:DeleteEndpoint", PROD_A) is IMPLICIT
    # A Deny with NotAction denies everything but the listed actions.
    q = policy({"Effect": "Allow", "Action": "*", "Resource": "*"},
               {"Effect": "Deny", "NotAction": "sagemaker:InvokeEndpoint", "Resource": "*"})
    assert q.evaluate("sagemaker:InvokeEndpoint", PROD_A) is ALLOWED
    assert q.evaluate("sagemaker:CreateModel", MODEL) is EXPLICIT


def test_not_resource_applies_to_every_other_resource():
    p = policy({"Effect": "Allow", "Action": "sagemaker:*", "NotResource": "arn:aws:sagemaker:*:*:endpoint/prod-*"})
    assert p.evaluate("sagemaker:DeleteEndpoint", DEV_A) is ALLOWED
    assert p.evaluate("sagemaker:DeleteEndpoint", PROD_A) is IMPLICIT


def test_nothing_applies_means_denied():
    assert policy().evaluate("sagemaker:ListModels", "*") is IMPLICIT
    assert ALLOW_ALL.evaluate("anything:AtAll", "arn:x") is ALLOWED


def test_a_single_statement_object_and_single_strings_are_lists_of_one():
    p = PolicyDocument.model_validate({"Statement": {"Effect": "Allow", "Action": "sagemaker:ListModels",
                                                     "Resource": "*"}})
    assert p.evaluate("sagemaker:ListModels", "*") is ALLOWED


@pytest.mark.parametrize("statement, says", [
    ({"Effect": "Allow", "Resource": "*"}, "exactly one of Action and NotAction"),
    ({"Effect": "Allow", "Action": "*", "NotAction": "x:y", "Resource": "*"}, "exactly one of Action and NotAction"),
    ({"Effect": "Allow", "Action": "*"}, "exactly one of Resource and NotResource"),
    ({"Effect": "Permit", "Action": "*", "Resource": "*"}, "Effect"),
    ({"Effect": "Allow", "Action": "InvokeEndpoint", "Resource": "*"}, "is not 'service:Action'"),
    ({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}, "Condition is not supported"),
    ({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}, "Principal is not supported"),
    ({"Effect": "Allow", "Action": [], "Resource": "*"}, "at least 1"),
])
def test_malformed_statements_are_refused_with_a_reason(statement, says):
    with pytest.raises(ValidationError, match=says.replace("(", r"\(")):
        policy(statement)
