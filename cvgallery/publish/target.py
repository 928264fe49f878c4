"""Where a site is published: the operations every target offers, and TARGET parsing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from .headers import Headers


class Target(ABC):
    """A place files are put: paths are relative POSIX paths under the target's root."""

    @abstractmethod
    def describe(self) -> str:
        """How the target is named in messages: the folder, or s3://bucket/prefix."""

    @abstractmethod
    def read_manifest(self) -> bytes | None:
        """The manifest's bytes, or None when the target has none."""

    @abstractmethod
    def write_manifest(self, data: bytes) -> None:
        """Replace the manifest in one step (a reader sees the old one or the new one)."""

    @abstractmethod
    def has_other_files(self) -> bool:
        """Whether anything is there already (asked only when there is no manifest)."""

    @abstractmethod
    def put(self, rel: str, path: Path, headers: Headers) -> None:
        """Upload one file; raise on failure. Called from several threads at once."""

    @abstractmethod
    def delete(self, rels: list[str]) -> list[tuple[str, str]]:
        """Remove these paths (a missing one is not an error); return (path, reason) failures."""

    def retryable(self, exc: BaseException) -> bool:
        """Whether trying ``put`` again may succeed (a network error, a busy server)."""
        return False

    def check_source(self, source: Path) -> None:  # noqa: B027 (most targets cannot overlap)
        """Refuse a source that the target would overwrite or contain."""

    def close(self) -> None:  # noqa: B027 (a folder holds nothing open)
        """Release connections."""


def describe_error(exc: BaseException) -> str:
    """A one-line reason: an S3 error's code and message, an OS error's text, or the message."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        error = response["Error"]
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.get("Code", "error")
        message = error.get("Message") or ""
        return f"{code}{f' (HTTP {status})' if status else ''}{f': {message}' if message else ''}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
