"""Locating model data by URL: local paths, ``file://``, ``s3://`` and ``http(s)://``.

Each source reports a content identity (size + mtime, ETag, ...) used as the
cache key, and fetches the archive only when the cache misses.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

ARCHIVE_NAME = "model.tar.gz"
HTTP_TIMEOUT_S = 60.0


class ArtifactError(Exception):
    """Model data could not be located, downloaded or unpacked."""


@dataclass
class Source:
    """Where model data lives and how to get it as a local archive."""

    display: str  # safe to show in messages (no query string / signatures)
    identity: str  # changes whenever the content may have changed
    fetch: Callable[[Path], Path]  # work dir -> local archive path
    # The archive as a stream, for reading a member without downloading the rest.
    open_stream: Callable[[], AbstractContextManager[BinaryIO]] | None = None
    directory: Path | None = None  # an already-unpacked model dir, used in place


def safe_display(url: str) -> str:
    """The URL without its query string, which may carry presigned credentials."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.query:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) + "?…"
    return url


@contextmanager
def open_source(url: str) -> Iterator[Source]:
    """Resolve ``url`` into a :class:`Source`; remote handles close on exit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        yield _local_source(url, parts)
    elif scheme == "s3":
        yield _s3_source(url, parts.netloc, parts.path.lstrip("/"))
    elif scheme in ("http", "https"):
        with _http_source(url) as source:
            yield source
    else:
        raise ArtifactError(
            f"unsupported model data URL {safe_display(url)}: "
            "expected s3://, https://, file:// or a local path"
        )


def _local_source(url: str, parts: Any) -> Source:
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost"):
            raise ArtifactError(f"unsupported file URL {url}: expected file:///absolute/path")
        path = Path(unquote(parts.path))
    else:
        path = Path(url).expanduser()
    path = path.resolve()
    if path.is_dir():
        return Source(url, str(path), fetch=lambda _work: path, directory=path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ArtifactError(f"cannot read model data {url}: {exc.strerror or exc}") from exc
    identity = f"{path}\n{stat.st_size}\n{stat.st_mtime_ns}"
    return Source(url, identity, fetch=lambda _work: path, open_stream=lambda: path.open("rb"))


def _s3_source(url: str, bucket: str, key: str) -> Source:
    if not bucket or not key:
        raise ArtifactError(f"invalid S3 URL {url}: expected s3://bucket/key")
    # Imported lazily: boto3 is slow to import and only needed for S3 data.
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("s3")
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise ArtifactError(f"cannot fetch model data {url}: {_describe_s3(client, exc, bucket, key)}") from exc
    except BotoCoreError as exc:
        raise ArtifactError(f"cannot fetch model data {url}: {exc}") from exc
    identity = f"{url}\n{head.get('ContentLength', '')}\n{head.get('ETag', '')}"

    def fetch(work: Path) -> Path:
        dest = work / ARCHIVE_NAME
        try:
            client.download_file(bucket, key, str(dest))
        except (ClientError, BotoCoreError) as exc:
            raise ArtifactError(f"downloading model data {url} failed: {exc}") from exc
        return dest

    def open_stream() -> AbstractContextManager[BinaryIO]:
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise ArtifactError(f"reading model data {url} failed: {exc}") from exc
        return closing(body)

    return Source(url, identity, fetch, open_stream)


def _describe_s3(client: Any, exc: Any, bucket: str, key: str) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code in ("404", "NoSuchKey", "NoSuchBucket"):
        # HEAD responses carry no error body, so ask separately which part is missing.
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:
            return f"bucket {bucket!r} does not exist or is not accessible"
        return f"key {key!r} does not exist in bucket {bucket!r}"
    if code in ("403", "AccessDenied"):
        return "access denied (403)"
    return f"{code} {error.get('Message', '')}".strip() or str(exc)


@contextmanager
def _http_source(url: str) -> Iterator[Source]:
    shown = safe_display(url)
    try:
        # A GET rather than HEAD: presigned URLs are usually signed for GET only.
        response = urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise ArtifactError(f"cannot fetch model data {shown}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ArtifactError(f"cannot fetch model data {shown}: {reason}") from exc
    with response:
        etag = response.headers.get("ETag") or ""
        modified = response.headers.get("Last-Modified") or ""
        size = response.headers.get("Content-Length") or ""
        # With a validator the query (e.g. a rotating signature) is not part
        # of the identity, so re-signed URLs still hit the cache.
        base = url.split("?", 1)[0] if (etag or modified) else url
        identity = f"{base}\n{size}\n{etag}\n{modified}"

        def fetch(work: Path) -> Path:
            dest = work / ARCHIVE_NAME
            try:
                with dest.open("wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as exc:
                raise ArtifactError(f"downloading model data {shown} failed: {exc}") from exc
            return dest

        yield Source(shown, identity, fetch, open_stream=lambda: nullcontext(response))
