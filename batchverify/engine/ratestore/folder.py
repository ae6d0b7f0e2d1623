"""Where a host's shared send log lives: one folder per user, the same whatever the environment
that started the process (cron, a systemd service, a login shell), or a folder everyone names."""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
from pathlib import Path

from batchverify.errors import UsageError

__all__ = ["STATE_DIR_ENV", "host_window_path", "state_dir", "window_dir", "window_key"]


def window_key(account: str, endpoint: str) -> str:
    """A stable name for (SecretId, endpoint) that does not reveal the SecretId."""
    digest = hashlib.sha256(b"batchverify-rate\0" + account.encode() + b"\0" + endpoint.encode())
    return digest.hexdigest()[:32]


STATE_DIR_ENV = "BATCHVERIFY_STATE_DIR"


def state_dir() -> Path:
    """batchverify's per-user state on this host: ``BATCHVERIFY_STATE_DIR`` when an operator sets it,
    else ``~/.local/state/batchverify`` with the home from the user database (never ``$HOME`` or an
    XDG variable, which login shells, cron and services set differently)."""
    chosen = os.environ.get(STATE_DIR_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    try:
        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        home = Path("/nonexistent")
    return home / ".local" / "state" / "batchverify"


def window_dir(named: Path | None = None) -> Path:
    """The folder of host windows, created 0700 if missing.

    ``named``: a folder every process of the account names (``--rate-store /path``: different
    users in one group, services with a private home). Otherwise ``rate`` in :func:`state_dir`
    (``~/.local/state/batchverify/rate``, the home from the user database), never in
    ``$XDG_RUNTIME_DIR`` or ``/tmp``, which cron, systemd services and login shells set
    differently: every process of one user on this host finds the same file, whatever started it
    (``BATCHVERIFY_STATE_DIR`` moves it, for a user without a writable home). A folder others may
    write to (or, unless named, one another user owns) is refused: whoever can write there could
    replace the window file and lift the cap, or make every run stall.
    """
    uid = os.getuid()
    path = state_dir() / "rate" if named is None else named.expanduser()
    try:
        if named is None:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise UsageError(
            "cannot keep the shared rate window in {path}: {why}; name a folder every batchverify "
            "process of this account can use with {o[rate_store]} /path/to/folder",
            code="rate_store_unusable",
            option="rate_store",
            path=str(path),
            why=exc.strerror or str(exc),
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} is not a directory; it must be a private directory (0700)")
    if named is None and info.st_uid != uid:
        raise UsageError(f"{path} belongs to another user (uid {info.st_uid}); refusing to use it")
    others = 0o002 if named is not None else 0o022  # a named folder may be its group's
    if info.st_mode & others:
        raise UsageError(f"{path} is writable by others (mode {info.st_mode & 0o777:o}); refusing to use it")
    return path


def host_window_path(account: str, endpoint: str, folder: Path | None = None) -> Path:
    """The host window file of (SecretId, endpoint) in :func:`window_dir` (``folder``: a named one)."""
    return window_dir(folder) / f"{window_key(account, endpoint)}.window"
