"""Signature Version 4 verification, by recomputing the signature with botocore's signer.

The server hands the request, as it arrived, to the very code that signed it (:class:`~botocore.auth.SigV4Auth`: canonical
request, string to sign, signing key), with two differences a server must make: the
signed headers are the ones the ``Authorization`` header lists, not the ones botocore
would pick, and the payload hash is the hash of the body that arrived. The two
signatures are compared in constant time. The SHA-256 hashes and the HMAC are the
interpreter's built-in SHA-256 under the standard library's ``hmac`` rather than
OpenSSL's, which costs a gateway far more per request (see :func:`_builtin_sha256`).

What does not change from one request to the next is kept, never what a request's
verdict rests on: one signer per key and scope with its signing keys by date, and
botocore's canonical forms of the path, the query and the signed-header list by what
they are made of. The headers' values, the body's hash, the canonical request and the
signature are computed for every request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import mktime_tz, parsedate_tz
from typing import Sequence
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.credentials import ReadOnlyCredentials
from botocore.utils import normalize_url_path

from serverless_ray.errors import IncompleteSignature, InvalidSignature


def _builtin_sha256():
    """The interpreter's own SHA-256 (``_sha2`` from 3.12, ``_sha256`` before), else hashlib's.

    hashlib's SHA-256 and HMAC go through OpenSSL 3, which looks the digest up in its
    provider store on every call. Hot, that costs nothing; between two requests of a busy
    gateway (Serve's router, Ray's threads) its caches have gone cold, and the lookups cost
    15 to 40 µs per call, more than the rest of the check. The built-in one has no lookup."""
    for module, name in (("_sha2", "sha256"), ("_sha256", "sha256")):
        try:
            return getattr(__import__(module), name)
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_sha256 = _builtin_sha256()

ALGORITHM = "AWS4-HMAC-SHA256"
CLOCK_WINDOW_S = 300.0  # AWS accepts a signature made up to 5 minutes either side of its clock
_TIMESTAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class IncomingRequest:
    """A request as it arrived: the path and query as sent (percent-encoded), every
    header (any case, repeats kept) and the body."""

    method: str
    raw_path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    values: dict[str, list[str]] = field(init=False, repr=False, compare=False)  # lower-case name -> values

    def __post_init__(self) -> None:
        values: dict[str, list[str]] = {}
        for name, value in self.headers:
            values.setdefault(name.lower(), []).append(value)
        object.__setattr__(self, "values", values)

    @property
    def first(self) -> dict[str, str]:
        """Lower-case name → first value."""
        return {name: values[0] for name, values in self.values.items()}

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower-case), or None."""
        values = self.values.get(name)
        return values[0] if values else None

    @classmethod
    def from_asgi(cls, scope: dict) -> "IncomingRequest":
        """An ASGI HTTP request's method, path and query as sent and its headers, without
        a body (see :meth:`with_body`)."""
        raw_path = scope.get("raw_path")
        headers: list[tuple[str, str]] = []
        values: dict[str, list[str]] = {}
        for raw_name, raw_value in scope["headers"]:
            # ASGI servers should give the names in lower case; not all are required to.
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers.append((name, value))
            if name in values:
                values[name].append(value)
            else:
                values[name] = [value]
        return cls._made(scope["method"], raw_path.decode("latin-1") if raw_path else scope["path"],
                         scope.get("query_string", b"").decode("latin-1"), headers, b"", values)

    @classmethod
    def _made(cls, method: str, raw_path: str, query: str, headers: Sequence[tuple[str, str]], body: bytes,
              values: dict[str, list[str]]) -> "IncomingRequest":
        # A frozen dataclass's __init__ sets each field through object.__setattr__; this is
        # the same, once, for a request whose header index is already made.
        request = object.__new__(cls)
        request.__dict__.update(
            method=method, raw_path=raw_path, query=query, headers=headers, body=body, values=values)
        return request

    def with_body(self, body: bytes) -> "IncomingRequest":
        """The same request with ``body``; the header index is shared, not rebuilt."""
        return self._made(self.method, self.raw_path, self.query, self.headers, body, self.values)


@dataclass(frozen=True)
class AuthorizationHeader:
    """The parts of ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""

    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


# The header exactly as botocore and the AWS SDKs write it: one match instead of a
# parse. Anything else (other spacing or order, a missing or malformed part) goes through
# the full parse, which accepts the same headers and says what is wrong with the others.
_AS_SIGNED = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,= ]+)/([^/,= ]+)/([^/,= ]+)/([^/,= ]+)/aws4_request, "
    r"SignedHeaders=([^,= ]+), Signature=([0-9a-f]{64})")


def parse_authorization(value: str) -> AuthorizationHeader:
    """The header's parts; ``IncompleteSignature`` naming what is missing or malformed."""
    match = _AS_SIGNED.fullmatch(value)
    if match is not None:
        key, date, region, service, names, signature = match.groups()
        signed = tuple(names.split(";"))
        if "host" in signed:
            return AuthorizationHeader(key, date, region, service, signed, signature)
    return _parse_authorization(value)


