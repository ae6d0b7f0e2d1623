"""``GET /api/openapi.json``: an OpenAPI 3.1 description of the server's HTTP API, made from the
routes the application has (its router) and what each handler says of itself (``@describe`` on the
handler). A route without a description fails the tests; a description without a route is never
shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from batchverify._version import __version__

__all__ = ["JOB_REF", "UPLOAD_FORM", "describe", "described", "openapi_document"]

F = TypeVar("F", bound=Callable[..., Any])
Doc = dict[str, Any]

_DESCRIBED: dict[Callable[..., Any], Doc] = {}

ERROR: Doc = {
    "type": "object",
    "description": "RFC 9457 problem details, with the fields the API has always had.",
    "required": ["type", "title", "status", "detail", "error"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "error": {"type": "string", "description": "One line, in English."},
        "code": {"type": "string", "description": "Stable: scripts may rely on it."},
        "message": {"type": "string", "description": "The same in the browser's language."},
        "field": {"type": "string", "description": "The field at fault, when there is one."},
    },
}
_TEXT: Doc = {"type": "string"}
# The upload's form: the file, the planning choices and the job's own fields (web/fields.py).
UPLOAD_FORM: Doc = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                **dict.fromkeys(("column", "sheet", "header_row", "max_age"), _TEXT),
                "name": {"type": "string", "description": "The job's name (default: the file's)"},
                "time_zone": {"type": "string", "description": "The workbook's zone (Asia/Shanghai)"},
                "browser_time_zone": {"type": "string", "description": "As time_zone; ignored if unknown"},
                "max_billable": {"type": "string", "description": "The job's budget across its runs"},
                "output": {"type": "string", "enum": ["workbook", "same"]},
                "headers": {"type": "string", "enum": ["words", "names"]},
            },
        }
    }
}
JOB: Doc = {
    "type": "object",
    "required": ["id", "state"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "state": {"enum": ["planned", "queued", "running", "stopped", "finished", "failed"]},
        "total": {"type": "integer", "description": "Distinct numbers to answer."},
        "done": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "summary": {"type": ["object", "null"], "description": "The last run's summary (as --summary-json)."},
        "plan": {"type": "object", "description": "The plan: rows, columns, preview, what would be sent."},
        "error": {"type": ["string", "null"]},
        "stopping": {"type": "boolean", "description": "A Stop was asked; calls in flight land."},
        "writing": {
            "type": "boolean",
            "description": "Stopped: nothing more is sent, and the file of what it has is being written "
            "(no download or Start until it is).",
        },
    },
    "additionalProperties": True,
}
_SCHEMAS = {"Error": ERROR, "Job": JOB}
JOB_REF: Doc = {"$ref": "#/components/schemas/Job"}
_ERROR_REF: Doc = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"
_PROBLEM = "application/problem+json"


def _content(schema: Doc, kind: str = _JSON) -> Doc:
    return {kind: {"schema": schema}}


def describe(
    summary: str,
    *,
    responses: dict[int, str | tuple[str, Doc] | tuple[str, Doc, str]],
    body: Doc | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    token: bool = True,
) -> Callable[[F], F]:
    """Say what a handler does: ``responses`` maps a status to its description, or to (description,
    JSON schema) or (description, schema, media type); ``body`` is the request body's ``content``;
    ``query`` names the query parameters; ``token`` whether the server's token is needed."""

    def keep(handler: F) -> F:
        answers: Doc = {}
        for status, said in responses.items():
            if isinstance(said, str):
                text, content = (
                    said,
                    (_content(_ERROR_REF, _PROBLEM) if status >= 400 else None),
                )
            else:
                text, schema, *kind = said
                content = _content(schema, kind[0] if kind else _JSON)
            answers[str(status)] = {"description": text, **({"content": content} if content else {})}
        if token:
            answers.setdefault(
                "401",
                {"description": "The token is missing or wrong.", "content": _content(_ERROR_REF, _PROBLEM)},
            )
        operation: Doc = {"summary": summary, "responses": answers}
        if body is not None:
            operation["requestBody"] = {"required": True, "content": body}
        parameters = [
            {"name": name, "in": where, "schema": {"type": "string"}, "description": text}
            for where, given in (("query", query or {}), ("header", headers or {}))
            for name, text in given.items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if not token:
            operation["security"] = []
        _DESCRIBED[handler] = operation
        return handler

    return keep


def described(handler: Callable[..., Any]) -> bool:
    return handler in _DESCRIBED


def openapi_document(app: web.Application) -> Doc:
    """The document of ``app``'s API routes (``/api/...``, the probes, ``/metrics``)."""
    paths: Doc = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or not _public_path(path):
            continue
        operation = dict(_DESCRIBED.get(route.handler, {"summary": "(not described)", "responses": {}}))
        names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
        if names:
            given = operation.get("parameters", [])
            operation["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names
            ] + given
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "batchverify serve",
            "version": __version__,
            "description": "Upload a customer list, check the plan, start, follow, download. Every call "
            "needs the server's token as Authorization: Bearer, but for the probes.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
    }


def _public_path(path: str) -> bool:
    return path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics")
