"""Lighthouse scores of a built gallery: home page, page 2, an image page and a user page,
with the mobile and desktop presets.

    python benchmarks/lighthouse.py [--count 80] [--presets mobile,desktop] [--keep]
                                    [--pages index.html,page-2.html] [--runs 3]

Needs Node and Chromium (Debian: apt install nodejs npm chromium). Lighthouse itself comes
from the npm registry on first use, into benchmarks/out/lighthouse/ (npm install
lighthouse@12). On demand only: never part of the unit tests.

The site: --count photos (half 3000x2000, half 2000x3000, generated once into
benchmarks/out/), added for two users, a few with titles and captions, processed and built
by the real commands. It is served from 127.0.0.1 the way a static host serves it: text
gzipped, content-hashed files (media/, static/) cacheable for a year. Prints the four
category scores, LCP and CLS per page and preset, Lighthouse's CPU benchmark index of the
machine during the run (its mobile preset slows the CPU 4x more, a setting meant for a
fast desktop: on a slower or busy machine TBT and LCP come out worse than a phone's), and
every audit that did not pass. Scores move by a few points between runs on a shared
machine: --runs N audits each page N times and prints the run with the median performance
score (and the others' scores and LCPs); --keep reuses the processed site and only renders
it again (to measure a change of theme).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import OUT, cvgallery_cmd, jpeg_corpus

LIGHTHOUSE_DIR = OUT / "lighthouse"
CHROMIUM = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml",
              "application/atom+xml", "application/xml")  # fmt: skip


def lighthouse_cli() -> Path:
    cli = LIGHTHOUSE_DIR / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.is_file():
        LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
        print("installing lighthouse@12 from the npm registry ...", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(LIGHTHOUSE_DIR),
             "lighthouse@12"],
            check=True,
        )  # fmt: skip
    return cli


def build_site(count: int) -> Path:
    """benchmarks/out/lighthouse-site: init, add (two users), set words, build."""
    site = OUT / "lighthouse-site"
    shutil.rmtree(site, ignore_errors=True)
    landscapes = jpeg_corpus("lh-landscape", count - count // 2, (3000, 2000))
    portraits = jpeg_corpus("lh-portrait", count // 2, (2000, 3000))
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True)
    run(cvgallery_cmd("init", str(site)))
    (site / "site.toml").write_text(
        'title = "Harbour light"\n'
        'description = "Photographs of harbours, boats and the light on the water."\n'
        'base_url = "https://photos.example.org"\nper_page = 30\n'
    )
    run(cvgallery_cmd("add", str(landscapes), "--user", "ann", "--approve", "--root", str(site)))
    run(cvgallery_cmd("add", str(portraits), "--user", "ben", "--approve", "--root", str(site)))
    ids = json.loads(run(cvgallery_cmd("list", "--json", "--root", str(site))).stdout)
    words = [
        {"id": row["id"], "title": f"Harbour study {n}",
         "caption": "Boats waiting for the tide, the water still and the sky just turning."}
        for n, row in enumerate(ids[::3])
    ]  # fmt: skip
    run(cvgallery_cmd("set", "-", "--root", str(site)), input="\n".join(map(json.dumps, words)))
    run(cvgallery_cmd("build", "--root", str(site)))
    return site / "art" / "gallery-html"


class HostLike(SimpleHTTPRequestHandler):
    """A static host: gzip for text, a year of caching for content-hashed files."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # Lighthouse stops loading a page's pictures once it has what it measures

    def end_headers(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith(("/media/", "/static/")):
            self.send_header("Cache-Control", "public, max-age=31536000, immutable")
        else:
            self.send_header("Cache-Control", "public, max-age=300")
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        kind = self.guess_type(path)
        wants = "gzip" in (self.headers.get("Accept-Encoding") or "")
        if not (wants and os.path.isfile(path) and kind.startswith(TEXT_TYPES)):
            super().do_GET()
            return
        body = gzip.compress(Path(path).read_bytes(), 6)
        self.send_response(200)
        self.send_header("Content-Type", kind + ("; charset=utf-8" if "text" in kind else ""))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        self.wfile.write(body)


def audit(cli: Path, url: str, preset: str, out: Path, run: int = 0) -> dict[str, object]:
    name = f"{preset}-{url.rsplit('/', 2)[-2]}-{url.rsplit('/', 1)[-1]}"
    report = out / (f"{name}-run{run}.json" if run else f"{name}.json")
    argv = [
        "node", str(cli), url, "--quiet", "--output=json", f"--output-path={report}",
        f"--only-categories={','.join(CATEGORIES)}", f"--chrome-path={CHROMIUM}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
    ]  # fmt: skip
    if preset == "desktop":
        argv.append("--preset=desktop")
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    data = json.loads(report.read_text())
    audits = data["audits"]
    failed = [
        f"{key} ({a.get('displayValue') or a['score']})"
        for key, a in audits.items()
        if a.get("score") is not None and a["score"] < 0.9
        and a.get("scoreDisplayMode") in ("binary", "numeric", "metricSavings")
    ]  # fmt: skip
    return {
        "benchmark": data["environment"]["benchmarkIndex"],
        "scores": {c: round(100 * (data["categories"][c]["score"] or 0)) for c in CATEGORIES},
        "lcp": audits["largest-contentful-paint"]["displayValue"],
        "tbt": audits["total-blocking-time"]["displayValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=80)
    parser.add_argument("--presets", default="mobile,desktop")
    parser.add_argument("--keep", action="store_true", help="Reuse the processed site.")
    parser.add_argument("--pages", help="Only these pages (comma-separated, as printed).")
    parser.add_argument("--runs", type=int, default=1, help="Audits per page and preset.")
    args = parser.parse_args()
    cli = lighthouse_cli()
    site = OUT / "lighthouse-site"
    output = site / "art" / "gallery-html"
    if args.keep and output.is_dir():
        subprocess.run(cvgallery_cmd("build", "--root", str(site)), check=True, capture_output=True)
    else:
        output = build_site(args.count)
    pages = ["index.html", "page-2.html"]
    pages.append(sorted(p.relative_to(output).as_posix() for p in (output / "image").glob("*"))[0])
    pages.append(sorted(p.relative_to(output).as_posix() for p in (output / "user").glob("*.html"))[0])
    if args.pages:
        pages = [p for p in pages if p in args.pages.split(",")]
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(HostLike, directory=str(output))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    reports = OUT / "lighthouse-reports"
    reports.mkdir(parents=True, exist_ok=True)
    print(f"{args.count} photos; Lighthouse {lighthouse_version(cli)}; {CHROMIUM}")
    print(f"  {'page':<28} {'preset':<8} perf a11y best  seo   LCP      TBT      CLS    CPU index")
    try:
        for preset in args.presets.split(","):
            for page in pages:
                runs = [
                    audit(cli, f"{base}/{page}", preset, reports, n if args.runs > 1 else 0)
                    for n in range(1, args.runs + 1)
                ]
                runs.sort(key=lambda r: r["scores"]["performance"])  # type: ignore[index]
                result = runs[len(runs) // 2]
                s = result["scores"]
                assert isinstance(s, dict)
                print(
                    f"  {page[:28]:<28} {preset:<8} {s['performance']:>4} "
                    f"{s['accessibility']:>4} {s['best-practices']:>4} {s['seo']:>4}   "
                    f"{result['lcp']:<8} {result['tbt']:<8} {result['cls']:.3f}  {result['benchmark']:.0f}",
                    flush=True,
                )
                if len(runs) > 1:
                    print("      runs: " + ", ".join(
                        f"{r['scores']['performance']} ({r['lcp']}, {r['tbt']}, CPU {r['benchmark']:.0f})"  # type: ignore[index]
                        for r in runs
                    ))  # fmt: skip
                for line in result["failed"]:  # type: ignore[attr-defined]
                    print(f"      not passed: {line}")
    finally:
        server.shutdown()
    print(f"  reports: {reports}")


def lighthouse_version(cli: Path) -> str:
    done = subprocess.run(["node", str(cli), "--version"], capture_output=True, text=True)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
