"""``python -m batchverify.engine.writechild``: write one workbook output from a JSON spec on stdin.

Started by ``batchverify.engine.output.run_writer_child``; prints one JSON line, ``{"counts": ...}``
or ``{"error": "one line"}``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Any

from batchverify.core.freshness import Freshness
from batchverify.engine.output import PARENT_ENV, WriteSpec, write_in_child
from batchverify.errors import BatchVerifyError

_PATHS = ("input", "output", "store", "problems", "changes")
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9  # Linux's number, where PR_SET_PDEATHSIG exists (the engine handles no signals)


def _die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux), then make sure it has not already:
    an orphaned writer would replace the output after its run had exited and released the lock."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit() and os.getppid() != int(parent):
        os._exit(1)


def main() -> int:
    _die_with_parent()
    doc: dict[str, Any] = json.loads(sys.stdin.read())
    fields: dict[str, Any] = {k: (Path(v) if k in _PATHS and v is not None else v) for k, v in doc.items()}
    if fields.get("freshness") is not None:
        fields["freshness"] = Freshness(**fields["freshness"])
    spec = WriteSpec(**fields)
    try:
        counts = write_in_child(spec)
    except BatchVerifyError as exc:
        # The error as it was raised (its code and values), so the parent's front end can word it.
        print(json.dumps({"error": exc.template, "code": exc.code, "params": _plain(exc.params)}))
        return 1
    except MemoryError:
        print(json.dumps({"error": f"not enough memory to write {spec.output}"}))
        return 1
    print(json.dumps(counts.to_dict()))
    return 0


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool) or v is None else str(v) for k, v in params.items()
    }


if __name__ == "__main__":
    sys.exit(main())
