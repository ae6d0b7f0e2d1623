"""The HTML side: the page itself (one template, one script) and the login form."""

from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from batchverify.web.auth import COOKIE, Auth
from batchverify.web.routes import MANAGER
from batchverify.web.words import browser_language, page_words, words

__all__ = ["AUTH", "add_page_routes"]

AUTH = web.AppKey("auth", Auth)
_NO_STORE = {"Cache-Control": "no-store"}


def _language(request: web.Request) -> str:
    default = request.app[MANAGER].settings.language
    return browser_language(request.headers.get("Accept-Language", ""), default)


async def index(request: web.Request) -> web.Response:
    language = _language(request)
    setup = page_words(language)
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


async def login_form(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    token = request.query.get("token")
    if token is not None:
        # The login URL printed at start: set the session and leave the token out of the address bar.
        if auth.token_ok(token):
            response = web.HTTPSeeOther("/")
            auth.set_session(response, request)
            raise response
        return _login_page(request, failed=True, status=401)
    if auth.authenticated(request):
        raise web.HTTPSeeOther("/")
    return _login_page(request, failed=False, status=200)


async def login_submit(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    form = await request.post()
    token = form.get("token")
    if isinstance(token, str) and auth.token_ok(token.strip()):
        response = web.HTTPSeeOther("/")
        auth.set_session(response, request)
        raise response
    return _login_page(request, failed=True, status=401)


async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session (the token stays valid; a new token ends every session)."""
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _login_page(request: web.Request, *, failed: bool, status: int) -> web.Response:
    language = _language(request)
    context = {"lang": language, "w": words(language), "failed": failed}
    response = aiohttp_jinja2.render_template("login.html", request, context, status=status)
    response.headers.update(_NO_STORE)
    return response


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
