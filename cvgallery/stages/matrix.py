"""Matrix stages: an outside command with ``each``, one output per (source, each image).

Face swap makes one result per source face and style: ``input`` names the sources'
stage, ``each`` the styles' stage. The rule for these outputs, which do not fit the
seed's UNIQUE(image_id, stage):

* for every approved source S (parent_id IS NULL) with an ``input`` artifact and every
  approved image T with an ``each`` artifact, the command runs once, with ``{each}`` the
  path of T's artifact and ``{each_id}`` T's id (``{input}``, ``{id}`` are S's);
* the output is its own images row, id ``<S>--<T>``, parent_id = S, approved = 0 (it
  reaches the site through its parent's page, as video frames do), with the output's
  width, height, file_size, mime_type and sha256, and one artifact of the stage,
  art/<stage>/<S>--<T>.<ext>, whose processing_params name source_sha256 (S's input),
  each_sha256 (T's artifact) and each_id; a change of either, or of the command, remakes
  only the outputs it affects;
* the job is (S, stage, variant = T) in the jobs table. An id ``<S>--<T>`` held by an
  image that is not S's child, or an output that is the same picture as another image
  (images.sha256 is UNIQUE), fails that job with a message naming the other image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..catalog import Catalog
    from .base import Made

SEPARATOR = "--"


def child_id(source_id: str, each_id: str) -> str:
    return f"{source_id}{SEPARATOR}{each_id}"


def check_child_id(catalog: Catalog, source_id: str, each_id: str, stage: str) -> str:
    """The child's id, or ValueError when an image that is not S's child holds it."""
    child = child_id(source_id, each_id)
    row = catalog.images.find(child)
    if row is not None and row["parent_id"] != source_id:
        raise ValueError(
            f"image id {child!r} is already taken by another image (not a {stage} output "
            f"of {source_id!r}); rename that image or the style"
        )
    return child


def record_output(
    catalog: Catalog, source_id: str, each_id: str, made: Made
) -> tuple[str | None, list[str]]:
    """Register one output as the child row and its artifact (inside the caller's
    transaction). Returns (error or None, file paths that may no longer be recorded)."""
    try:
        child = check_child_id(catalog, source_id, each_id, made.stage)
    except ValueError as exc:
        return str(exc), [made.file_path]
    other = catalog.images.by_sha(made.sha256, other_than=child)
    if other is not None:
        # images.sha256 is UNIQUE: the picture cannot be registered twice. The worker has
        # already replaced the child's file, so its old row goes too (never a row whose
        # file does not match its sha256).
        unused = [made.file_path, *catalog.images.drop_child(child)]
        return (
            f"output {made.file_path} is the same picture as image {other!r} "
            f"(sha256 {made.sha256[:12]}); not registered twice",
            unused,
        )
    catalog.images.add_child(child, source_id, made.facts)
    old = catalog.artifacts.record(
        image_id=child, stage=made.stage, file_path=made.file_path, facts=made.facts,
        params=made.params,
    )  # fmt: skip
    return None, [old] if old else []
