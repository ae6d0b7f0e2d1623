"""``python -m bench.xlsxprobe INPUT OUTPUT STORE``: write one finished XLSX job's output, as the
writer child of ``batchverify run`` does, and print one JSON line (rows by status, seconds).

Measured by bench/sections/xlsx_write.py as a process of its own, so its wall time and peak RSS
are the write alone (no plan, no calamine read of the input)."""

from __future__ import annotations

import json
import sys
import time
import zipfile
from pathlib import Path

from batchverify.engine.output import WriteSpec, write_in_child
from batchverify.engine.store import Checkpoint
from bench.datagen import XLSX_HEADER


def main() -> int:
    source, output, store = (Path(a) for a in sys.argv[1:4])
    with Checkpoint.open(store, lock=False, create=False) as opened:
        peeked = opened.peek_job()
    assert peeked is not None, "the seeded store has no open job"
    spec = WriteSpec(
        input=source,
        sheet="Customers",
        encoding=None,
        output=output,
        output_encoding=None,
        phone_col=XLSX_HEADER.index("mobile"),
        header_line=1,
        header=list(XLSX_HEADER),
        width=len(XLSX_HEADER),
        store=store,
        job_id=peeked[0],
        freshness=None,
        language="zh-CN",
        summary_sheet=True,
        problems=None,
        endpoint="bench",
    )
    t0 = time.perf_counter()
    result = write_in_child(spec)
    seconds = time.perf_counter() - t0
    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
    print(json.dumps({"counts": result.counts, "seconds": seconds, "parts": len(names)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
