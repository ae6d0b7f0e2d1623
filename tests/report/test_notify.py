"""The notifier against a real receiver on 127.0.0.1: what is retried, what is not, and that it
never raises (a notification must never change how a run ended)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import pytest

from batchverify.errors import UsageError
from batchverify.report.notify import Notifier, notifier_from, signature_of
from tests.support.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

FAST = (0.05, 0.05, 0.05)


def _send(notifier: Notifier) -> bool:
    return asyncio.run(notifier.send("run.finished", {"exit_code": 0}))


def test_a_receiver_that_stalls_is_tried_four_times_within_the_timeouts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Receiver(answers=[0]) as receiver, caplog.at_level(logging.INFO, logger="batchverify"):
        delivered = _send(Notifier(receiver.url, b"k" * 16, backoff=FAST, timeout=0.5))
        got = receiver.wait_for(4, timeout=5)
    assert not delivered and len(got) == 4
    line = next(r.getMessage() for r in caplog.records if "not delivered" in r.getMessage())
    assert "TimeoutError" in line or "Timeout" in line
    assert "secret-path" not in line and "hidden" not in line


CASES = [([302], 1, False), ([400], 1, False), ([429, 200], 2, True), ([500, 500, 500, 500], 4, False)]


@pytest.mark.parametrize(("answers", "tries", "delivered"), CASES)
def test_what_is_tried_again(answers: list[int], tries: int, delivered: bool) -> None:
    with Receiver(answers=answers) as receiver:
        assert _send(Notifier(receiver.url, b"k" * 16, backoff=FAST)) is delivered
        assert len(receiver.wait_for(tries, timeout=5)) == tries
        assert len(receiver.received) == tries  # and no more


def test_nobody_listening_is_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="batchverify"):
        assert not _send(Notifier("http://127.0.0.1:9/hook", b"k" * 16, backoff=FAST, timeout=1))
    assert any("not delivered" in r.getMessage() for r in caplog.records)


def test_the_signature_is_the_documented_hmac() -> None:
    body = b'{"exit_code": 0}'
    assert signature_of(b"secret", body) == "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()


def test_the_url_and_the_secret_are_checked() -> None:
    secret = {"BATCHVERIFY_NOTIFY_SECRET": "s" * 16}
    assert notifier_from(None, secret) is None
    made = notifier_from(
        None, {**secret, "BATCHVERIFY_NOTIFY": "https://hooks.example.com/T0/B1/xyz?token=1"}
    )
    assert made is not None and made.shown == "https://hooks.example.com/…"
    for url in ("ftp://x.example.com", "https://", "http://host:notaport/", "example.com/hook"):
        with pytest.raises(UsageError):
            notifier_from(url, secret)
    with pytest.raises(UsageError, match="BATCHVERIFY_NOTIFY_SECRET"):
        notifier_from("https://hooks.example.com/x", {"BATCHVERIFY_NOTIFY_SECRET": "short"})
