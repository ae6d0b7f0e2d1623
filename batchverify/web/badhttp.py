"""Requests aiohttp cannot parse (a header line past its limit, a broken request line, a body
framed wrongly) never reach a handler: aiohttp answers them with a text/plain page and logs a
traceback. The API answers JSON, always, and a stranger's garbage is one log line, not a trace."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from batchverify.web.problems import problem

__all__ = ["json_parse_errors"]

log = logging.getLogger("batchverify")

_QUIET = 10.0  # seconds: garbage sent in a loop fills no disk, one line per this at most
_said = {"at": -_QUIET, "untold": 0}


_REASONS = {
    "LineTooLong": "a line of the request is too long",
    "BadStatusLine": "the request line is not HTTP",
    "BadHttpMethod": "the request line is not HTTP",
    "InvalidHeader": "a header is malformed",
    "InvalidURLError": "the address is malformed",
    "ContentLengthError": "the body's length is wrong",
    "TransferEncodingError": "the body's framing is wrong",
}


class _Handler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:  # a fault of ours: aiohttp's answer and the whole trace in the log
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was sent already")
        # Never the parser's own text: it quotes the offending line, which may be the token's
        # header or a login code's request line.
        reason = _REASONS.get(type(exc).__name__, "the request could not be read as HTTP")
        now = time.monotonic()
        if now - _said["at"] >= _QUIET:
            more = f" ({_said['untold']} more since the last line)" if _said["untold"] else ""
            log.warning("malformed request from %s: %s%s", request.remote, reason, more)
            _said.update(at=now, untold=0)
        else:
            _said["untold"] += 1
        doc = {"error": f"malformed request: {reason}", "code": "bad_request"}
        response = problem(status, doc)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


def json_parse_errors(server: Any) -> None:
    """Make ``server`` (``runner.server`` after ``setup()``) answer what it cannot parse in JSON."""
    if type(server) is web.Server:
        server.__class__ = _Server
