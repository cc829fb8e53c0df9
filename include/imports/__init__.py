"""Clinic patient imports: source configuration, readers per format, and the records they produce."""

from include.imports.records import CANONICAL_FIELDS, FileRejected, RawRecord
from include.imports.sources import SourceConfig, load_sources

__all__ = ["CANONICAL_FIELDS", "FileRejected", "RawRecord", "SourceConfig", "load_sources"]
