"""An S3-compatible bucket target (AWS S3, Cloudflare R2, Backblaze B2, MinIO, Garage...).

Through boto3, AWS's own client: it is what every S3-compatible store documents and tests
against, it reads the standard credential chain (environment, ~/.aws, instance roles) and
the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` variables by itself, and its
clients are safe to share between upload threads. It is an optional extra
(``cvgallery[s3]``): a folder target needs none of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import PublishError
from .headers import Headers
from .manifest import MANIFEST_NAME
from .target import Target, describe_error

#: Above this a file goes up in parts (s3transfer): one PUT is limited to 5 GB and a part
#: that fails is retried alone.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_RETRYABLE_CODES = {
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "ServiceUnavailable",
}


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise PublishError("publishing to s3:// needs boto3: pip install 'cvgallery[s3]'") from None
    return boto3


class S3Target(Target):
    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, jobs: int = 8
    ):
        boto3 = _boto3()
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        config = Config(
            max_pool_connections=max(10, jobs + 2),
            retries={"max_attempts": 3, "mode": "standard"},
            # Other S3-compatible stores lag behind AWS's newest default checksums;
            # send them only where the API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Path-style URLs work on every S3-compatible store; virtual hosts need DNS.
            s3={"addressing_style": "path"} if endpoint else {},
        )
        try:
            session = boto3.session.Session()
            self.client = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        except Exception as exc:  # botocore raises many kinds for a bad config or endpoint
            raise PublishError(f"{self.describe()}: cannot set up the S3 client ({exc})") from exc
        self.endpoint = endpoint

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _fail(self, action: str, exc: Exception) -> PublishError:
        from botocore.exceptions import NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            reason = (
                "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE with ~/.aws/credentials)"
            )
        else:
            reason = describe_error(exc)
        where = f" at {self.endpoint}" if self.endpoint else ""
        return PublishError(f"{self.describe()}{where}: cannot {action}: {reason}")

    def read_manifest(self) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(MANIFEST_NAME))
            data: bytes = response["Body"].read()
            return data
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._fail("read the publish manifest", exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read the publish manifest", exc) from exc

    def write_manifest(self, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(MANIFEST_NAME),
                Body=data,
                ContentType="application/json",
                CacheControl="no-store",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write the publish manifest", exc) from exc

    def has_other_files(self) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self.key(""), MaxKeys=1
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list the bucket", exc) from exc
        return bool(response.get("KeyCount") or response.get("Contents"))

    def put(self, rel: str, path: Path, headers: Headers) -> None:
        extra = {"ContentType": headers.content_type, "CacheControl": headers.cache_control}
        if path.stat().st_size < MULTIPART_THRESHOLD:
            with open(path, "rb") as body:
                self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=body, **extra)
            return
        from boto3.s3.transfer import TransferConfig

        transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, use_threads=False)
        self.client.upload_file(
            str(path), self.bucket, self.key(rel), ExtraArgs=extra, Config=transfer
        )

    def delete(self, rels: list[str]) -> list[tuple[str, str]]:
        from botocore.exceptions import BotoCoreError, ClientError

        failures: list[tuple[str, str]] = []
        by_key = {self.key(rel): rel for rel in rels}
        keys = list(by_key)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                if isinstance(exc, ClientError) and error_code(exc) == "NotImplemented":
                    failures += self._delete_one_by_one(batch, by_key)
                else:
                    failures += [(by_key[k], describe_error(exc)) for k in batch]
                continue
            for error in response.get("Errors", []):
                key = error.get("Key", "")
                reason = f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
                failures.append((by_key.get(key, key), reason))
        return failures

    def _delete_one_by_one(self, keys: list[str], by_key: dict[str, str]) -> list[tuple[str, str]]:
        """For stores without the batch DeleteObjects call."""
        from botocore.exceptions import BotoCoreError, ClientError

        failures = []
        for key in keys:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                failures.append((by_key[key], describe_error(exc)))
        return failures

    def retryable(self, exc: BaseException) -> bool:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            ParamValidationError,
        )

        if isinstance(exc, ClientError):
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return status >= 500 or status == 429 or error_code(exc) in _RETRYABLE_CODES
        if isinstance(exc, NoCredentialsError | ParamValidationError):
            return False
        return isinstance(exc, BotoCoreError | ConnectionError | TimeoutError)

    def close(self) -> None:
        self.client.close()


def error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
