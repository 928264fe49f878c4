"""cvgallery: one SQLite catalog for an image pipeline, published as a static gallery."""

__version__ = "0.1.0"

# The built-in stage kinds register themselves in config.KINDS, which site.toml is
# validated against: importing the package makes them known.
from . import stages as _stages  # noqa: E402, F401
