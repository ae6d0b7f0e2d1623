"""The audit log: who logged in, uploaded, renamed, started, stopped, downloaded and deleted what,
when and from where. One JSON object a line in ``<data dir>/audit.log`` (only appended to; 0600),
and the same as a log line, so a journal or a log shipper has it too. Never a token, a code or a
server path."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from batchverify.core.timeutil import utc_now_iso
from batchverify.web.auth import user_of
from batchverify.web.clients import client_of

__all__ = ["AUDIT", "AuditLog", "audit"]

log = logging.getLogger("batchverify")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError as exc:  # a full disk: the log line below still says it
                log.error("cannot write the audit log (%s)", exc.strerror or exc)


AUDIT = web.AppKey("audit", AuditLog)


def audit(request: web.Request, action: str, job: Any = None, **details: Any) -> None:
    """Record ``action`` by the request's user (``job``: a WebJob, named by id and list name)."""
    user = user_of(request)
    entry: dict[str, Any] = {"time": utc_now_iso(), "user": user.name, "client": client_of(request)}
    entry["action"] = action
    if job is not None:
        entry["job"] = job.record.id
        entry["list"] = job.record.name
        if job.record.title:
            entry["name"] = job.record.title
    # one short line each: a value sent by a client never forges a line of the log or floods it
    entry.update({k: " ".join(str(v).split())[:200] if isinstance(v, str) else v for k, v in details.items()})
    trail = request.app.get(AUDIT)
    if trail is not None:
        trail.write(entry)
    what = f" job {entry['job']} ({entry['list']})" if job is not None else ""
    extra = "".join(f", {k} {entry[k]}" for k in details)
    log.info("audit: %s %s%s from %s%s", user.name, action, what, entry["client"], extra)
