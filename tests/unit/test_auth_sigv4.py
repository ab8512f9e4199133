"""SigV4 verification against botocore's signer: whatever botocore signs verifies, and a
change to any byte of the method, path, query, a signed header or the body does not."""

from __future__ import annotations

import dataclasses
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serverless_ray.auth.authenticator import Authenticator
from serverless_ray.auth.credentials import Principal
from serverless_ray.auth.operations import Arns
from serverless_ray.auth.policy import ALLOW_ALL
from botocore.auth import SigV4Auth
from botocore.credentials import ReadOnlyCredentials

from serverless_ray.auth.sigv4 import (
    _AS_SIGNED,
    IncomingRequest,
    Signers,
    _parse_authorization,
    _Request,
    _SignedHeaders,
    parse_authorization,
    payload_hash,
)
from serverless_ray.errors import IncompleteSignature, InvalidSignature, ServiceError
from signed_requests import KEY_ID, SECRET, SIGNED_AT_EPOCH, sign

HOST = "gateway.test:8443"
PRINCIPAL = Principal(name="alice", access_key_id=KEY_ID, secret_access_key=SECRET, policy=ALLOW_ALL)


def authenticator(now: float = SIGNED_AT_EPOCH) -> Authenticator:
    return Authenticator([PRINCIPAL], arns=Arns("us-east-1", "123456789012"), clock=lambda: now)


# One authenticator for the property tests, so that they run with its caches (signers,
# signing keys, policy decisions) warm from the examples before.
SHARED = authenticator()


def check(request: IncomingRequest, now: float = SIGNED_AT_EPOCH, auth: Authenticator | None = None) -> None:
    """Raise the ServiceError the gateway would answer ``request`` with (None: accepted)."""
    auth = auth or authenticator(now)
    admitted = auth.admit(dataclasses.replace(request, body=b""))
    auth.authorize(admitted, request, request.raw_path)


