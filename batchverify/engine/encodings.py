"""The CSV output's encoding: which codec it is written in, and that it can hold what is written
(the result columns' words in the run's language, every cell of the input), checked while planning."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TYPE_CHECKING

from batchverify.core.labels import action_of, column_header, label_of
from batchverify.errors import UsageError
from batchverify.files.formats import output_kind
from batchverify.files.tables import Table
from batchverify.models import OUTPUT_COLUMNS, Status

if TYPE_CHECKING:
    from batchverify.engine.plan import RunRequest

__all__ = ["check_codec", "encodable", "output_encoding_for"]


def check_codec(name: str, language: str = "en") -> str:
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise UsageError(
            "unknown {o[output_encoding]} {value!r}",
            code="unknown_encoding",
            option="output_encoding",
            value=name,
        ) from None
    words = [column_header(c, language) for c in OUTPUT_COLUMNS]
    words += [label_of(s, language) + action_of(s, language) for s in Status]
    try:
        " ".join(words).encode(codec)
    except UnicodeEncodeError:
        raise UsageError(
            "{o[output_encoding]} {value} cannot hold the result columns in {language}; "
            "use utf-8-sig, or {o[language]} en",
            code="encoding_cannot_hold",
            option="output_encoding",
            value=name,
            language=language,
        ) from None
    return codec


def output_encoding_for(request: RunRequest, table: Table) -> str | None:
    """The CSV output's codec, when it is not simply the input's: asked for, or UTF-8 with a BOM.

    Excel on Chinese Windows reads a CSV without a BOM as GBK, so a UTF-8 output holding Chinese
    (the input's, or the zh-CN labels) would show mojibake; a BOM makes Excel read it as UTF-8. An
    input with a BOM, in GB18030 or UTF-16 already opens correctly and keeps its encoding.
    """
    out = request.output
    if out is None or output_kind(out) != "csv":
        return None
    if request.output_encoding is not None:
        return request.output_encoding
    if table.format.kind != "csv":
        return "utf-8-sig"
    if table.format.encoding == "utf-8" and (request.language == "zh-CN" or not _ascii_file(table.path)):
        return "utf-8-sig"
    return None


def _ascii_file(path: Path) -> bool:
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            if not block.isascii():
                return False
    return True


def encodable(cells: list[str], codec: str, line: int) -> None:
    try:
        "".join(cells).encode(codec)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise UsageError(
            "{o[output_encoding]} {value} cannot hold {text!r} (record {line}); use utf-8 or utf-8-sig",
            code="encoding_cannot_hold",
            option="output_encoding",
            value=codec,
            text=bad,
            line=line,
        ) from None
