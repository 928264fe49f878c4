"""`cvgallery publish`: make a folder or an S3-compatible bucket equal to the built site.

Incremental by content (plan.py), in a safe order and resumable (run.py), with the
target's own manifest of what cvgallery put there (manifest.py), so nothing else there is
ever deleted. Targets: folder.py, s3.py; HTTP headers for both: headers.py.
"""

from .address import parse_target
from .headers import HeaderRules, Headers
from .manifest import MANIFEST_NAME
from .plan import Plan, make_plan, scan_source, walk_source
from .run import DEFAULT_MAX_DELETES, PublishReport, publish
from .target import Target

__all__ = [
    "DEFAULT_MAX_DELETES",
    "MANIFEST_NAME",
    "HeaderRules",
    "Headers",
    "Plan",
    "PublishReport",
    "Target",
    "make_plan",
    "parse_target",
    "publish",
    "scan_source",
    "walk_source",
]
