"""`publish` to an S3-compatible bucket, against a real S3 server (moto's) on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from publish_helpers import (
    UNSET_AWS,
    S3Server,
    add_images,
    broken_links,
    bucket_files,
    build,
    differing,
    manifest_of,
    moto_server,
    site_files,
    snapshot,
    stalling_script,
    subprocess_env,
)

from cvgallery.catalog import Catalog
from cvgallery.errors import PublishError
from cvgallery.publish import MANIFEST_NAME, HeaderRules, publish
from cvgallery.publish import run as run_module
from cvgallery.publish.headers import CACHE_DEFAULT, CACHE_IMMUTABLE
from cvgallery.publish.s3 import S3Target

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with moto_server() as s:
        yield s


@dataclass
class Bucket:
    name: str
    client: Any
    server: S3Server
    env: dict[str, str]

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.name}/{prefix}" if prefix else f"s3://{self.name}"

    def files(self, prefix: str = "") -> dict[str, bytes]:
        return bucket_files(self.client, self.name, prefix)

    def manifest(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        key = f"{prefix}{MANIFEST_NAME}"
        return manifest_of(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def keys(self) -> list[str]:
        response = self.client.list_objects_v2(Bucket=self.name)
        return sorted(o["Key"] for o in response.get("Contents", []))


@pytest.fixture
def bucket(server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket; the environment holds fake keys and the server's URL, nothing else."""
    for name in UNSET_AWS:
        monkeypatch.delenv(name, raising=False)
    env = server.env(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.session.Session().client("s3", endpoint_url=server.url)
    name = f"site-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return Bucket(name, client, server, env)


@pytest.fixture
def catalog(site_root: Path) -> Iterator[Catalog]:
    toml = site_root / "site.toml"
    toml.write_text(toml.read_text().replace("per_page = 60", "per_page = 4"))
    with Catalog.open(site_root) as cat:
        yield cat


@pytest.fixture
def site(catalog: Catalog, tmp_path: Path) -> Path:
    add_images(catalog, 0, 9)
    return build(catalog, tmp_path / "out")


def count_requests(target: S3Target) -> list[str]:
    """The operation name of every HTTP request the target's client sends."""
    sent: list[str] = []
    target.client.meta.events.register(
        "before-send.s3", lambda request, **_kw: sent.append(request.method)
    )
    return sent


def test_first_noop_approval_and_rejection(catalog: Catalog, site: Path, bucket: Bucket, tmp_path: Path):
    report = publish(site, bucket.url("gallery"))
    v1 = site_files(snapshot(site, tmp_path / "v1"))
    assert report.ok and report.uploaded == len(v1)
    assert bucket.files("gallery/") == v1
    assert set(bucket.manifest("gallery/")) == set(v1)

    target = S3Target(bucket.name, "gallery")
    sent = count_requests(target)
    noop = publish(site, target)
    assert noop.ok and (noop.uploaded, noop.deleted, noop.unchanged) == (0, 0, len(v1))
    assert sent == ["GET"]  # the manifest, and nothing else

    add_images(catalog, 9, 1)
    build(catalog, site)
    v2 = site_files(site)
    target = S3Target(bucket.name, "gallery")
    sent = count_requests(target)
    report = publish(site, target)
    changed = differing(v1, v2)
    assert report.ok and report.uploaded == len(changed) and len(changed) < len(v1) // 2
    # the manifest read, written as pending and as done, one PUT per changed file, no listing
    assert sent == ["GET", "PUT"] + ["PUT"] * len(changed) + ["PUT"]
    assert bucket.files("gallery/") == v2

    catalog.images.reject(["pic003"])
    build(catalog, site)
    v3 = site_files(site)
    report = publish(site, bucket.url("gallery"))
    assert report.ok and report.deleted == len(set(v2) - set(v3)) > 0
    assert bucket.files("gallery/") == v3 and not broken_links(v3)


def test_headers_per_file_type(tmp_path: Path, bucket: Bucket):
    files = {
        "index.html": "text/html; charset=utf-8",
        "about.html": "text/html; charset=utf-8",
        "feed.xml": "application/atom+xml; charset=utf-8",
        "sitemap.xml": "application/xml; charset=utf-8",
        "static/style.0123456789.css": "text/css; charset=utf-8",
        "static/gallery.0123456789.js": "text/javascript; charset=utf-8",
        "static/site.webmanifest": "application/manifest+json",
        "static/favicon.ico": "image/x-icon",
        "data.json": "application/json",
        "robots.txt": "text/plain; charset=utf-8",
        "media/00112233445566778899.jpeg": "image/jpeg",
        "media/00112233445566778899.jpg": "image/jpeg",
        "media/00112233445566778899.png": "image/png",
        "media/00112233445566778899.webp": "image/webp",
        "media/00112233445566778899.avif": "image/avif",
        "media/00112233445566778899.gif": "image/gif",
        "media/00112233445566778899.svg": "image/svg+xml",
        "media/00112233445566778899.mp4": "video/mp4",
        "media/00112233445566778899.webm": "video/webm",
    }
    site = tmp_path / "plain"
    for rel in files:
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(rel.encode())
    assert publish(site, bucket.url()).ok
    seen = {}
    for rel in files:
        head = bucket.client.head_object(Bucket=bucket.name, Key=rel)
        seen[rel] = (head["ContentType"], head["CacheControl"])
    immutable = {rel for rel in files if rel.startswith(("media/", "static/style", "static/gallery"))}
    assert seen == {
        rel: (ctype, CACHE_IMMUTABLE if rel in immutable else CACHE_DEFAULT)
        for rel, ctype in files.items()
    }

    rules = HeaderRules(cache_default="public, max-age=60", content_types={"txt": "text/x-test"})
    (site / "robots.txt").write_text("changed")
    assert publish(site, bucket.url(), headers=rules).uploaded == 1
    head = bucket.client.head_object(Bucket=bucket.name, Key="robots.txt")
    assert (head["ContentType"], head["CacheControl"]) == ("text/x-test", "public, max-age=60")


def test_dry_run_max_deletes_and_other_files_in_the_prefix(catalog: Catalog, site: Path, bucket: Bucket):
    bucket.client.put_object(Bucket=bucket.name, Key="gallery/notes.txt", Body=b"mine")
    bucket.client.put_object(Bucket=bucket.name, Key="gallery2/keep.txt", Body=b"other prefix")
    dry = publish(site, bucket.url("gallery"), dry_run=True)
    assert dry.refusal and "no cvgallery publish manifest" in dry.refusal
    assert set(dry.plan.new) == set(site_files(site))
    with pytest.raises(PublishError, match="s3://.*/gallery: holds files"):
        publish(site, bucket.url("gallery"))
    assert bucket.keys() == ["gallery/notes.txt", "gallery2/keep.txt"]

    assert publish(site, bucket.url("gallery"), force=True).ok
    # a prefix that merely starts like another one's name is empty
    assert publish(site, bucket.url("galler")).ok

    catalog.images.reject(["pic001", "pic005"])
    build(catalog, site)
    before = bucket.keys(), bucket.manifest("gallery/")
    planned = publish(site, bucket.url("gallery"), dry_run=True).plan
    with pytest.raises(PublishError, match="more than the limit of 1"):
        publish(site, bucket.url("gallery"), max_deletes=1)
    assert (bucket.keys(), bucket.manifest("gallery/")) == before
    report = publish(site, bucket.url("gallery"), max_deletes=len(planned.delete))
    assert report.ok and report.deleted == len(planned.delete)
    assert bucket.files("gallery/") == {**site_files(site), "notes.txt": b"mine"}
    assert bucket.files("gallery2/") == {"keep.txt": b"other prefix"}


def test_failing_uploads_are_retried_then_reported(
    catalog: Catalog, site: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(run_module, "BACKOFF", 0.0)
    publish(site, bucket.url())
    add_images(catalog, 9, 3)
    catalog.images.reject(["pic004"])
    build(catalog, site)
    plan = publish(site, bucket.url(), dry_run=True).plan
    flaky, broken, denied = plan.new[:3]
    assert all(rel.startswith("media/") for rel in (flaky, broken, denied))
    target = S3Target(bucket.name)
    real_put = target.client.put_object
    calls: dict[str, int] = {}

    def error(code: str, status: int) -> ClientError:
        return ClientError(
            {"Error": {"Code": code, "Message": "test"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "PutObject",
        )

    def put_object(**kw: Any) -> Any:
        calls[kw["Key"]] = calls.get(kw["Key"], 0) + 1
        if kw["Key"] == flaky and calls[flaky] < 3:
            raise error("SlowDown", 503)
        if kw["Key"] == broken:
            raise error("InternalError", 500)
        if kw["Key"] == denied:
            raise error("AccessDenied", 403)
        return real_put(**kw)

    monkeypatch.setattr(target.client, "put_object", put_object)
    report = publish(site, target)
    assert (calls[flaky], calls[broken], calls[denied]) == (3, 3, 1)
    assert sorted(report.failures) == sorted(
        [(broken, "InternalError (HTTP 500): test"), (denied, "AccessDenied (HTTP 403): test")]
    )
    assert not report.ok and report.deleted == 0 and report.skipped > 0
    published = bucket.files()
    assert flaky in published and not broken_links(published)
    assert bucket.manifest()[broken]["hash"] is None

    report = publish(site, bucket.url())
    assert report.ok and bucket.files() == site_files(site)


def test_killed_publish_then_rerun_completes(catalog: Catalog, site: Path, bucket: Bucket, tmp_path: Path):
    publish(site, bucket.url("www"))
    add_images(catalog, 9, 3)
    catalog.images.reject(["pic006"])
    build(catalog, site)
    plan = publish(site, bucket.url("www"), dry_run=True).plan
    stall_at = len(plan.uploads)  # the home page, the very last upload
    proc = subprocess.Popen(
        [sys.executable, str(stalling_script(tmp_path)), str(site), bucket.url("www"), str(stall_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(bucket.env),
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    proc.kill()
    proc.wait(timeout=30)
    assert line == "stalled at index.html\n", proc.stderr.read()

    files = bucket.files("www/")
    assert not broken_links(files)
    manifest = bucket.manifest("www/")
    assert set(files) <= set(manifest) and manifest["index.html"]["hash"] is None
    assert set(plan.delete) <= set(files)

    report = publish(site, bucket.url("www"))
    assert report.ok and bucket.files("www/") == site_files(site)
    assert publish(site, bucket.url("www")).uploaded == 0


def test_unreachable_or_missing_bucket_is_a_clear_error(site: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(PublishError, match=r"s3://no-such-bucket-here.*cannot read the publish manifest: NoSuchBucket"):
        publish(site, "s3://no-such-bucket-here")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PublishError, match="no credentials found"):
        publish(site, bucket.url())
