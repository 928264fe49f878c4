"""The catalog: the one place that holds SQL (cv.db's schema, its tables as named parts).

``Catalog.open(root)`` gives a session; its parts are ``images``, ``artifacts``, ``jobs``
(the job queue), ``gallery``, ``archive`` and ``checks``; ``catalog.transaction()``
groups writes atomically.
"""

from .facts import FileFacts, bytes_facts, file_facts
from .gallery import DerivedRow, GalleryRow
from .images import ReviewResult
from .queue import STATUSES
from .schema import SCHEMA_VERSION, connect, snapshot, transaction
from .session import Catalog, init_site

__all__ = [
    "SCHEMA_VERSION",
    "STATUSES",
    "Catalog",
    "DerivedRow",
    "FileFacts",
    "GalleryRow",
    "ReviewResult",
    "bytes_facts",
    "connect",
    "file_facts",
    "snapshot",
    "init_site",
    "transaction",
]
