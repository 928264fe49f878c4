"""The legacy layout (img/, yes/, no/, thumbs/, t2/, replicate/, pub/, v/, g/, blur/): import
it into the catalog, plan that import, check it, and rebuild the layout for a rollback.

* migration.py  `cvgallery migrate`: resumable import in committed batches
* plan.py       `cvgallery migrate --dry-run`: the same findings, nothing written
* validate.py   the migration's closing check (legacy tree vs legacy_files vs art/)
* export.py     `cvgallery export-legacy`: the layout rebuilt from the catalog
* layout.py     the folder rules, walking and reading legacy files, where bytes live now
* report.py     MigrationReport, what migrate and its plan return

Their SQL is the catalog's ``archive`` part (cvgallery.catalog.archive). Nothing here
imports cvgallery.verify; verify may use layout's helpers.
"""

from .export import export_legacy
from .migration import migrate
from .plan import plan_migration
from .report import MigrationReport
from .validate import validate_migration

__all__ = ["MigrationReport", "export_legacy", "migrate", "plan_migration", "validate_migration"]
