"""Orchestration: one plain function per command, each returning a :class:`Report`.

The library modules do the work (catalog, ingest, process, site, legacy, verify);
these functions put the steps of one command together and say what happened. cvgallery.cli
only parses arguments, calls one of them and prints the Report.
"""

from .report import Report

__all__ = ["Report"]
