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
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError) as exc:
            raise CredentialError(f"cannot read credentials file {path}: {type(exc).__name__}") from None
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
