"""Pages from the site's content/*.md, rendered safely with the `markdown` library.

Markdown passes raw HTML through by design; a gallery page must not run a stranger's
script, so the raw-HTML processors are removed (tags come out as visible text) and any
link or image whose URL is not http(s), mailto or relative is dropped.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from .query import slugify

SAFE_LINK_SCHEMES = ("", "http", "https", "mailto")
_TITLE_LINE = re.compile(r"^title:\s*(.+?)\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
RESERVED = {"index", "feed", "sitemap"}


@dataclass
class ContentPage:
    """A Markdown page: ``html`` is already safe markup; ``url`` is relative to the site root."""

    name: str
    title: str
    html: str
    url: str
    source: Path

    @property
    def has_heading(self) -> bool:
        """Whether the Markdown has its own top heading (else the theme shows the title)."""
        return "<h1" in self.html


class _DropUnsafeLinks(Treeprocessor):
    def run(self, root: ET.Element) -> None:
        for element in root.iter():
            for attr in [a for a in element.attrib if a.lower().startswith("on")]:
                del element.attrib[attr]
            for attr in ("href", "src"):
                value = element.get(attr)
                if value is not None and not is_safe_link(value):
                    del element.attrib[attr]


class SafeMarkdown(Extension):
    """No raw HTML (escaped as text), no javascript:/data:/vbscript: links."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (markdown API)
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_DropUnsafeLinks(md), "drop_unsafe_links", 0)


def is_safe_link(url: str) -> bool:
    """Relative, http(s) or mailto only, judged as a browser would read it.

    Entities are decoded and control characters and spaces removed first, because
    browsers do the same ("jav&#x09;ascript:" is javascript:). Anything with a colon
    before the first / ? or # is a scheme and must be one of the allowed ones.
    """
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(url))
    head = re.split(r"[/?#]", cleaned, maxsplit=1)[0]
    if ":" not in head:
        return True
    return head.split(":", 1)[0].lower() in SAFE_LINK_SCHEMES


def render_markdown(text: str) -> str:
    # SafeMarkdown last, so no other extension re-registers a raw-HTML processor; no
    # attr_list: it would let a page set onclick= on an element.
    md = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists", SafeMarkdown()])
    return md.convert(text)


def split_title(text: str, fallback: str) -> tuple[str, str]:
    """Title from a leading ``title: X`` line (removed), else the first heading, else the name."""
    lines = text.splitlines()
    if lines and (m := _TITLE_LINE.match(lines[0])):
        return m.group(1), "\n".join(lines[1:]).lstrip("\n")
    for line in lines:
        if m := _HEADING.match(line):
            return m.group(1), text
    return fallback.replace("-", " ").replace("_", " ").capitalize(), text


def load_pages(content_dir: Path) -> tuple[ContentPage | None, list[ContentPage], list[str]]:
    """content/index.md (the home page introduction), the other pages by file name, and
    one message per file that could not be read (left out; the other pages go on)."""
    intro = None
    pages = []
    failed: list[str] = []
    if not content_dir.is_dir():
        return None, [], failed
    for path in sorted(content_dir.glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            failed.append(f"{path}: cannot read Markdown ({exc})")
            continue
        title, body = split_title(text, path.stem)
        slug = slugify(path.stem)
        page = ContentPage(path.stem, title, render_markdown(body), f"{slug}.html", path)
        if path.stem == "index":
            intro = page
        elif slug in RESERVED or slug.startswith("page-"):
            page.url = f"p-{slug}.html"
            pages.append(page)
        else:
            pages.append(page)
    return intro, pages, failed