def _parse_authorization(value: str) -> AuthorizationHeader:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported Authorization scheme {algorithm[:32]!r}: only {ALGORITHM} (Signature Version 4) is accepted.")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    missing = [key for key in ("Credential", "SignedHeaders", "Signature") if not parts.get(key)]
    if missing:
        raise IncompleteSignature(" ".join(f"Authorization header requires '{key}' parameter." for key in missing))
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise IncompleteSignature(
            "Authorization header's Credential is malformed; expecting "
            "'<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request'.")
    signed = tuple(parts["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if not _SIGNATURE.match(parts["Signature"]):
        raise IncompleteSignature("Authorization header's Signature is not 64 lower-case hexadecimal digits.")
    return AuthorizationHeader(scope[0], scope[1], scope[2], scope[3], signed, parts["Signature"])


def signing_time(request: IncomingRequest) -> tuple[str, float]:
    """The request's signing time as botocore writes it (``YYYYMMDDTHHMMSSZ``) and as
    epoch seconds, from ``X-Amz-Date`` or else ``Date``."""
    amz_date = request.header("x-amz-date")
    if amz_date is not None:
        return _amz_date(amz_date.strip())
    date = request.header("date")
    parsed = parsedate_tz(date) if date else None
    if parsed is None:
        raise IncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    epoch = float(mktime_tz(parsed))
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch)), epoch


