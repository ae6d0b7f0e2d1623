"""An upload's own choices (column, sheet, header row, max age; the rest are the server's options)
and what reusing the answer store would save when the uploader has not chosen a window."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from batchverify.core.timeutil import fresh_until, parse_duration, utc_now_iso
from batchverify.engine.answers import AnswerStore
from batchverify.engine.plan import Plan
from batchverify.errors import PLAIN_NAMES, BatchVerifyError
from batchverify.web.messages import PlanError

__all__ = ["CHOICES", "REUSE_OFFER", "Choice", "choice_of", "reuse_offer"]

log = logging.getLogger("batchverify")

Choice = dict[str, Any]
CHOICES = ("column", "sheet", "header_row", "max_age")
REUSE_OFFER = "7d"  # the window the page offers when the uploader has not chosen one


def reuse_offer(made: Plan) -> dict[str, Any] | None:
    """What reusing the answer store's answers younger than ``REUSE_OFFER`` would save, when the
    uploader has not chosen a window (None when it would save nothing)."""
    path = made.request.answers
    if made.reuse_since is not None or path is None or not path.exists() or not made.to_send:
        return None
    now = datetime.datetime.now(datetime.UTC)
    since = utc_now_iso(now - parse_duration(REUSE_OFFER))
    try:
        with AnswerStore.open(path, create=False, wait=2.0) as store:
            found = store.fresh(made.endpoint_identity, made.to_send, since, fresh_until(now))
    except BatchVerifyError as exc:  # busy or damaged: the upload is planned without an offer
        log.warning("%s", exc.render(PLAIN_NAMES))
        return None
    if not found:
        return None
    return {"max_age": REUSE_OFFER, "numbers": len(found), "saved_calls": len(found)}


def choice_of(fields: dict[str, str]) -> Choice:
    """The planning fields of a form: empty means "detect" (or, for max_age, "reuse nothing")."""
    header: int | None = None
    text = fields.get("header_row", "").strip()
    if text:
        if not (text.isascii() and text.isdigit()) or int(text) > 1_048_576:
            raise PlanError(
                "{o[header_row]} {value!r} must be a row number (0: the list has no header)",
                code="bad_header_row",
                option="header_row",
                value=text,
            )
        header = int(text)
    return {
        "column": fields.get("column", "").strip() or None,
        "sheet": fields.get("sheet", "").strip() or None,
        "header_row": header,
        "max_age": fields.get("max_age", "").strip() or None,
    }
