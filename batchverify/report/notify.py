"""``--notify URL``: at the end of every run (command line) or job (``serve``), one POST of the
summary JSON, signed so that the receiver knows it came from us.

``X-Batchverify-Signature: sha256=<hex HMAC-SHA256 of the body>`` keyed by
``BATCHVERIFY_NOTIFY_SECRET``; ``X-Batchverify-Delivery`` is one id per notification, the same on
every attempt (a receiver that saw it already ignores a repeat); ``X-Batchverify-Event`` says what
ended. A timeout, a cut connection, a 5xx, 408 or 429 is tried again after 1, 4 and 16 s (four
attempts in all, 10 s each); any other answer ends it. A redirect is not followed: the signed body
goes to the address that was named, or nowhere. Delivery never changes how the run ended: a
notification that cannot be delivered is logged, and that is all.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from batchverify import errors
from batchverify._version import __version__
from batchverify.core.text import from_outside

__all__ = ["ATTEMPTS", "NOTIFY_SECRET_ENV", "NOTIFY_URL_ENV", "Notifier", "notifier_from", "signature_of"]

log = logging.getLogger("batchverify")

NOTIFY_URL_ENV = "BATCHVERIFY_NOTIFY"  # the URL, for one that carries a secret of its own
NOTIFY_SECRET_ENV = "BATCHVERIFY_NOTIFY_SECRET"
ATTEMPTS = 4
BACKOFF = (1.0, 4.0, 16.0)  # seconds before the 2nd, 3rd and 4th attempt (plus up to 10 % jitter)
TIMEOUT = 10.0  # seconds one attempt may take, connect to last byte
_AGAIN = {408, 429}  # 4xx answers that mean "later", as a 5xx does
_MIN_SECRET = 16


def signature_of(secret: bytes, body: bytes) -> str:
    """The ``X-Batchverify-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Notifier:
    url: str = field(repr=False)  # a webhook's path or query is often its secret
    secret: bytes = field(repr=False)
    backoff: tuple[float, ...] = BACKOFF
    timeout: float = TIMEOUT

    @property
    def shown(self) -> str:
        """Where notifications go, as logs may show it: a webhook's path or query often is its
        secret, so only the scheme, host and port."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}/…"

    async def send(self, event: str, doc: Mapping[str, Any]) -> bool:
        """POST ``doc`` (``event`` added) until it is taken or the attempts are spent; never raises."""
        # A file name that is not UTF-8 (surrogate escapes) becomes \udcXX escapes, valid JSON.
        text = json.dumps({**doc, "event": event}, ensure_ascii=False, sort_keys=True, default=str)
        body = text.encode("utf-8", "backslashreplace")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"batchverify/{__version__}",
            "X-Batchverify-Event": event,
            "X-Batchverify-Delivery": uuid.uuid4().hex,
            "X-Batchverify-Signature": signature_of(self.secret, body),
        }
        attempts = len(self.backoff) + 1
        why = ""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
                for attempt in range(1, attempts + 1):
                    status, why = await self._attempt(session, body, headers)
                    if status is not None and 200 <= status < 300:
                        log.info(
                            "notification delivered to %s (HTTP %d, attempt %d)", self.shown, status, attempt
                        )
                        return True
                    if status is not None and status < 500 and status not in _AGAIN:
                        break  # refused: the same body would be refused again
                    if attempt < attempts:
                        await asyncio.sleep(self.backoff[attempt - 1] * random.uniform(1.0, 1.1))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a notification must never end the run it reports
            why = from_outside(f"{type(exc).__name__}: {exc}")
        log.warning("notification to %s not delivered (%s); the run's outcome is unchanged", self.shown, why)
        return False

    async def _attempt(
        self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str]:
        try:
            async with session.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                await response.content.read(65536)  # an answer's body is not ours to keep
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, from_outside(f"{type(exc).__name__}: {exc}".rstrip(": "))[:300]
        if 300 <= status < 400:
            return status, f"HTTP {status}: a redirect is not followed (name the address it points to)"
        return status, f"HTTP {status}"


def notifier_from(url: str | None, environ: Mapping[str, str] = os.environ) -> Notifier | None:
    """The notifier of ``--notify URL`` (or ``BATCHVERIFY_NOTIFY``), checked before anything is
    sent: an http(s) URL with a host, and a secret of at least 16 characters to sign with."""
    url = (url or environ.get(NOTIFY_URL_ENV, "")).strip() or None
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, not at the end of the run
    except ValueError:
        raise errors.UsageError(
            "the notification URL cannot be read (its host or port is malformed)", option="notify"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.UsageError(
            "the notification URL must be an http:// or https:// address with a host", option="notify"
        )
    secret = environ.get(NOTIFY_SECRET_ENV, "")
    if len(secret) < _MIN_SECRET:
        raise errors.UsageError(
            f"notifications are signed: set {NOTIFY_SECRET_ENV} to a secret of at least {_MIN_SECRET} "
            "characters (the receiver checks X-Batchverify-Signature with it)",
            option="notify",
        )
    return Notifier(url, secret.encode())
