"""The gallery site: query (catalog → items), theme (Jinja lookup), pages, output, build."""

from .build import BuildReport, build_site, default_output

__all__ = ["BuildReport", "build_site", "default_output"]
