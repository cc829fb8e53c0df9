"""Shared plumbing of the readers: open any path in binary, sniff the first block, decode incrementally.

Nothing here keeps more than one block (``BLOCK_BYTES``) plus one line in memory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from include.imports.records import FileRejected, RawRecord

BLOCK_BYTES = 64 * 1024

#: Signatures of binary files clinics send by mistake (zip/xlsx, gzip, pdf, old Excel/OLE, 7z, bzip2).
_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"%PDF", b"\xd0\xcf\x11\xe0", b"7z\xbc\xaf", b"BZh")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"
#: Control characters that never appear in a text export (tab, LF, CR, VT/FS of MLLP framing allowed).
_BINARY_CONTROLS = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 28))


@dataclass(slots=True)
class ReadStats:
    """Counters a reader exposes next to its records (no values, so they may be logged)."""

    records: int = 0
    blank_lines_skipped: int = 0
    extra_columns_ignored: int = 0
    #: HL7 messages of a type the import does not read (not records, not errors), and by type.
    unsupported_messages: int = 0
    unsupported_types: dict[str, int] = field(default_factory=dict)


class RecordStream:
    """An iterator of ``RawRecord`` that also carries the reader's ``stats``."""

    def __init__(self, records: Iterator[RawRecord], stats: ReadStats) -> None:
        self._records = records
        self.stats = stats

    def __iter__(self) -> RecordStream:
        return self

    def __next__(self) -> RawRecord:
        return next(self._records)

    def close(self) -> None:
        close = getattr(self._records, "close", None)
        if close is not None:
            close()


class _PrefixedRaw(io.RawIOBase):
    """Replays the already-sniffed first block, then reads on from the underlying file."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _open_binary(path: Any) -> IO[bytes]:
    if isinstance(path, (str, os.PathLike)):
        return open(path, "rb")  # noqa: SIM115 - closed by the caller's context manager
    return path.open("rb")


def sniff(block: bytes, encoding: str) -> None:
    """File-level checks on the first block; raise ``FileRejected`` or return."""
    if not block:
        raise FileRejected("empty_file", "the file has zero bytes; ask the clinic to re-send the export")
    if block.startswith(_UTF16_BOMS) and not encoding.lower().replace("-", "").startswith("utf16"):
        raise FileRejected(
            "unreadable_encoding",
            "the file is UTF-16 (byte-order mark found); re-export it as UTF-8 or set the source's encoding",
        )
    if block.startswith(_MAGIC):
        raise FileRejected(
            "binary_content", "the file is a binary document (zip/xlsx/gzip/pdf/xls), not a text export; "
            "ask the clinic to export plain text",
        )
    if b"\x00" in block or block.translate(None, _BINARY_CONTROLS) != block:
        offset = next(i for i, b in enumerate(block) if b in _BINARY_CONTROLS or b == 0)
        raise FileRejected(
            "binary_content",
            f"control byte 0x{block[offset]:02x} at byte offset {offset}: the file is not a text export; "
            "ask the clinic to re-send it",
        )
    if not block.strip() or block.strip() == _UTF8_BOM:
        raise FileRejected("empty_file", "the file holds only whitespace; ask the clinic to re-send the export")


def _python_encoding(encoding: str) -> str:
    """``utf-8`` accepts an optional byte-order mark."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


@contextmanager
def open_text(path: Any, encoding: str, newline: str | None = "") -> Iterator[io.TextIOWrapper]:
    """Sniff the first block, then a text stream decoded incrementally (strict) in ``encoding``."""
    with _open_binary(path) as raw:
        first = raw.read(BLOCK_BYTES)
        sniff(first, encoding)
        buffered = io.BufferedReader(_PrefixedRaw(first, raw), buffer_size=BLOCK_BYTES)
        text = io.TextIOWrapper(buffered, encoding=_python_encoding(encoding), errors="strict", newline=newline)
        yield text


def encoding_rejection(encoding: str, record_no: int) -> FileRejected:
    """The PHI-free rejection for bytes that do not decode (raise it ``from None``: the decode error
    carries the undecoded bytes)."""
    return FileRejected(
        "unreadable_encoding",
        f"bytes that are not valid {encoding} near data record {record_no}; re-export the file as UTF-8 "
        "or set the source's encoding (e.g. cp1252) in the clinic sources configuration",
    )


def read_line_bounded(text: io.TextIOBase, limit: int) -> tuple[str, bool]:
    """One line of at most ``limit`` characters; (line, too_long). A too-long line is skipped to its end."""
    line = text.readline(limit)
    if len(line) < limit or line.endswith(("\n", "\r")):
        return line, False
    while True:
        rest = text.readline(limit)
        if not rest or rest.endswith(("\n", "\r")):
            return line[:100], True
