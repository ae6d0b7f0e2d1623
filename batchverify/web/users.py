"""Who uses the upload server: a users file (``serve --users FILE``) of names, roles and the SHA-256
of each one's access code. A user sees and changes their own jobs; an admin sees everyone's. The
server's own token is the operator's, an admin's.

The file holds one user a line, ``NAME ROLE SHA256`` (role ``user`` or ``admin``; ``#`` starts a
comment), so a leaked copy of it opens nothing: the codes themselves are shown once, by
``batchverify users add``, and kept by no one but their holder. Codes are random (160 bits), so a
plain SHA-256 is enough to keep them: there is no password to guess.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from batchverify.errors import UsageError

__all__ = ["OPERATOR", "User", "Users", "add_user", "remove_user"]

ROLES = ("user", "admin")
_NAME_RE = re.compile(r"[^\s#\x00-\x1f\x7f]{1,40}")
_HEX_RE = re.compile(r"[0-9a-f]{64}")
CODE_PREFIX = "bvu_"  # an access code says what it is (a secret scanner can find a leaked one)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    admin: bool
    code: str = ""  # the SHA-256 of their access code: a session is theirs while this code is

    def can_see(self, owner: str) -> bool:
        """A job is seen by its owner and by admins (a job from before users were on has no owner:
        admins only)."""
        return self.admin or (bool(owner) and owner == self.name)


OPERATOR = User("operator", admin=True)  # the holder of the server's token


def digest(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


class Users:
    """The users of a users file, by the digest of their code."""

    def __init__(self, users: dict[str, User]) -> None:
        self._by_digest = users

    @classmethod
    def load(cls, path: Path) -> Users:
        """Read ``path``; ``UsageError`` (naming the line) for anything it cannot hold."""
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                "cannot read the users file {path}: {why}",
                code="bad_users_file",
                option="users",
                path=str(path),
                why=getattr(exc, "strerror", None) or type(exc).__name__,
            ) from None
        found: dict[str, User] = {}
        names: set[str] = set()
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if (
                len(parts) != 3
                or not _NAME_RE.fullmatch(parts[0])
                or parts[1] not in ROLES
                or not _HEX_RE.fullmatch(parts[2])
            ):
                raise UsageError(
                    "the users file {path}, line {line}: write NAME ROLE SHA256 (role user or admin); "
                    "batchverify users add makes the line",
                    code="bad_users_file",
                    option="users",
                    path=str(path),
                    line=number,
                )
            if parts[0].casefold() in names or parts[2] in found:
                raise UsageError(
                    "the users file {path}, line {line}: {name} or its code is there twice",
                    code="bad_users_file",
                    option="users",
                    path=str(path),
                    line=number,
                    name=parts[0],
                )
            names.add(parts[0].casefold())
            found[parts[2]] = User(parts[0], admin=parts[1] == "admin", code=parts[2])
        return cls(found)

    def __len__(self) -> int:
        return len(self._by_digest)

    def find(self, code: str) -> User | None:
        wanted = digest(code)
        for known, user in self._by_digest.items():  # constant time per entry, whatever matches
            if hmac.compare_digest(known, wanted):
                return user
        return None

    def all(self) -> list[User]:
        return sorted(self._by_digest.values(), key=lambda u: u.name)

    def holding(self, code_digest: str) -> User | None:
        """The user whose code has this SHA-256 (a session remembers the code, not the name: a user
        removed and added again, with a new code, is not logged in by an old session)."""
        return self._by_digest.get(code_digest)

    def names(self) -> list[str]:
        return [u.name for u in self._by_digest.values()]

    def named(self, name: str) -> User | None:
        return next((u for u in self._by_digest.values() if u.name == name), None)


def add_user(path: Path, name: str, *, admin: bool = False) -> str:
    """Add ``name`` to the users file (made if missing, 0600) and return their new access code."""
    if not _NAME_RE.fullmatch(name) or name.casefold() == OPERATOR.name:
        raise UsageError(
            "a user's name is 1 to 40 characters without spaces or # (and not {operator})",
            code="bad_user_name",
            operator=OPERATOR.name,
        )
    existing = Users.load(path) if path.exists() else Users({})
    if any(known.casefold() == name.casefold() for known in existing.names()):
        raise UsageError("{name} is in the users file already", code="user_exists", name=name)
    code = CODE_PREFIX + secrets.token_urlsafe(20)
    line = f"{name} {'admin' if admin else 'user'} {digest(code)}\n"
    _rewrite(path, (path.read_text(encoding="utf-8-sig") if path.exists() else _HEADER) + line)
    return code


def remove_user(path: Path, name: str) -> None:
    """Take ``name`` out of the users file (their sessions end when the server reads it again)."""
    Users.load(path)  # refuses a file it could not use
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    folded = name.casefold()  # as names are told apart when added
    kept = [ln for ln in lines if [w.casefold() for w in ln.split("#", 1)[0].split()[:1]] != [folded]]
    if len(kept) == len(lines):
        raise UsageError("{name} is not in the users file", code="no_such_user", name=name)
    _rewrite(path, "".join(kept))


_HEADER = "# batchverify users: NAME ROLE SHA256-of-their-access-code (made by `batchverify users add`)\n"


def _rewrite(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsageError(
            "cannot write the users file {path}: {why}",
            code="bad_users_file",
            path=str(path),
            why=exc.strerror or type(exc).__name__,
        ) from None
