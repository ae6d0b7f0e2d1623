"""The credentials file as people save it: Notepad's byte-order mark, a comment in GBK, a key given
twice are read; what cannot be read is said in words, with its line, and never shows a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchverify.errors import CredentialError
from batchverify.tencent.credentials import load_credentials

SECRET = "hunter2-do-not-print"


def _file(tmp_path: Path, data: bytes) -> tuple[Path, ...]:
    path = tmp_path / "credentials"
    path.write_bytes(data)
    return (path,)


KEYS = b"secret_id = AKIDexample00001\nsecret_key = " + SECRET.encode() + b"\n"
GBK = "# 腾讯云密钥（运维）\n".encode("gbk")


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf[default]\n" + KEYS,
        GBK + b"[default]\n" + KEYS,
        b"[default]\nsecret_id = AKIDold\n" + KEYS,
        b"[default]\nsecret_id = AKIDexample00001\n[default]\nsecret_key = " + SECRET.encode() + b"\n",
    ],
    ids=["notepad-bom", "gbk-comment", "duplicate-key", "duplicate-section"],
)
def test_a_file_saved_by_a_person_is_read(tmp_path: Path, data: bytes) -> None:
    creds = load_credentials(environ={}, profile_paths=_file(tmp_path, data))
    assert creds.secret_id == "AKIDexample00001" and creds.secret_key == SECRET


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (KEYS, "before any [section] line (line 1)"),
        (b"[default]\nsecret_id = AKID\n" + SECRET.encode() + b"\n", "not key = value (line 3)"),
    ],
)
def test_what_cannot_be_read_is_said_in_words_without_the_secret(
    tmp_path: Path, data: bytes, words: str
) -> None:
    with pytest.raises(CredentialError) as refused:
        load_credentials(environ={}, profile_paths=_file(tmp_path, data))
    assert words in str(refused.value) and SECRET not in str(refused.value)
    assert "Error" not in str(refused.value)  # no parser's class name
