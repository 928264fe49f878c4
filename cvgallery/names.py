"""Names as they are stored, piped and shown: safe image ids and terminal-safe text.

An id is made from a file name, and every file a stage makes is ``<id><ext>`` in a flat
folder, next to temporaries with a prefix and a suffix. So an id must be a safe file name
(never empty, ``.``, ``..``, a dotfile, holding ``/`` or NUL), short enough to leave room
for those prefixes under NAME_MAX (255 bytes), and one line in a one-id-per-line pipe (no
control characters). :func:`image_id_for` derives such an id from any file name, keeping
it as close to the name as it can.

What a human reads (messages, not data) goes through :func:`shown` / :func:`escape_controls`:
a name holding an escape sequence is printed escaped, never replayed by the terminal.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata

#: ids made from file names are at most this many UTF-8 bytes, plus ``-<8 hex>`` when cut
MAX_ID_BYTES = 150
#: the bytes of an id that was too long kept before its ``-<8 hex>`` suffix
KEPT_ID_BYTES = 140

# Bidirectional overrides and isolates reorder what a terminal or a page shows ("Trojan
# Source"); they are treated like control characters.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _is_control(ch: str) -> bool:
    """C0/C1 controls, line and paragraph separators (str.splitlines breaks on them),
    bidi controls, and lone surrogates (bytes of a file name that are not UTF-8)."""
    category = unicodedata.category(ch)
    return category in ("Cc", "Zl", "Zp", "Cs") or ch in _BIDI


def utf8_prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` of at most ``limit`` UTF-8 bytes (never half a
    character)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def name_digest(text: str, length: int = 8) -> str:
    """Hex digits of the sha256 of a name."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def image_id_for(stem: str) -> str:
    """A safe id for a file whose name without extension is ``stem``.

    Control characters become ``_``; leading dots become ``_`` (``..jpg`` is id ``_``, no
    dotfile and never ``.`` or ``..``); an empty stem is ``_``; a stem over
    :data:`MAX_ID_BYTES` UTF-8 bytes keeps its first :data:`KEPT_ID_BYTES` bytes and gets
    ``-<8 hex of the sha256 of the whole name>``, so two long names sharing a beginning stay
    two ids. Anything else is kept as it is (spaces, quotes, any script).
    """
    text = "".join("_" if _is_control(ch) else ch for ch in stem).replace("/", "_")
    stripped = text.lstrip(".")
    text = "_" * (len(text) - len(stripped)) + stripped if stripped != text else text
    if not text:
        text = "_"
    if len(text.encode("utf-8")) > MAX_ID_BYTES:
        text = f"{utf8_prefix(text, KEPT_ID_BYTES)}-{name_digest(stem)}"
    return text


def id_changes(stem: str) -> list[str]:
    """Why :func:`image_id_for` does not keep ``stem`` as it is (empty when it does)."""
    why = []
    if any(_is_control(ch) for ch in stem):
        why.append("control characters replaced by _")
    if "/" in stem:
        why.append("/ replaced by _")
    if stem.startswith(".") or not stem:
        why.append("leading dots replaced by _" if stem else "empty name")
    if len(image_id_for(stem).encode("utf-8")) < len(stem.encode("utf-8", "surrogatepass")):
        why.append(f"cut to {KEPT_ID_BYTES} bytes + a hash of the name")
    return why


def safe_suffix(suffix: str) -> str:
    """A file's extension as it is stored: lower case, no control characters, at most 16
    bytes (a longer one is not a real extension and is cut)."""
    suffix = "".join("_" if _is_control(ch) else ch for ch in suffix.lower())
    return utf8_prefix(suffix, 16)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with every control character (see :func:`_is_control`) written as an
    escape (``\\x1b``, ``\\n``, ``\\u202e``); characters in ``keep`` stay as they are."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in keep or not _is_control(ch):
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def shown(text: object) -> str:
    """A name, id or path as a message shows it: as it is when every character prints,
    else as repr() shows it, quoted, with its control characters escaped (a newline, an
    escape sequence, a bidi override, bytes that are not UTF-8)."""
    value = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    return value if value.isprintable() else repr(value)


def terminal_safe(message: str) -> str:
    """A human message with control characters escaped except newlines and tabs: the
    last line of defence in the CLI, whatever a message interpolated."""
    return escape_controls(message, keep="\n\t")
