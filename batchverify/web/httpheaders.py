"""Two headers of the JSON API: a request's ``Idempotency-Key`` and a download's
``Content-Disposition``."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from batchverify.web.messages import UploadError

__all__ = ["disposition", "idempotency_key"]

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def idempotency_key(request: web.Request) -> str:
    """The request's Idempotency-Key ("" for none); ``UploadError`` (400) for one that is not 1 to
    200 of the characters a UUID or a token uses."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if key and (len(key) > 200 or not set(key) <= _KEY_CHARS):
        raise UploadError(
            "Idempotency-Key takes 1 to 200 letters, digits and - _ . :", code="bad_idempotency_key"
        )
    return key


def disposition(name: str) -> str:
    """An attachment named ``name``: ASCII for old clients, UTF-8 (RFC 6266) for the rest."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
