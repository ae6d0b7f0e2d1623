"""Who is logged in: server-side sessions (random ids, stored hashed beside the jobs so a restart
keeps them, ended by logging out, expiring when idle and in any case), one-time login codes for the
link the server prints, and a brake on repeated failed logins."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path

__all__ = ["Brake", "LoginCodes", "Sessions"]

log = logging.getLogger("batchverify")

IDLE_SECONDS = 12 * 3600  # a session unused this long has ended
MAX_SECONDS = 7 * 86400  # and none lives longer than this
CODE_SECONDS = 600  # a printed login link works once, within this
MAX_SESSIONS = 1000


def _digest(secret: str) -> str:
    # A header may carry any bytes (aiohttp hands them on as surrogates): never an error here.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


SAVE_SEEN_EVERY = 600.0  # a session's last use reaches the file at most this late


class Sessions:
    """Sessions by the SHA-256 of their id (the file never holds one a thief could use)."""

    def __init__(self, path: Path | None, token: str = "") -> None:
        self._path = path
        self._lock = threading.Lock()
        self._known: dict[str, dict[str, float]] = {}
        self._users: dict[str, str] = {}  # session digest -> the SHA-256 of its user's access code
        self._saved = time.time()
        # Sessions belong to the token that started them: a new token (rotated after a leak) ends
        # every one of them, on the next start.
        self._token = _digest("batchverify sessions of " + token)
        if path is not None:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, KeyError):
                doc = json.loads(path.read_text(encoding="utf-8"))
                if doc.get("token") == self._token:
                    self._known = {
                        str(k): {"created": float(v["created"]), "seen": float(v["seen"])}
                        for k, v in doc["sessions"].items()
                    }
                    users = doc.get("users", {})
                    self._users = {str(k): str(v) for k, v in users.items() if k in self._known}

    def new(self, user: str = "") -> str:
        """A new session of ``user`` (the SHA-256 of a users file's code; "": the operator)."""
        session = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._prune(now)
            if len(self._known) >= MAX_SESSIONS:  # the oldest goes first
                oldest = min(self._known, key=lambda k: self._known[k]["seen"])
                del self._known[oldest]
                self._users.pop(oldest, None)
            self._known[_digest(session)] = {"created": now, "seen": now}
            if user:
                self._users[_digest(session)] = user
            self._save()
        return session

    def valid(self, session: str) -> str | None:
        """Whose a live session is (their code's SHA-256; "" for the operator), or None."""
        if not session:
            return None
        now = time.time()
        key = _digest(session)
        with self._lock:
            entry = self._known.get(key)
            if entry is None or self._expired(entry, now):
                return None
            entry["seen"] = now
            if now - self._saved > SAVE_SEEN_EVERY:  # a session in use all day outlives a restart
                self._save()
            return self._users.get(key, "")

    def end(self, session: str) -> None:
        with self._lock:
            self._users.pop(_digest(session), None)
            if self._known.pop(_digest(session), None) is not None:
                self._save()

    @staticmethod
    def _expired(entry: dict[str, float], now: float) -> bool:
        return now - entry["seen"] > IDLE_SECONDS or now - entry["created"] > MAX_SECONDS

    def _prune(self, now: float) -> None:
        for key in [k for k, v in self._known.items() if self._expired(v, now)]:
            del self._known[key]
            self._users.pop(key, None)

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"token": self._token, "sessions": self._known, "users": self._users}, f)
            tmp.replace(self._path)
            self._saved = time.time()
        except OSError as exc:
            log.warning("cannot save the sessions (%s): they end with this server", exc.strerror or exc)
            with contextlib.suppress(OSError):
                tmp.unlink()


class LoginCodes:
    """Login codes for a printed link: each works once, within ``CODE_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, float] = {}

    def new(self, seconds: float = CODE_SECONDS) -> str:
        code = secrets.token_urlsafe(18)
        with self._lock:
            self._codes[_digest(code)] = time.monotonic() + seconds
        return code

    def use(self, code: str) -> bool:
        with self._lock:
            until = self._codes.pop(_digest(code), None)
        return until is not None and time.monotonic() < until


class Brake:
    """Repeated failed logins from one address: after ``free`` in ``span`` seconds, each further
    attempt waits (30 s, doubling, up to 15 min); every failure is logged with the address."""

    def __init__(self, free: int = 5, span: float = 900.0) -> None:
        self._free = free
        self._span = span
        self._lock = threading.Lock()
        self._failures: dict[str, collections.deque[float]] = {}

    def wait(self, client: str) -> int:
        """Seconds ``client`` must wait before another attempt (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(client)
            if not times:
                return 0
            while times and now - times[0] > self._span:
                times.popleft()
            over = len(times) - self._free
            if over < 0:
                return 0
            pause = min(900.0, 30.0 * 2**over)
            return max(0, int(times[-1] + pause - now + 0.999))

    def attempt(self, client: str) -> None:
        """An attempt is counted as failed from its start (so concurrent guesses are braked too);
        ``succeeded`` clears the address's record."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # bounded: the oldest addresses are forgotten
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(client, collections.deque(maxlen=64)).append(now)

    def failed(self, client: str, how: str, *, counted: bool = False) -> None:
        if not counted:
            self.attempt(client)
        with self._lock:
            count = len(self._failures.get(client, ()))
        log.warning("failed login from %s (%s; %d in the last %d min)", client, how, count, self._span // 60)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
