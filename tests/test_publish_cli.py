"""`cvgallery publish` end to end: the real command in subprocesses, building first, into a
folder and into an S3-compatible bucket (moto's server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_helpers import photo
from publish_helpers import (
    S3Server,
    bucket_files,
    folder_files,
    manifest_of,
    moto_server,
    site_files,
    subprocess_env,
)

from cvgallery.publish import MANIFEST_NAME
from cvgallery.publish.headers import CACHE_IMMUTABLE


def cv(
    root: Path, *args: str | os.PathLike[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`cvgallery ARGS --root ROOT` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "cvgallery", *map(str, args), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's whole output; it must have succeeded."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def output_of(root: Path) -> Path:
    return root / "art" / "gallery-html"


def target_state(dest: Path) -> tuple[dict[str, bytes], bytes | None]:
    """Every file at a folder target and its manifest's bytes: to prove nothing changed."""
    manifest = dest / MANIFEST_NAME
    return folder_files(dest), manifest.read_bytes() if manifest.exists() else None


@pytest.fixture
def root(site_root: Path, tmp_path: Path) -> Path:
    """A site with two approved pictures, nothing built yet."""
    pictures = [photo(tmp_path / "in" / f"{name}.jpeg", (80, 60)) for name in ("alpha", "beta")]
    ok(cv(site_root, "add", "--approve", *pictures))
    return site_root


def add_picture(root: Path, tmp_path: Path, name: str, *flags: str) -> None:
    ok(cv(root, "add", *flags, photo(tmp_path / "in" / f"{name}.jpeg", (80, 60))))


# --- a folder target ---------------------------------------------------------------------------


def test_publish_builds_then_makes_the_folder_equal_to_the_site(root: Path, tmp_path: Path):
    old = os.umask(0o022)
    try:
        dest = tmp_path / "www"
        first = cv(root, "publish", dest, "--json")
    finally:
        os.umask(old)
    document = json.loads(first.stdout)  # one JSON document, nothing else on stdout
    assert first.returncode == 0 and document["ok"] is True, first.stderr
    out = output_of(root)
    assert (out / "image" / "alpha.html").is_file()  # it built first
    expected = site_files(out)
    assert document["uploaded"] == len(expected) and document["deleted"] == 0
    assert folder_files(dest) == expected
    assert (dest / "index.html").is_file() and any((dest / "media").iterdir())
    modes = {
        p.relative_to(dest).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in dest.rglob("*")
    }
    assert {
        rel for rel, m in modes.items() if m != (0o755 if (dest / rel).is_dir() else 0o644)
    } == set()

    again = ok(cv(root, "publish", dest, "-j", "2"))
    assert f"{dest}: 0 uploaded (0 B), 0 deleted, {len(expected)} unchanged" in again
    assert "up to date" in again  # the build before it was a no-op too


def test_dry_run_lists_every_path_and_changes_nothing(root: Path, tmp_path: Path):
    dest = tmp_path / "www"
    ok(cv(root, "publish", dest))
    before = target_state(dest)
    add_picture(root, tmp_path, "gamma", "--approve")
    dry = cv(root, "publish", dest, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    document = json.loads(dry.stdout)
    assert document["dry_run"] is True and document["ok"] is True and document["uploaded"] == 0
    plan = document["plan"]
    assert "image/gamma.html" in plan["new"] and "index.html" in plan["changed"]
    assert any(rel.startswith("media/") for rel in plan["new"])
    assert plan["delete"] == [] and any(rel.startswith("static/") for rel in plan["unchanged"])
    assert target_state(dest) == before
    assert (output_of(root) / "image" / "gamma.html").is_file()  # built, not published

    human = ok(cv(root, "publish", dest, "--dry-run"))
    assert f"{dest}: dry run: would upload {len(plan['new']) + len(plan['changed'])} files" in human
    assert target_state(dest) == before
    ok(cv(root, "publish", dest))
    assert folder_files(dest) == site_files(output_of(root))


def test_no_target_is_a_clear_error(root: Path):
    result = cv(root, "publish")
    assert result.returncode == 2
    assert "no target" in result.stderr and "[publish] target" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (output_of(root) / "index.html").exists()  # refused before building


def test_the_target_in_site_toml_is_used(root: Path, tmp_path: Path):
    dest = tmp_path / "from-config"
    toml = root / "site.toml"
    toml.write_text(toml.read_text() + f"\n[publish]\ntarget = {json.dumps(str(dest))}\n")
    ok(cv(root, "publish"))
    assert folder_files(dest) == site_files(output_of(root))
    other = tmp_path / "from-argument"  # the argument wins over the configuration
    ok(cv(root, "publish", other))
    assert (other / "index.html").is_file()


def test_no_build_publishes_the_output_as_it_is(root: Path, tmp_path: Path):
    dest = tmp_path / "www"
    ok(cv(root, "publish", dest))
    add_picture(root, tmp_path, "gamma", "--approve")
    text = ok(cv(root, "publish", dest, "--no-build"))
    assert "0 uploaded" in text and "files written" not in text
    assert not (dest / "image" / "gamma.html").exists()
    assert not (output_of(root) / "image" / "gamma.html").exists()
    ok(cv(root, "publish", dest))
    assert (dest / "image" / "gamma.html").is_file()


def test_no_build_with_nothing_built_is_refused(root: Path, tmp_path: Path):
    # `init` makes art/gallery-html/ as an empty folder: empty is not a built site, and
    # publishing it would delete everything published before.
    dest = tmp_path / "www"
    unbuilt = cv(root, "publish", dest, "--no-build")
    assert unbuilt.returncode == 2 and "no built site" in unbuilt.stderr
    assert not dest.exists()
    ok(cv(root, "publish", dest))
    before = target_state(dest)
    shutil.rmtree(output_of(root))
    output_of(root).mkdir()  # as a fresh checkout of the site has it after `init`
    refused = cv(root, "publish", dest, "--no-build")
    assert refused.returncode == 2 and "no built site" in refused.stderr
    assert target_state(dest) == before


def test_max_deletes_refuses_after_a_rejection_with_nothing_changed(root: Path, tmp_path: Path):
    dest = tmp_path / "www"
    ok(cv(root, "publish", dest))
    before = target_state(dest)
    ok(cv(root, "reject", "beta"))
    refused = cv(root, "publish", dest, "--max-deletes", "0")
    assert refused.returncode != 0
    assert "more than the limit of 0" in refused.stderr and "Traceback" not in refused.stderr
    assert target_state(dest) == before and (dest / "image" / "beta.html").is_file()
    text = ok(cv(root, "publish", dest))
    assert not (dest / "image" / "beta.html").exists()
    assert folder_files(dest) == site_files(output_of(root))
    deleted = re.search(r"(\d+) deleted", text)
    assert deleted and int(deleted.group(1)) >= 2  # the page and its picture


def test_a_non_empty_folder_needs_force(root: Path, tmp_path: Path):
    dest = tmp_path / "www"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    refused = cv(root, "publish", dest)
    assert refused.returncode != 0 and "--force" in refused.stderr
    assert "no cvgallery publish manifest" in refused.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]
    ok(cv(root, "publish", dest, "--force"))
    assert (dest / "notes.txt").read_text() == "mine"
    assert folder_files(dest) == {**site_files(output_of(root)), "notes.txt": b"mine"}
    assert "notes.txt" not in manifest_of((dest / MANIFEST_NAME).read_bytes())


