"""The HTML side: the page itself (one template, one script) and the login form."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from batchverify.web.audit import audit
from batchverify.web.auth import AUTH, COOKIE, USER, user_of
from batchverify.web.clients import client_of
from batchverify.web.routes import MANAGER
from batchverify.web.words import browser_language, page_words, words

__all__ = ["AUTH", "add_page_routes"]

_NO_STORE = {"Cache-Control": "no-store"}


def _language(request: web.Request) -> str:
    default = request.app[MANAGER].settings.language
    return browser_language(request.headers.get("Accept-Language", ""), default)


def _keep_text(keep: datetime.timedelta | None, language: str) -> str:
    if keep is None:
        return ""
    days, hours = keep.days, keep.seconds // 3600
    w = words(language)
    if days and not hours:
        return w["d_d"].replace("{n}", str(days))
    return w["d_h"].replace("{n}", str(days * 24 + hours or 1))


async def index(request: web.Request) -> web.Response:
    language = _language(request)
    setup = page_words(language)
    settings = request.app[MANAGER].settings
    user = user_of(request)
    setup.update(
        {
            "user": user.name,
            "admin": user.admin,
            "users": settings.users_file is not None,
            "keep": _keep_text(settings.keep, language),
            "price": settings.options.price,
            "rate": settings.options.rate,
        }
    )
    context: dict[str, Any] = {
        "lang": language,
        "w": words(language),
        "setup": json.dumps(setup, ensure_ascii=False).replace("<", "\\u003c"),
        "max_mb": request.app[MANAGER].settings.max_upload / (1024 * 1024),
        "max_bytes": request.app[MANAGER].settings.max_upload,
    }
    response = aiohttp_jinja2.render_template("index.html", request, context)
    response.headers.update(_NO_STORE)
    return response


BODY_SECONDS = 20.0  # a login form's body arrives within this, or the attempt is dropped


async def login_form(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    code = request.query.get("code")
    if "token" in request.query:
        # A token in an address ends up in histories, proxies and logs: never accepted there.
        return _login_page(request, failed=True, status=400)
    if code is not None:
        # The link printed at start: one time, within minutes; the code leaves the address bar.
        wait = auth.too_many(request)
        if wait:
            return _login_page(request, failed=True, status=429, wait=wait)
        if auth.codes.use(code):
            auth.brake.succeeded(client_of(request))
            response = web.HTTPSeeOther("/")
            auth.start_session(response, request)
            audit(request, "login", how="the printed link")
            raise response
        auth.brake.failed(client_of(request), "a used, expired or wrong login link")
        return _login_page(request, failed=True, status=401)
    if auth.authenticated(request):
        raise web.HTTPSeeOther("/")
    return _login_page(request, failed=False, status=200)


async def login_submit(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    wait = auth.too_many(request)
    if wait:
        return _login_page(request, failed=True, status=429, wait=wait)
    client = client_of(request)
    auth.brake.attempt(client)  # before the body is read: concurrent guesses are braked too
    try:
        form = await asyncio.wait_for(request.post(), BODY_SECONDS)
    except (TimeoutError, ValueError):
        return _login_page(request, failed=True, status=400)
    token = form.get("token")
    user = auth.login(token.strip()) if isinstance(token, str) else None
    if user is not None:
        auth.brake.succeeded(client)
        response = web.HTTPSeeOther("/")
        auth.start_session(response, request, user)
        request[USER] = user
        audit(request, "login")
        raise response
    auth.brake.failed(client, "a wrong token in the login form", counted=True)
    return _login_page(request, failed=True, status=401)


async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session on the server (a copy of its cookie is worth nothing after)."""
    found = request.app[AUTH].identify(request)
    if found is not None:
        request[USER] = found[1]
        audit(request, "logout")
    request.app[AUTH].end_session(request)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _login_page(request: web.Request, *, failed: bool, status: int, wait: int = 0) -> web.Response:
    language = _language(request)
    users = request.app[MANAGER].settings.users_file is not None
    context = {"lang": language, "w": words(language), "failed": failed, "wait": wait, "users": users}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    if wait:
        response.headers["Retry-After"] = str(wait)
    response.headers.update(_NO_STORE)
    return response


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