@functools.lru_cache(maxsize=64)
def _amz_date(value: str) -> tuple[str, float]:
    """``value`` (an ``X-Amz-Date``) and its epoch seconds; remembered, since a busy
    client signs many requests in the same second."""
    match = _TIMESTAMP.match(value)
    if match is None:
        raise IncompleteSignature(f"X-Amz-Date {value[:32]!r} is not in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.")
    try:
        signed_at = datetime(*(int(g) for g in match.groups()), tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise IncompleteSignature(f"X-Amz-Date {value[:32]!r} is not a valid date.") from None
    return value, signed_at


def check_clock(timestamp: str, signed_at: float, now: float, window_s: float = CLOCK_WINDOW_S) -> None:
    """``InvalidSignature`` if the request was signed more than ``window_s`` before or after ``now``."""
    def fmt(epoch: float) -> str:
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))

    minutes = int(window_s // 60)
    if signed_at < now - window_s:
        raise InvalidSignature(
            f"Signature expired: {timestamp} is now earlier than {fmt(now - window_s)} ({fmt(now)} - {minutes} min.)")
    if signed_at > now + window_s:
        raise InvalidSignature(
            f"Signature not yet current: {timestamp} is still later than {fmt(now + window_s)} ({fmt(now)} + {minutes} min.)")


def payload_hash(request: IncomingRequest) -> str:
    """The SHA-256 of the body that arrived; ``InvalidSignature`` if the request declares
    another one in ``X-Amz-Content-SHA256`` (an unsigned payload is refused too)."""
    computed = _sha256(request.body).hexdigest()
    declared = request.header("x-amz-content-sha256")
    if declared is not None and not hmac.compare_digest(declared.strip().lower(), computed):
        raise InvalidSignature(
            "The provided x-amz-content-sha256 header does not match what was computed: this service "
            "verifies the SHA-256 of every request body.")
    return computed


# What the signer finds among a request's headers: nothing (see expected_signature).
_NO_HEADERS: dict[str, str] = {}


class _SignedHeaders(dict):
    """The signed headers, lower-case name → values, as botocore's ``canonical_headers``
    reads them (iteration over names, ``get_all``); the names come from this dict itself,
    so no lookup needs lower-casing."""

    get_all = dict.get


class _Request:
    """What botocore's signer reads of an ``AWSRequest``, and what this request signed:
    the headers its ``Authorization`` header lists and the hash of the body that arrived."""

    __slots__ = ("method", "url", "headers", "params", "context", "signed", "body_hash")

    def __init__(self, method: str, url: str, headers: dict[str, str], timestamp: str, signed: _SignedHeaders,
                 body_hash: str) -> None:
        self.method, self.url, self.headers = method, url, headers
        self.params: dict = {}
        self.context = {"timestamp": timestamp}
        self.signed, self.body_hash = signed, body_hash


class _ServerSigV4(SigV4Auth):
    """botocore's signer for one key and one service and region, as a server uses it: the
    signed headers are the ones the request lists and the payload hash is the arrived
    body's (both read from the :class:`_Request`, so that one signer serves every request
    of its key and scope); derived signing keys are kept by date."""

    DATES = 4  # the clock window spans at most two dates; a few more are harmless

    def __init__(self, credentials: ReadOnlyCredentials, service: str, region: str) -> None:
        super().__init__(credentials, service, region)
        self._keys: dict[str, hmac.HMAC] = {}

    def headers_to_sign(self, request):
        return request.signed

    def payload(self, request):
        return request.body_hash

    # The parts of the canonical request that many requests share (path, query, the list
    # of signed header names) are botocore's forms of them, kept by what they are made of.
    def _normalize_url_path(self, path):
        return _canonical_path(path)

    def canonical_query_string(self, request):
        return _canonical_query(request.url)

    def signed_headers(self, headers_to_sign):
        return _signed_header_names(tuple(headers_to_sign))

    def string_to_sign(self, request, canonical_request):
        # SigV4Auth.string_to_sign, hashing with the built-in SHA-256 (see _builtin_sha256).
        return "\n".join((ALGORITHM, request.context["timestamp"], self.credential_scope(request),
                          _sha256(canonical_request.encode()).hexdigest()))

    def signature(self, string_to_sign, request):
        date = request.context["timestamp"][0:8]
        keyed = self._keys.get(date)
        if keyed is None:
            if len(self._keys) >= self.DATES:
                self._keys.clear()
            # The standard library's HMAC over the built-in SHA-256, keyed once per date:
            # each request copies it (no key schedule, no OpenSSL lookup; see _builtin_sha256).
            keyed = self._keys[date] = hmac.HMAC(self._signing_key(date), digestmod=_sha256)
        mac = keyed.copy()
        mac.update(string_to_sign.encode())
        return mac.hexdigest()  # what SigV4Auth._sign(key, string_to_sign, hex=True) computes

    def _signing_key(self, date: str) -> bytes:
        # SigV4's key derivation, with the signer's own HMAC (as SigV4Auth.signature does it).
        k_date = self._sign(f"AWS4{self.credentials.secret_key}".encode(), date)
        k_region = self._sign(k_date, self._region_name)
        k_service = self._sign(k_region, self._service_name)
        return self._sign(k_service, "aws4_request")


# botocore's canonical forms that need no credentials, from a signer that has none.
_CANONICAL_FORMS = SigV4Auth(None, "sagemaker", "us-east-1")


@functools.lru_cache(maxsize=1024)
def _canonical_path(path: str) -> str:
    return _CANONICAL_FORMS._normalize_url_path(path)


@functools.lru_cache(maxsize=1024)
def _canonical_query(url: str) -> str:
    return _CANONICAL_FORMS._canonical_query_string_url(urlsplit(url))


@functools.lru_cache(maxsize=256)
def _signed_header_names(names: tuple[str, ...]) -> str:
    return _CANONICAL_FORMS.signed_headers(names)


class Signers:
    """botocore signers by key and scope (access key id, secret, service, region): the
    signing key's four HMACs run once a day per key instead of on every request, and no
    signer is built per request. The scope's service and region are checked against the
    platform's before a signer is asked for; ``LIMIT`` bounds the rest."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._signers: dict[tuple[str, str, str, str], _ServerSigV4] = {}

    def get(self, access_key_id: str, secret: str, service: str, region: str) -> _ServerSigV4:
        scope = (access_key_id, secret, service, region)
        signer = self._signers.get(scope)
        if signer is None:
            if len(self._signers) >= self.LIMIT:
                self._signers.clear()
            signer = self._signers[scope] = _ServerSigV4(ReadOnlyCredentials(access_key_id, secret, None),
                                                         service, region)
        return signer


@functools.lru_cache(maxsize=1024)
def _is_canonical_path(raw_path: str) -> bool:
    """Whether ``raw_path`` is signed as sent: no empty, '.' or '..' segments (which
    botocore's canonicalisation removes and the router would not)."""
    return urlsplit(f"http://signed-host{raw_path}").path == raw_path and normalize_url_path(raw_path) == raw_path


def expected_signature(request: IncomingRequest, header: AuthorizationHeader, timestamp: str, secret: str,
                       signers: Signers | None = None) -> str:
    """The signature botocore computes for ``request`` with ``secret`` and the header's scope."""
    if request.method != request.method.upper():
        # botocore upper-cases the method it signs; HTTP methods are case-sensitive.
        raise InvalidSignature(_BAD_SIGNATURE)
    if not _is_canonical_path(request.raw_path):
        raise InvalidSignature(
            "The request path is not in canonical form (it has empty, '.' or '..' segments): "
            "send the path that is signed.")
    url = f"http://signed-host{request.raw_path}" + (f"?{request.query}" if request.query else "")
    values = request.values
    signed = _SignedHeaders({name: values[name] for name in header.signed_headers if name in values})
    # botocore signs a declared X-Amz-Content-SHA256 as the payload hash, else payload();
    # payload_hash has made sure the two are the same, so the signer needs no other header.
    wire = _Request(request.method, url, _NO_HEADERS, timestamp, signed, payload_hash(request))
    signer = (signers or Signers()).get(header.access_key_id, secret, header.service, header.region)
    canonical = signer.canonical_request(wire)
    return signer.signature(signer.string_to_sign(wire, canonical), wire)


def verify_signature(request: IncomingRequest, header: AuthorizationHeader, timestamp: str, secret: str,
                     signers: Signers | None = None) -> None:
    """``InvalidSignature`` unless ``header.signature`` is the request's signature under ``secret``."""
    expected = expected_signature(request, header, timestamp, secret, signers)
    if not hmac.compare_digest(expected.encode(), header.signature.encode()):
        raise InvalidSignature(_BAD_SIGNATURE)

