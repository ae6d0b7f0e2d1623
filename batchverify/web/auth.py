"""Who may use the server: the holder of its token, as ``Authorization: Bearer``, or a browser with a
live server-side session (logging in with the token or a one-time code starts one, logging out
ends it). Cookie-authenticated changes must come from the server's own pages
(SameSite=Strict, and an Origin or Referer naming this host), so another site cannot make a
logged-in browser start, stop or delete jobs."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from batchverify.errors import BatchVerifyError
from batchverify.web.clients import client_of
from batchverify.web.sessions import MAX_SECONDS, Brake, LoginCodes, Sessions
from batchverify.web.users import OPERATOR, User, Users

__all__ = ["AUTH", "COOKIE", "MIN_TOKEN", "USER", "Auth", "user_of"]

log = logging.getLogger("batchverify")
USER = web.RequestKey("user", User)  # who made the request


def user_of(request: web.Request) -> User:
    """Who made the request (set by the middleware; the operator where no login is asked)."""
    user: User = request.get(USER, OPERATOR)
    return user


COOKIE = "batchverify_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_PATHS = frozenset(
    {"/login", "/logout", "/static/app.js", "/static/app.css", "/favicon.ico", "/healthz", "/readyz"}
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json_error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=web.json_response({"error": message}).text, content_type="application/json")


MIN_TOKEN = 32  # characters of a token given in BATCHVERIFY_TOKEN


class Auth:
    """The token check, the sessions and the cross-site check, as one middleware."""

    def __init__(
        self,
        token: str,
        sessions_file: Path | None = None,
        *,
        public: frozenset[str] = frozenset(),
        users_file: Path | None = None,
    ) -> None:
        self._token = token.encode()
        self.users_file = users_file
        self.users = Users.load(users_file) if users_file is not None else None
        self._users_stamp = _stamp(users_file)
        self._users_checked = time.monotonic()
        self._open = _OPEN_PATHS | public  # public: paths the operator opened (--metrics-public)
        self.sessions = Sessions(sessions_file, token)
        self.codes = LoginCodes()
        self.brake = Brake()

    def token_ok(self, given: str) -> bool:
        # A header's odd bytes arrive as surrogates: a wrong token, never an error.
        return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), self._token)

    def login(self, given: str) -> User | None:
        """Whose code or token ``given`` is: a user of the users file, the operator, or no one."""
        users = self._current_users()
        found = users.find(given) if users is not None else None
        return found or (OPERATOR if self.token_ok(given) else None)

    def _current_users(self) -> Users | None:
        """The users file as it is now: read again when it changed (checked every 2 s at most), so
        a user added or removed counts without a restart; a file broken meanwhile keeps the last."""
        if self.users_file is None:
            return None
        now = time.monotonic()
        if now - self._users_checked >= 2.0:
            self._users_checked = now
            stamp = _stamp(self.users_file)
            if stamp != self._users_stamp:
                self._users_stamp = stamp
                try:
                    self.users = Users.load(self.users_file)
                    log.info("the users file changed: %d users", len(self.users))
                except BatchVerifyError as exc:
                    # Closed, not the last one: a removal must never be undone by a typo beside it.
                    self.users = Users({})
                    log.error(
                        "the users file cannot be used (%s): no user logs in until it is fixed",
                        exc,
                    )
        return self.users

    def identify(self, request: web.Request) -> tuple[str, User] | None:
        """(``"bearer"`` or ``"cookie"``, who) for a request with a token, a code or a live session."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            user = self.login(value.strip())
            if user is not None:
                return "bearer", user
        held = self.sessions.valid(request.cookies.get(COOKIE, ""))
        if held is None:
            return None
        if not held:
            return "cookie", OPERATOR
        users = self._current_users()
        known = users.holding(held) if users is not None else None
        return ("cookie", known) if known is not None else None  # removed (or a new code): logged out

    def authenticated(self, request: web.Request) -> str | None:
        """``"bearer"`` or ``"cookie"`` for a request that holds the token or a live session."""
        found = self.identify(request)
        return found[0] if found is not None else None

    def start_session(
        self, response: web.StreamResponse, request: web.Request, user: User = OPERATOR
    ) -> None:
        """A new server-side session for this browser (Set-Cookie only here, at login); the one it
        had before, if any, ends."""
        self.end_session(request)
        response.set_cookie(
            COOKIE,
            self.sessions.new("" if user is OPERATOR else user.code),
            httponly=True,
            samesite="Strict",
            secure=is_https(request),
            path="/",
            max_age=MAX_SECONDS,
        )

    def end_session(self, request: web.Request) -> None:
        self.sessions.end(request.cookies.get(COOKIE, ""))

    def too_many(self, request: web.Request) -> int:
        """Seconds this client must wait after repeated failed logins (0: none)."""
        return self.brake.wait(client_of(request))

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in _SAFE_METHODS and not same_origin(request):
            # Checked for every change, the login form's too; a Bearer client (a script) sends no
            # Origin at all, which passes: a browser always sends one on a cross-site POST.
            raise _json_error(web.HTTPForbidden, "cross-site request refused (its Origin is not this server)")
        if request.path in self._open:
            return await handler(request)
        found = self.identify(request)
        how = found[0] if found is not None else None
        if found is not None:
            request[USER] = found[1]
        if how is None:
            if request.path.startswith("/api/") or request.path == "/metrics":  # a program: no redirect
                if request.headers.get("Authorization"):  # a wrong token: a guess, braked like a login
                    wait = self.too_many(request)
                    if wait:
                        raise _busy(wait)
                    self.brake.failed(client_of(request), "a wrong token on the API")
                message = "the server's token is needed (Authorization: Bearer)"
                refused = _json_error(web.HTTPUnauthorized, message)
                refused.headers["WWW-Authenticate"] = 'Bearer realm="batchverify"'
                raise refused
            raise web.HTTPSeeOther("/login")
        if how == "cookie" and request.method not in _SAFE_METHODS and not has_origin(request):
            raise _json_error(web.HTTPForbidden, "a change with the session cookie needs an Origin header")
        return await handler(request)


AUTH = web.AppKey("auth", Auth)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat() if path is not None else None
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if st is not None else None


def _busy(wait: int) -> web.HTTPException:
    error = _json_error(web.HTTPTooManyRequests, f"too many failed logins from this address; wait {wait} s")
    error.headers["Retry-After"] = str(wait)
    return error


def has_origin(request: web.Request) -> bool:
    return bool(request.headers.get("Origin") or request.headers.get("Referer"))


def is_https(request: web.Request) -> bool:
    """Reached over HTTPS, directly or through a proxy that says so (``X-Forwarded-Proto``)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def same_origin(request: web.Request) -> bool:
    """No Origin or Referer (not a browser), or one naming this very host and port.

    Behind a reverse proxy the browser names the proxy's host: it counts when the proxy passes it
    on as ``Host`` or ``X-Forwarded-Host``. A cross-site page cannot forge either header (a custom
    header on a cross-site request needs a CORS preflight, which this server never grants).
    """
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True
    if origin == "null":
        return False
    parts = urlsplit(origin)
    hosts = {request.host.lower()}
    hosts.update(
        h.strip().lower() for h in request.headers.get("X-Forwarded-Host", "").split(",") if h.strip()
    )
    return parts.scheme in ("http", "https") and parts.netloc.lower() in hosts