segments = st.text(min_size=1, max_size=10).map(lambda s: quote(s, safe="-_.~")).filter(lambda s: s not in (".", ".."))
paths = st.lists(segments, max_size=4).map(lambda parts: "/" + "/".join(parts))
query_parts = st.text(string.ascii_letters + string.digits + "-_.~ /?=&é", max_size=8).map(lambda s: quote(s, safe="-_.~"))
queries = st.lists(st.tuples(query_parts, query_parts), max_size=4).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
header_names = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).map(lambda s: "x-test-" + s)
header_values = st.text(string.ascii_letters + string.digits + " -_.,;:/=", min_size=1, max_size=24).filter(str.strip)
requests = st.builds(
    lambda method, path, query, headers, body: sign(
        method, f"https://{HOST}{path}" + (f"?{query}" if query else ""), headers=headers, body=body),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=paths,
    query=queries,
    headers=st.dictionaries(header_names, header_values, max_size=3),
    body=st.binary(max_size=64),
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(requests)
def test_every_request_botocore_signs_verifies(request):
    check(request)
    check(request, auth=SHARED)


def _replace(text: str, index: int, alphabet: str, choice: int) -> str | None:
    others = [c for c in alphabet if c != text[index]]
    return text[:index] + others[choice % len(others)] + text[index + 1:]


@st.composite
def tampered(draw):
    """A signed request and a copy of it with one byte changed in one signed part."""
    request = draw(requests)
    signed = parse_authorization(request.header("authorization")).signed_headers
    targets = ["method", "path", "header"] + (["query"] if request.query else []) + (["body"] if request.body else [])
    target = draw(st.sampled_from(targets))
    choice = draw(st.integers(0, 1000))
    if target == "method":
        index = draw(st.integers(0, len(request.method) - 1))
        return request, dataclasses.replace(request, method=_replace(request.method, index, string.ascii_uppercase, choice))
    if target == "path":
        index = draw(st.integers(0, len(request.raw_path) - 1))
        return request, dataclasses.replace(request, raw_path=_replace(request.raw_path, index, "aZ09-_~%/.", choice))
    if target == "query":
        index = draw(st.integers(0, len(request.query) - 1))
        return request, dataclasses.replace(request, query=_replace(request.query, index, "aZ09-_~%=&", choice))
    if target == "body":
        index = draw(st.integers(0, len(request.body) - 1))
        body = bytearray(request.body)
        body[index] ^= draw(st.integers(1, 255))
        return request, dataclasses.replace(request, body=bytes(body))
    # A signed header other than the date and the authorization itself: its name or its value.
    candidates = [i for i, (name, _) in enumerate(request.headers)
                  if name.lower() in signed and name.lower() != "x-amz-date"]
    position = draw(st.sampled_from(candidates))
    name, value = request.headers[position]
    if draw(st.booleans()):
        index = draw(st.integers(0, len(name) - 1))
        name = _replace(name.lower(), index, "abcxyz-", choice)
    else:
        index = draw(st.integers(0, len(value) - 1))
        value = _replace(value, index, "aZ09 -.:", choice)
    headers = list(request.headers)
    headers[position] = (name, value)
    return request, dataclasses.replace(request, headers=headers)


@PROPERTY
@given(tampered())
def test_changing_any_byte_of_a_signed_part_fails(pair):
    original, changed = pair
    check(original)
    with pytest.raises(ServiceError) as refused:
        check(changed)
    assert isinstance(refused.value, (InvalidSignature, IncompleteSignature)), refused.value
    check(original, auth=SHARED)  # the original verified just now: nothing of it serves the copy
    with pytest.raises(ServiceError) as refused:
        check(changed, auth=SHARED)
    assert isinstance(refused.value, (InvalidSignature, IncompleteSignature)), refused.value


def test_a_changed_date_or_a_wrong_secret_fails():
    request = sign("POST", f"https://{HOST}/", body=b"{}")
    with pytest.raises(InvalidSignature, match="does not match"):
        check(dataclasses.replace(request, headers=[
            (n, "20240517T123001Z") if n.lower() == "x-amz-date" else (n, v) for n, v in request.headers]),
            now=SIGNED_AT_EPOCH + 1)
    with pytest.raises(InvalidSignature, match="does not match"):
        check(sign("POST", f"https://{HOST}/", body=b"{}", secret="another-secret-0123456789"))


def test_the_clock_window_is_five_minutes_either_way():
    request = sign("POST", f"https://{HOST}/", body=b"{}")
    check(request, now=SIGNED_AT_EPOCH + 299)
    check(request, now=SIGNED_AT_EPOCH - 299)
    with pytest.raises(InvalidSignature, match="Signature expired: 20240517T123000Z is now earlier than"):
        check(request, now=SIGNED_AT_EPOCH + 600)
    with pytest.raises(InvalidSignature, match="Signature not yet current"):
        check(request, now=SIGNED_AT_EPOCH - 600)


def test_a_declared_body_hash_must_be_the_bodys():
    import hashlib

    body = b'{"a": 1}'
    declared = sign("POST", f"https://{HOST}/", body=body,
                    headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    check(declared)
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        check(dataclasses.replace(declared, body=b'{"a": 2}'))
    unsigned = sign("POST", f"https://{HOST}/", body=body, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(InvalidSignature, match="x-amz-content-sha256"):
        check(unsigned)


def test_a_request_signed_with_a_date_header_instead_of_x_amz_date_verifies():
    request = sign("POST", f"https://{HOST}/", body=b"{}", headers={"Date": "Fri, 17 May 2024 12:30:00 GMT"})
    assert request.header("x-amz-date") is None and request.header("date")
    check(request)


@pytest.mark.parametrize("value, says", [
    ("Basic dXNlcjpwYXNz", "only AWS4-HMAC-SHA256"),
    ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + "0" * 64, "requires 'Credential' parameter"),
    ("AWS4-HMAC-SHA256 Credential=AKIATESTPRINCIPAL001/20240517/us-east-1/sagemaker/aws4_request",
     "requires 'SignedHeaders' parameter. Authorization header requires 'Signature' parameter"),
    ("AWS4-HMAC-SHA256 Credential=AKIATESTPRINCIPAL001/us-east-1/sagemaker, SignedHeaders=host, Signature="
     + "0" * 64, "Credential is malformed"),
    ("AWS4-HMAC-SHA256 Credential=AKIATESTPRINCIPAL001/20240517/us-east-1/sagemaker/aws4_request, "
     "SignedHeaders=x-amz-date, Signature=" + "0" * 64, "'Host' must be a 'SignedHeader'"),
    ("AWS4-HMAC-SHA256 Credential=AKIATESTPRINCIPAL001/20240517/us-east-1/sagemaker/aws4_request, "
     "SignedHeaders=host, Signature=xyz", "64 lower-case hexadecimal"),
])
def test_malformed_authorization_headers_are_incomplete_signatures(value, says):
    with pytest.raises(IncompleteSignature, match=says):
        parse_authorization(value)


@PROPERTY
@given(requests)
def test_the_header_as_sdks_write_it_parses_as_the_full_parse_does(request):
    value = request.header("authorization")
    assert _AS_SIGNED.fullmatch(value), value  # the quick path is the one botocore's headers take
    assert parse_authorization(value) == _parse_authorization(value)
    spaced = value.replace(", ", " ,  ")  # other spacing: the full parse, the same parts
    assert parse_authorization(spaced) == parse_authorization(value)


_part = st.text(alphabet="abAZ09-_ ,=/;", max_size=6)
_separators = st.sampled_from([", ", ",", " , ", ",  "])
near_headers = st.builds(
    lambda key, date, region, service, terminal, sep1, names, sep2, signature:
    f"AWS4-HMAC-SHA256 Credential={key}/{date}/{region}/{service}/{terminal}{sep1}SignedHeaders={names}{sep2}"
    f"Signature={signature}",
    key=_part, date=_part, region=_part, service=_part,
    terminal=st.sampled_from(["aws4_request", "aws4_request/x", "aws4", ""]),
    sep1=_separators,
    names=st.lists(st.sampled_from(["host", "x-amz-date", "a,b", "c=d", "e f", ""]), max_size=3).map(";".join),
    sep2=_separators,
    signature=st.one_of(st.text("0123456789abcdef", min_size=63, max_size=65),
                        st.text("0123456789abcdefABCDEF ,\n", min_size=64, max_size=64)),
)


@PROPERTY
@given(near_headers)
def test_the_quick_parse_accepts_nothing_the_full_parse_refuses_or_reads_otherwise(value):
    try:
        expected = _parse_authorization(value)
    except IncompleteSignature:
        with pytest.raises(IncompleteSignature):
            parse_authorization(value)
    else:
        assert parse_authorization(value) == expected


def test_an_asgi_request_has_the_headers_the_constructor_gives():
    request = sign("POST", f"https://{HOST}/endpoints/a%20b/invocations?x=1", headers={"X-Test-Twice": "a"},
                   body=b"{}")
    scope = {"method": request.method, "path": "/endpoints/a b/invocations", "raw_path": request.raw_path.encode(),
             "query_string": request.query.encode(),
             "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in request.headers]
             + [(b"x-test-twice", b"b")]}
    made = IncomingRequest.from_asgi(scope).with_body(request.body)
    expected = dataclasses.replace(request, headers=[(n.lower(), v) for n, v in request.headers]
                                   + [("x-test-twice", "b")])
    assert made == expected
    assert made.values == expected.values and made.values["x-test-twice"] == ["a", "b"]
    check(dataclasses.replace(made, headers=made.headers[:-1]))


def test_the_servers_string_to_sign_and_signature_are_botocores():
    request = sign("POST", f"https://{HOST}/endpoints/e/invocations", body=b'{"inputs": [1]}')
    header = parse_authorization(request.header("authorization"))
    timestamp = request.header("x-amz-date")
    ours = Signers().get(KEY_ID, SECRET, header.service, header.region)
    botocores = SigV4Auth(ReadOnlyCredentials(KEY_ID, SECRET, None), header.service, header.region)
    wire = _Request(request.method, f"http://signed-host{request.raw_path}", {}, timestamp,
                    _SignedHeaders({n: request.values[n] for n in header.signed_headers}), payload_hash(request))
    canonical = ours.canonical_request(wire)  # botocore's, with the request's own signed headers and body hash
    string_to_sign = botocores.string_to_sign(wire, canonical)
    assert ours.string_to_sign(wire, canonical) == string_to_sign
    assert ours.signature(string_to_sign, wire) == botocores.signature(string_to_sign, wire) == header.signature
