"""Files the user changed while a run was working are theirs: the run's new version of such a file
goes beside it under a name of its own (never over anything), and the edited one is kept."""

from __future__ import annotations

import contextlib
from pathlib import Path

from batchverify.engine.paths import same_output, size_differs
from batchverify.errors import OutputError

__all__ = ["beside", "place_all", "refuse_kept"]


def place_all(moves: list[tuple[Path, Path, str | None]], overwrite: bool) -> list[tuple[Path, Path]]:
    """Move each ``(staged, final, recorded stamp)`` into place, in order; a final file changed
    since batchverify wrote it (its recorded stamp) is kept, and the staged one moved beside it.
    Returns the (kept, beside) pairs."""
    kept: list[tuple[Path, Path]] = []
    for staged, final, recorded in moves:
        if not overwrite and _changed(recorded, final):
            spot = beside(final)
            staged.replace(spot)
            kept.append((final, spot))
            continue
        with contextlib.suppress(OSError):
            staged.chmod(final.stat().st_mode & 0o7777)  # keep the permissions of the file replaced
        try:
            staged.replace(final)
        except OSError as exc:
            raise OutputError(f"cannot write {final} ({exc.strerror or exc})") from None
    return kept


def refuse_kept(kept: list[tuple[Path, Path]]) -> None:
    if kept:
        raise OutputError(
            "{paths} changed while this run was working (edited or saved again): kept as it is; this "
            "run's result is in {besides}",
            code="output_edited",
            option="output",
            paths=", ".join(str(k) for k, _ in kept),
            besides=", ".join(str(b) for _, b in kept),
            path=str(kept[0][0]),
            beside=str(kept[0][1]),
        )


def _changed(recorded: str | None, path: Path) -> bool:
    if recorded is None or not path.exists() or same_output(recorded, path):
        return False
    # An earlier release's stamp (size and time): only a new size says the content changed.
    return recorded.startswith("sha256:") or size_differs(recorded, path)


def beside(path: Path) -> Path:
    """``<stem>.batchverify-new<ext>``, or ``-2``, ``-3``...: a name that holds nothing yet."""
    for n in range(1, 1000):
        tag = "batchverify-new" if n == 1 else f"batchverify-new-{n}"
        spot = path.with_name(f"{path.stem}.{tag}{path.suffix}")
        if not spot.exists() and not spot.is_symlink():
            return spot
    raise OutputError(f"too many {path.stem}.batchverify-new files beside {path}; move some away")
