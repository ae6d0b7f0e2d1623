"""``--keep``: jobs untouched for longer are removed with every file they have (never one that
runs), and folders an upload cut off by a crash left behind go too (never one holding paid answers)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify.core.timeutil import utc_now_iso
from batchverify.web.records import ID_RE

if TYPE_CHECKING:
    from batchverify.web.manager import JobManager

__all__ = ["sweep"]

log = logging.getLogger("batchverify")

ORPHAN_AFTER = 3600.0  # a folder without a record: an upload cut off by a crash


async def sweep(manager: JobManager, now: datetime.datetime | None = None) -> list[str]:
    """Remove the jobs untouched for longer than ``--keep``; returns their ids."""
    keep = manager.settings.keep
    removed: list[str] = []
    if keep is None:
        return removed
    now = now or datetime.datetime.now(datetime.UTC)
    cutoff = utc_now_iso(now - keep)
    for job in list(manager.jobs.values()):
        record = job.record
        if not job.busy and (record.updated_at or record.created_at) < cutoff:
            await manager.delete(job)
            removed.append(record.id)
            log.info("removed job %s (%s): unchanged for longer than --keep", record.id, record.name)
    await asyncio.to_thread(_remove_orphans, manager.root, set(manager.jobs))
    return removed


def _remove_orphans(root: Path, known: set[str]) -> None:
    for entry in root.iterdir():
        if not ID_RE.fullmatch(entry.name) or entry.name in known:
            continue
        with contextlib.suppress(OSError):
            if any(entry.glob("*.checkpoint.sqlite")):
                continue  # answers that were paid for: never removed without a record saying so
            if time.time() - entry.stat().st_mtime > ORPHAN_AFTER:
                shutil.rmtree(entry, ignore_errors=True)
