"""The API's errors as RFC 9457 problem details: ``application/problem+json`` with ``type``,
``title``, ``status`` and ``detail``, keeping the fields clients had before (``error``, ``code``,
``message``, ``field``). Made in one place, from whatever error a handler, the token check or
aiohttp itself produced."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

__all__ = ["PROBLEM", "as_problem", "problem"]

PROBLEM = "application/problem+json"


def problem(status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    """The problem document of an error ``doc`` (``{"error": ...}``) with ``status``."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    detail = doc.get("message") or doc.get("error") or title
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **doc}
    text = json.dumps(body, ensure_ascii=False)
    return web.Response(text=text, status=status, content_type=PROBLEM, headers=dict(headers or {}))


def as_problem(response: web.StreamResponse) -> web.StreamResponse:
    """``response`` as a problem document when it is an API error in plain JSON; else as it is."""
    if (
        response.status < 400
        or not isinstance(response, web.Response)
        or response.content_type != "application/json"
    ):
        return response
    try:
        doc = json.loads(response.body or b"") if isinstance(response.body, bytes) else None
    except ValueError:
        return response
    if not isinstance(doc, dict) or "error" not in doc:
        return response
    kept = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
    return problem(response.status, doc, kept)
