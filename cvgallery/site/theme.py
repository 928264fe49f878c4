"""Themes: one template lookup order and one static-asset lookup order.

Lookup (sigal, pelican and mkdocs do the same): the site's ``themes/<name>/``, then the
built-in ``themes/<name>/``, then the built-in default. A template that overrides a
default one can still extend it as ``{% extends "!default/base.html" %}``.
Autoescape is on for every template, HTML and XML alike.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from markupsafe import Markup

import cvgallery

from ..config import SiteConfig, check_theme_name
from ..errors import BuildError, ConfigError

DEFAULT_THEME = "default"


def builtin_themes_dir() -> Path:
    """The built-in themes are package data (cvgallery/themes/), so a wheel carries them and
    a site's own themes/ folder never is the built-in one."""
    themes = Path(cvgallery.__file__).resolve().parent / "themes"
    if not (themes / DEFAULT_THEME).is_dir():
        raise BuildError(f"built-in themes not found in {themes}")
    return themes


def theme_dirs(config: SiteConfig) -> list[Path]:
    """The theme folders in lookup order (only those that exist)."""
    builtin = builtin_themes_dir()
    check_theme_name(config.theme)
    candidates = [config.root / "themes" / config.theme, builtin / config.theme]
    found = [d for d in candidates if d.is_dir()]
    if not found:
        raise ConfigError(
            f"theme {config.theme!r} not found in {config.root / 'themes'} or the built-in themes"
        )
    default = builtin / DEFAULT_THEME
    if default not in found:
        found.append(default)
    return found


class Theme:
    """The Jinja environment and the static files of a site's theme."""

    def __init__(self, config: SiteConfig):
        self.dirs = theme_dirs(config)
        self.template_dirs = [d / "templates" for d in self.dirs if (d / "templates").is_dir()]
        default_templates = builtin_themes_dir() / DEFAULT_THEME / "templates"
        loader = jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader([str(d) for d in self.template_dirs]),
                jinja2.PrefixLoader(
                    {"!default": jinja2.FileSystemLoader(str(default_templates))}, delimiter="/"
                ),
            ]
        )
        self.env = _Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            bytecode_cache=_bytecode_cache(),
            # One environment per build: no template changes under it, and checking each
            # template's mtime on every render was a stat per page and template.
            auto_reload=False,
        )
        self.env.finalize = drop_control_chars
        # The filters that make markup of a raw value, which finalize lets through as it
        # is (see drop_control_chars), drop the characters first.
        for name in ("safe", "e", "escape", "forceescape"):
            self.env.filters[name] = _dropping_first(self.env.filters[name])
        self.env.filters["rfc3339"] = rfc3339
        self.env.filters["xmltext"] = xmltext
        self.env.filters["srcset"] = srcset

    def static_files(self) -> dict[str, Path]:
        """Relative name → file, the first theme folder in lookup order winning."""
        files: dict[str, Path] = {}
        for theme in self.dirs:
            static = theme / "static"
            for path in _walk(static):
                files.setdefault(path.relative_to(static).as_posix(), path)
        return dict(sorted(files.items()))

    def fingerprint(self) -> str:
        """Changes when any template or static file of the lookup chain changes."""
        digest = hashlib.sha256()
        for theme in self.dirs:
            for path in _walk(theme):
                st = _stat(path)
                digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def render(self, template_name: str, context: dict[str, Any]) -> str:
        """Render one template; any error becomes a BuildError naming the template and line."""
        try:
            return self.env.get_template(template_name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or template_name
            raise BuildError(f"template {where}, line {exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateNotFound as exc:
            raise BuildError(f"template not found: {exc.name}") from exc
        except Exception as exc:
            where = self._template_frame(exc) or template_name
            raise BuildError(f"template {where}: {type(exc).__name__}: {exc}") from exc

    def _template_frame(self, exc: BaseException) -> str | None:
        """Jinja rewrites tracebacks so template frames carry the template file and line."""
        roots = [str(d) for d in self.dirs]
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if any(frame.filename.startswith(r) for r in roots):
                return f"{frame.filename}, line {frame.lineno}"
        return None


class _Environment(jinja2.Environment):
    """Jinja's environment, but a dict's key is found without first trying (and failing)
    to find an attribute of that name: templates read ``page.url`` and ``site.title``
    a few dozen times a page, and each was a caught AttributeError. The answer is the
    same: a key is returned only where the dict has no attribute of its name."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:
            cls = type(obj)
            if attribute not in _class_names(cls) and (
                cls is dict or attribute not in getattr(obj, "__dict__", ())
            ):
                return obj[attribute]
        try:  # from here on, as Jinja's own
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


@functools.lru_cache(maxsize=64)
def _class_names(cls: type) -> frozenset[str]:
    return frozenset(dir(cls))


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (Jinja's own per-user folder in the temporary
    directory, written atomically, checked against each template's source): compiling the
    theme is a fifth of a build after one approval. None where that folder is unusable."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


# Characters XML 1.0 forbids (and no HTML page wants): a name or title holding one would
# make the feed and sitemap unreadable to every parser.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def drop_control_chars(value: Any) -> Any:
    """Every value a template prints passes here (Environment.finalize): a hundred a page,
    so a printable string (no control character, the common case) is let through first.

    Markup is let through as it is: it is a macro's output (a whole figure, a whole grid,
    made of values that passed here already: scanning them again was 7% of rendering an
    index page) or the output of a filter that made markup of a raw value, which drops
    the characters itself (``safe``, ``e``, ... in Theme, ``xmltext``)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return without_control_chars(value)
    return value


def without_control_chars(text: str) -> str:
    if text.isprintable() or not _CONTROL.search(text):
        return text
    cleaned = _CONTROL.sub("", text)
    return Markup(cleaned) if isinstance(text, Markup) else cleaned


def _dropping_first(markup_filter: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(markup_filter)
    def dropping(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = without_control_chars(value)
        return markup_filter(value, *args, **kwargs)

    return dropping


def srcset(files: Iterable[Any], root: str = "") -> str:
    """``files|srcset(root)``: "<root><src> <width>w, ..." of media files (a filter, not a
    macro: a grid of 60 pictures in three formats builds 180 of these a page)."""
    return ",".join(f"{root}{m.src} {m.width}w" for m in files)


def rfc3339(value: object) -> str:
    """A catalog timestamp ("2026-11-25 17:49:16.123", UTC) as the Atom feed wants it."""
    text = str(value or "1970-01-01 00:00:00").strip()
    date, _, clock = text.partition(" ")
    clock = (clock or "00:00:00").split(".")[0]
    return f"{date}T{clock}Z"


def xmltext(value: object) -> Markup:
    """Escape markup as text, once more: an Atom <content type="html"> holds escaped HTML.

    str() of a Markup is a plain str, so escape() escapes it instead of passing it through.
    """
    return markupsafe.escape(without_control_chars(str(value)))


def _stat(path: Path) -> os.stat_result:
    """A theme file's stat; a broken symbolic link or an unreadable file is the theme's
    fault, named, not a traceback."""
    try:
        return path.stat()
    except OSError as exc:
        link = " (a symbolic link to a missing file)" if path.is_symlink() else ""
        raise BuildError(f"theme file {path}: {exc.strerror or exc}{link}") from exc


def read_theme_file(path: Path) -> bytes:
    """A theme's static file, or BuildError naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        link = " (a symbolic link to a missing file)" if path.is_symlink() else ""
        raise BuildError(f"theme file {path}: {exc.strerror or exc}{link}") from exc


def _walk(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name
