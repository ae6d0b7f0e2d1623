"""Tencent Cloud credentials, found the way the official SDK finds them; never from the command line."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path

from batchverify.errors import CredentialError

ENV_ID = "TENCENTCLOUD_SECRET_ID"
ENV_KEY = "TENCENTCLOUD_SECRET_KEY"
ENV_TOKEN = "TENCENTCLOUD_SESSION_TOKEN"
PROFILE_PATHS = (Path("~/.tencentcloud/credentials"), Path("/etc/tencentcloud/credentials"))


@dataclass(frozen=True)
class Credentials:
    """A secret id/key pair and optional session token. The repr never shows the secrets."""

    secret_id: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name, value in (
            ("secret id", self.secret_id),
            ("secret key", self.secret_key),
            ("token", self.token),
        ):
            if value is not None and (not value.isprintable() or value != value.strip()):
                # A line break would end the HTTP header it is sent in; never let one through.
                raise CredentialError(
                    f"the {name} contains a line break, a control character or spaces at an end"
                )
            if value is not None and not value.isascii():
                raise CredentialError(f"the {name} contains characters that are not ASCII")
        if not self.secret_id or not self.secret_key:
            raise CredentialError("the secret id and key must not be empty")

    def __repr__(self) -> str:
        return f"Credentials(secret_id={mask(self.secret_id)!r})"

    __str__ = __repr__


def mask(secret_id: str) -> str:
    """A secret id shortened so logs can tell accounts apart without showing it."""
    return secret_id[:4] + "…" + secret_id[-4:] if len(secret_id) > 10 else "…"


def load_credentials(
    profile: str | None = None,
    *,
    environ: dict[str, str] | None = None,
    profile_paths: tuple[Path, ...] = PROFILE_PATHS,
) -> Credentials:
    """Environment first (unless a profile is named), then the profile file; else CredentialError.

    An explicit ``--profile`` means the user wants that section, so the environment is skipped.
    """
    env = os.environ if environ is None else environ
    if profile is None:
        sid, key = env.get(ENV_ID, "").strip(), env.get(ENV_KEY, "").strip()
        if sid and key:
            return Credentials(sid, key, env.get(ENV_TOKEN, "").strip() or None)
    section = profile or "default"
    for raw in profile_paths:
        path = raw.expanduser()
        if not path.is_file():
            continue
        parser = _read_profiles(path)
        if parser.has_section(section):
            sid = parser.get(section, "secret_id", fallback="").strip()
            key = parser.get(section, "secret_key", fallback="").strip()
            token = parser.get(section, "token", fallback="").strip() or None
            if sid and key:
                return Credentials(sid, key, token)
            raise CredentialError(f"profile [{section}] in {path} lacks secret_id or secret_key")
    where = f"section [{section}] of ~/.tencentcloud/credentials"
    if profile is None:
        where = f"{ENV_ID}/{ENV_KEY} in the environment, nor in {where}"
    raise CredentialError(f"no Tencent Cloud credentials: none found in {where}")


def _read_profiles(path: Path) -> configparser.ConfigParser:
    """The credentials file as the SDK would read it, and what Notepad makes of it: a byte-order
    mark, a comment in GBK and a key given twice (the last wins) are read; what cannot be read is
    said in words, with its line, never as a parser's class name (and never with a secret)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read the credentials file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")  # only comments can be non-ASCII; keys are ASCII
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as exc:
        raise CredentialError(
            f"the credentials file {path} has a key before any [section] line (line {exc.lineno}): "
            "start it with a line [default]"
        ) from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(n) for n, _ in exc.errors[:5])
        raise CredentialError(
            f"the credentials file {path} has lines that are not key = value (line {lines})"
        ) from None
    except configparser.Error as exc:
        raise CredentialError(f"the credentials file {path} cannot be read ({type(exc).__name__})") from None
    return parser
