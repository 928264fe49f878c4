"""cvgallery: one SQLite catalog for an image pipeline, published as a static gallery."""

__version__ = "0.1.0"
