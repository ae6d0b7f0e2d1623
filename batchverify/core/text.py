"""Text that came from outside (the API's Description, an error's Message, a header) made safe to
write: no control characters (a bare CR, a newline that forges a log line, a terminal escape, a
bidirectional override), bounded in length, and, for an output in a narrow encoding, only
characters that encoding can hold."""

from __future__ import annotations

import unicodedata

__all__ = ["from_outside", "holdable"]

# Line and paragraph separators, tabs and the like become one space; every other character that
# is not printable (C0/C1 controls, DEL, format characters such as U+202E, private use,
# unassigned code points, lone surrogates) becomes U+FFFD, so what was hidden stays visible.
_SPACE_CATEGORIES = ("Zs", "Zl", "Zp")


def from_outside(text: str, limit: int = 1000) -> str:
    """``text`` cut to ``limit`` characters, without control characters, on one line."""
    out: list[str] = []
    for ch in text[:limit]:
        if ch.isprintable():
            out.append(ch)
        elif ch in "\t\n\r\v\f" or unicodedata.category(ch) in _SPACE_CATEGORIES:
            out.append(" ")
        else:
            out.append("\ufffd")
    return "".join(out)


def holdable(text: str, codec: str) -> str:
    """``text`` with every character ``codec`` cannot hold replaced (``?`` or the codec's own
    replacement), so text from outside never makes an output unwritable."""
    if text.isascii():
        return text
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return text.encode(codec, "replace").decode(codec, "replace")
    except LookupError:
        return text
    return text
