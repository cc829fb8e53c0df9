"""One streaming reader per clinic file format; ``read_records`` picks it from the source's ``format``.

Every reader is a generator over ``RawRecord`` that reads the file in bounded blocks (memory does not
grow with the file). File-level problems raise ``FileRejected`` - before the first record where they can
be seen in the first block or the header, later (mid-file undecodable bytes) otherwise; the caller then
discards whatever it staged from that file.

``path`` may be a ``str``/``os.PathLike`` or any object with ``.open("rb")`` (Airflow's
``ObjectStoragePath``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from include.imports.records import FileRejected, RawRecord
from include.imports.sources import SourceConfig


def read_records(path: Any, source: SourceConfig) -> Iterator[RawRecord]:
    """Stream the records of one clinic file, dispatching on ``source.format``."""
    if source.format == "csv":
        from include.imports.readers.csv_reader import read_csv

        return read_csv(path, source)
    if source.format == "fhir_ndjson":
        from include.imports.readers.fhir_ndjson import read_fhir_ndjson

        return read_fhir_ndjson(path, source)
    if source.format == "hl7v2":
        from include.imports.readers.hl7_adt import read_hl7_adt

        return read_hl7_adt(path, source)
    raise FileRejected("unsupported_format", f"source {source.id!r} has format {source.format!r}; use csv, fhir_ndjson or hl7v2")


__all__ = ["read_records"]
