"""One exception tree: the library raises these, the CLI turns them into messages and exit codes."""


class CvgalleryError(Exception):
    """Base of every error cvgallery reports to a user; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class ConfigError(CvgalleryError):
    """site.toml is missing a value, has a bad one, or names an unknown key."""

    exit_code = 2


class NotASite(ConfigError):
    """A command other than `init` was run outside a site (no site.toml up the tree) or
    given a --root that is not one: it would make a catalog, or copy files, there."""


class UsageError(CvgalleryError):
    """A command was called with arguments that cannot work (unknown stage, bad JSON...)."""

    exit_code = 2


class CatalogError(CvgalleryError):
    """cv.db cannot be used: not a SQLite file, or written by a newer cvgallery."""

    exit_code = 2


class CatalogUnavailable(CvgalleryError):
    """cv.db is fine but cannot be used right now: another command holds its lock past the
    busy timeout, it or its folder is read-only, the disk is full."""


class UnknownImage(CvgalleryError):
    """An image id that the catalog does not hold."""

    def __init__(self, image_id: str):
        super().__init__(f"unknown image id: {image_id!r}")
        self.image_id = image_id


class UnknownStage(UsageError):
    """A stage name that is neither built in (config.STAGES) nor declared in site.toml."""

    def __init__(self, stage: str, known: "list[str] | tuple[str, ...]" = ()):
        hint = f" (known: {', '.join(known)})" if known else ""
        super().__init__(f"unknown stage: {stage!r}{hint}")
        self.stage = stage


class BuildError(CvgalleryError):
    """The site could not be rendered (template error, unwritable output)."""


class PublishError(CvgalleryError):
    """A publish cannot start: bad target, a safety rail refused, the target is unreachable.

    Upload failures during a run are not raised: they are reported by path with the reason.
    """

    exit_code = 2
