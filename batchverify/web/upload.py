"""Receive an upload: the multipart body streamed to disk, the size cap enforced while reading.

The file is stored under the job's folder as ``upload<ext>``; the extension comes from the client's
name only when it is one batchverify reads, and the reader then checks the content against it, as
the command line does. Small form fields are capped too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from batchverify.web.fields import JOB_FIELDS
from batchverify.web.records import UPLOAD_SUFFIXES

__all__ = ["TooLarge", "Upload", "UploadError", "receive_upload"]

_FIELD_LIMIT = 1024
_MAX_PARTS = 16
_CHUNK = 1 << 16
_FLUSH = 1 << 20
_FIELDS = ("column", "sheet", "header_row", "max_age", *JOB_FIELDS)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


from batchverify.web.messages import TooLarge, UploadError  # noqa: E402 - re-exported here


@dataclass
class Upload:
    filename: str
    suffix: str
    size: int
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def suffix_for(filename: str, head: bytes) -> str:
    """The stored file's extension: the client's when batchverify reads it, else by content."""
    suffix = Path(filename).suffix.lower()
    if suffix in UPLOAD_SUFFIXES:
        return suffix
    if head.startswith(_ZIP_MAGIC):
        return ".xlsx"
    if head.startswith(_OLE_MAGIC):
        return ".xls"
    return ".csv"


# A part header over aiohttp's line limit, a body cut short, a boundary that never comes, bytes
# that are not what multipart says: the client's request, not the server, is at fault (400).
_MALFORMED = (HttpProcessingError, ClientPayloadError, asyncio.IncompleteReadError, ValueError, EOFError)
IDLE_SECONDS = 30.0  # an upload that sends nothing for this long is abandoned
UPLOAD_SECONDS = 900.0  # the most one upload may take, start to end (100 MB at 120 KB/s)


async def receive_upload(request: web.Request, folder: Path, cap: int) -> Upload:
    """Stream the multipart ``file`` field into ``folder``; the other fields are returned.

    Raises ``TooLarge`` as soon as more than ``cap`` bytes arrive (the partial file is removed),
    ``UploadError`` for a request without a file, a malformed one, and one that stalls
    (``IDLE_SECONDS`` without a byte) or takes longer than ``UPLOAD_SECONDS``. The caller owns
    ``folder``.
    """
    try:
        async with asyncio.timeout(UPLOAD_SECONDS):
            return await _receive(request, folder, cap)
    except TimeoutError:
        raise UploadError(
            "the upload was too slow (nothing for {idle:g} s, or over {most:g} min in all); try again",
            code="upload_too_slow",
            idle=IDLE_SECONDS,
            most=UPLOAD_SECONDS / 60,
        ) from None
    except _MALFORMED:
        raise UploadError(
            "the upload is not a whole multipart/form-data body (cut short, or malformed); send it again",
            code="bad_multipart",
        ) from None


async def _receive(request: web.Request, folder: Path, cap: int) -> Upload:
    if request.content_length is not None and request.content_length > cap + (1 << 16):
        raise TooLarge
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise UploadError(
            "send the list as multipart/form-data with a field named file", code="not_multipart"
        ) from None
    fields: dict[str, str] = {}
    upload: Upload | None = None
    parts = 0
    while True:
        part = await asyncio.wait_for(reader.next(), IDLE_SECONDS)
        if part is None:
            break
        parts += 1
        if parts > _MAX_PARTS:
            raise UploadError(
                "too many form fields (at most {most})", code="too_many_fields", most=_MAX_PARTS
            )
        if not isinstance(part, BodyPartReader):
            raise UploadError("nested multipart bodies are not accepted", code="nested_multipart")
        if part.name == "file":
            if upload is not None:
                raise UploadError("send one file per upload", code="one_file")
            upload = await _save(part, folder, cap)
        else:
            value = await asyncio.wait_for(part.read(decode=False), IDLE_SECONDS)
            if len(value) > _FIELD_LIMIT:
                raise UploadError("the field {field} is too long", code="field_too_long", field=part.name)
            if part.name in _FIELDS:  # any other field is read (within the limit) and ignored
                fields[part.name] = bytes(value).decode("utf-8", "replace").strip()
    if upload is None:
        raise UploadError("no file: send the list in a multipart field named file", code="no_file")
    upload.fields = fields
    return upload


async def _save(part: BodyPartReader, folder: Path, cap: int) -> Upload:
    filename = part.filename or ""
    partial = folder / "upload.part"
    size = 0
    head = b""
    buffer = bytearray()
    digest = hashlib.sha256()
    out = await asyncio.to_thread(partial.open, "wb")
    try:
        while chunk := await asyncio.wait_for(part.read_chunk(_CHUNK), IDLE_SECONDS):
            size += len(chunk)
            if size > cap:
                raise TooLarge
            if len(head) < 8:
                head = (head + chunk)[:8]
            buffer += chunk
            digest.update(chunk)
            if len(buffer) >= _FLUSH:
                await asyncio.to_thread(out.write, bytes(buffer))
                buffer.clear()
        await asyncio.to_thread(out.write, bytes(buffer))
    except BaseException:
        out.close()
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    out.close()
    if size == 0:
        partial.unlink()
        raise UploadError("the file is empty", code="empty_file")
    suffix = suffix_for(filename, head)
    partial.replace(folder / f"upload{suffix}")
    return Upload(filename=filename, suffix=suffix, size=size, sha256=digest.hexdigest())
