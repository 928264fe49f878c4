"""Which target a publish TARGET names: a folder, or an S3-compatible bucket and prefix."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import PublishError
from .folder import FolderTarget
from .s3 import S3Target
from .target import Target

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")


def parse_target(text: str, *, endpoint_url: str | None = None, jobs: int = 8) -> Target:
    """``s3://BUCKET[/PREFIX]`` → an S3 target; any other text without a scheme → a folder."""
    if not text or not text.strip():
        raise PublishError("no publish target: give a folder or s3://BUCKET[/PREFIX]")
    scheme = _SCHEME.match(text)
    if scheme is None:
        return FolderTarget(Path(text).expanduser())
    if scheme.group(1).lower() != "s3":
        raise PublishError(
            f"{text}: unsupported target (a folder path or s3://BUCKET[/PREFIX]; "
            "R2, B2, MinIO and other S3-compatible stores use s3:// with an endpoint URL)"
        )
    bucket, _, prefix = text[scheme.end() :].partition("/")
    if not bucket:
        raise PublishError(f"{text}: no bucket name (expected s3://BUCKET[/PREFIX])")
    if not _BUCKET.match(bucket):
        raise PublishError(f"{text}: {bucket!r} is not a valid bucket name")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise PublishError(f"{text}: the prefix may not contain '.' or '..' parts")
    return S3Target(bucket, "/".join(parts), endpoint_url=endpoint_url, jobs=jobs)