def test_a_published_picture_is_readable_by_another_user(root: Path):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("reading as another user needs root and setpriv")
    base = Path(tempfile.mkdtemp(prefix="cvg-publish-cli-"))
    old = os.umask(0o022)
    try:
        base.chmod(0o755)
        ok(cv(root, "publish", base / "www"))
        picture = next((base / "www" / "media").iterdir())
        read = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", str(picture)],
            capture_output=True,
            timeout=30,
        )
        assert read.returncode == 0, read.stderr
        assert read.stdout == picture.read_bytes()
    finally:
        os.umask(old)
        shutil.rmtree(base, ignore_errors=True)


# --- an S3 target ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    pytest.importorskip("boto3")
    with moto_server() as s:
        yield s


def test_s3_target_with_endpoint_from_site_toml(root: Path, tmp_path: Path, server: S3Server):
    import boto3

    env = server.env(tmp_path)
    env.pop("AWS_ENDPOINT_URL")  # the endpoint must come from [publish] endpoint_url
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=server.url)
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    toml = root / "site.toml"
    toml.write_text(
        toml.read_text()
        + f'\n[publish]\nendpoint_url = "{server.url}"\ncache_default = "public, max-age=60"\n'
    )
    (root / "static").mkdir()
    (root / "static" / "robots.txt").write_text("User-agent: *\n")
    run_env = subprocess_env(env)
    run_env.pop("AWS_ENDPOINT_URL", None)

    first = cv(root, "publish", f"s3://{bucket}/gallery", "--json", env=run_env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["ok"] is True
    expected = site_files(output_of(root))
    assert bucket_files(client, bucket, "gallery/") == expected

    def headers(rel: str) -> tuple[str, str]:
        head = client.head_object(Bucket=bucket, Key=f"gallery/{rel}")
        return head["ContentType"], head["CacheControl"]

    short = "public, max-age=60"
    by_suffix = {Path(rel).suffix: rel for rel in expected}
    assert headers("index.html") == ("text/html; charset=utf-8", short)
    assert headers("image/alpha.html") == ("text/html; charset=utf-8", short)
    assert headers("feed.xml") == ("application/atom+xml; charset=utf-8", short)
    assert headers("robots.txt") == ("text/plain; charset=utf-8", short)
    assert headers(by_suffix[".jpeg"]) == ("image/jpeg", CACHE_IMMUTABLE)
    assert headers(by_suffix[".css"]) == ("text/css; charset=utf-8", CACHE_IMMUTABLE)
    assert headers(by_suffix[".js"]) == ("text/javascript; charset=utf-8", CACHE_IMMUTABLE)

    again = ok(cv(root, "publish", f"s3://{bucket}/gallery", env=run_env))
    assert "0 uploaded (0 B), 0 deleted" in again

    ok(cv(root, "reject", "beta"))
    ok(cv(root, "publish", f"s3://{bucket}/gallery", env=run_env))
    assert bucket_files(client, bucket, "gallery/") == site_files(output_of(root))
    assert "image/beta.html" not in bucket_files(client, bucket, "gallery/")
