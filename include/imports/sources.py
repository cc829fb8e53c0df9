"""Clinic sources: configuration (include/config/clinic_sources.yaml), not code.

Adding a clinic = adding one entry to the YAML file. Each entry becomes a frozen ``SourceConfig``;
``load_sources`` validates every entry and raises ``SourceConfigError`` naming the source id and the key
to fix (never a value from a data file).

YAML shape (``sources:`` list; every key except ``id``, ``account_id``, ``format``, ``landing`` optional)::

    sources:
      - id: clinic-north-csv
        account_id: acct-clinic-north
        format: csv                      # csv | fhir_ndjson | hl7v2
        landing: include/sample_data/clinics/clinic-north   # relative = project root; or a URI (s3://...)
        column_mapping: {"Patient First Name": first_name, ...}   # CSV only; default = platform header
        delimiter: ","
        encoding: utf-8                  # utf-8 (a BOM is accepted) | cp1252 | any Python codec name
        date_formats: ["%m/%d/%Y"]       # strptime formats, tried in order; never guessed
        identifier_system: null          # FHIR: Patient.identifier.system holding the clinic MRN
        assigning_authority: null        # HL7: PID-3.4 namespace id (or universal id) of the clinic MRN
        identifier_type_code: null       # HL7: PID-3.5 identifier type code of the MRN (e.g. MR)
        assigning_facility: null         # HL7: PID-3.6 facility (namespace or universal id)
                                         # (an hl7v2 source declares at least one of the three; a PID-3
                                         # repetition is the MRN when it matches every declared one)
        required_fields: []              # fields required on top of names + one identity, e.g. [email]
        max_field_chars: 1000000         # one FHIR string value / HL7 segment longer -> record quarantined
        max_record_chars: 16000000       # one NDJSON line / HL7 message longer -> record quarantined
        default_phone_region: US
        default_clinician_id: null
        max_reject_ratio: 0.05
        fhir_validation: model           # FHIR: model (fhir.resources, every line) | fast (used elements)
        quarantine_formula_prefixes: ["=", "+", "-", "@", "\t", "\r"]   # may add prefixes, never drop one
        expect: none                     # none | daily | weekdays: when the clinic delivers; a night with
                                         # nothing in incoming/ then needs attention (docs/operating-alerts.md)

    landing_roots:                       # the only roots the DAG's landing_root Param/Variable may name
      - landing                          # relative = project root; or a URI prefix (s3://bucket/landing)

The landing location holds ``incoming/``, ``processed/`` and ``rejected/`` folders. ``landing_roots``
(top level) is the allow-list of landing roots a run may be pointed at; the environment variable
``GENASCOPE_LANDING_ROOTS`` (roots separated by commas) replaces it for a deployment.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from include.core.settings import INCLUDE_DIR, PROJECT_ROOT
from include.imports.records import CANONICAL_FIELDS, REQUIRABLE_FIELDS, REQUIRED_CSV_FIELDS

FORMATS = ("csv", "fhir_ndjson", "hl7v2")
#: When a source is expected to deliver (``expect``): a night without a file then needs attention.
EXPECT_SCHEDULES = ("none", "daily", "weekdays")

#: The platform's documented CSV header, mapped to itself.
DEFAULT_COLUMN_MAPPING: dict[str, str] = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "phone": "phone",
    "external_id": "external_id",
    "date_of_birth": "date_of_birth",
}

DEFAULT_SOURCES_PATH = INCLUDE_DIR / "config" / "clinic_sources.yaml"
#: Environment variable that points ``load_sources()`` at another file (tests, other deployments).
SOURCES_PATH_ENV = "GENASCOPE_CLINIC_SOURCES"

#: Cell prefixes that make a spreadsheet evaluate a formula; neutralized in quarantine exports only.
#: A source may add prefixes but never drop one of these (an empty list would turn neutralization off).
DEFAULT_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Landing roots allowed when the YAML has no ``landing_roots`` (the folder `make airflow`/demo lay out).
DEFAULT_LANDING_ROOTS = ("landing",)


class SourceConfigError(ValueError):
    """A clinic source entry is invalid; the message names the source and the key to fix."""


@dataclass(frozen=True)
class SourceConfig:
    id: str
    account_id: str
    format: str
    landing: str
    column_mapping: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_COLUMN_MAPPING))
    delimiter: str = ","
    encoding: str = "utf-8"
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    identifier_system: str | None = None
    assigning_authority: str | None = None
    default_phone_region: str = "US"
    default_clinician_id: str | None = None
    max_reject_ratio: float = 0.05
    quarantine_formula_prefixes: tuple[str, ...] = DEFAULT_FORMULA_PREFIXES
    fhir_validation: str = "model"
    identifier_type_code: str | None = None
    assigning_facility: str | None = None
    required_fields: tuple[str, ...] = ()
    max_field_chars: int = 1_000_000
    max_record_chars: int = 16_000_000
    expect: str = "none"

    def __hash__(self) -> int:  # column_mapping is a dict; the id identifies a source
        return hash((self.id, self.format, self.encoding, self.date_formats))

    def landing_path(self) -> str:
        """The landing location as a string: URIs unchanged, relative paths resolved from the project root."""
        if "://" in self.landing or os.path.isabs(self.landing):
            return self.landing
        return str(PROJECT_ROOT / self.landing)

    def incoming(self) -> str:
        return _join(self.landing_path(), "incoming")

    def processed(self) -> str:
        return _join(self.landing_path(), "processed")

    def rejected(self) -> str:
        return _join(self.landing_path(), "rejected")

    def with_overrides(self, **overrides: Any) -> SourceConfig:
        """A copy with some keys changed (validated like a YAML entry); used by tests and the corpus."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data.update(overrides)
        return source_from_dict(data)


def _join(base: str, child: str) -> str:
    return base.rstrip("/") + "/" + child


def source_from_dict(entry: dict[str, Any]) -> SourceConfig:
    """Validate one YAML entry and build its ``SourceConfig``."""
    sid = str(entry.get("id") or "<missing id>")

    def fail(key: str, why: str) -> SourceConfigError:
        return SourceConfigError(f"clinic source {sid!r}: key {key!r} {why}; fix it in the clinic sources YAML")

    for key in ("id", "account_id", "format", "landing"):
        if not entry.get(key) or not isinstance(entry[key], str):
            raise fail(key, "is required and must be a non-empty string")
    known = set(SourceConfig.__dataclass_fields__)
    unknown = sorted(set(entry) - known)
    if unknown:
        raise fail(unknown[0], f"is not a known key (known: {', '.join(sorted(known))})")
    fmt = entry["format"]
    if fmt not in FORMATS:
        raise fail("format", f"must be one of {', '.join(FORMATS)}")

    mapping = entry.get("column_mapping")
    mapping = dict(DEFAULT_COLUMN_MAPPING) if mapping is None else dict(mapping)
    for header, canonical in mapping.items():
        if canonical not in CANONICAL_FIELDS:
            raise fail("column_mapping", f"maps a column to {canonical!r}, not one of {', '.join(CANONICAL_FIELDS)}")
        if not isinstance(header, str) or not header.strip():
            raise fail("column_mapping", "has an empty header name")
    targets = list(mapping.values())
    if len(targets) != len(set(targets)):
        raise fail("column_mapping", "maps two columns to the same canonical field")
    if fmt == "csv":
        missing = [f for f in REQUIRED_CSV_FIELDS if f not in targets]
        if missing:
            raise fail("column_mapping", f"has no column for required field(s) {', '.join(missing)}")

    delimiter = entry.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise fail("delimiter", "must be one character (not a quote or newline)")
    encoding = entry.get("encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError) as exc:
        raise fail("encoding", "is not a Python codec name") from exc

    date_formats = entry.get("date_formats", ("%Y-%m-%d",))
    if isinstance(date_formats, str):
        date_formats = (date_formats,)
    date_formats = tuple(date_formats)
    if not date_formats or not all(isinstance(f, str) and "%" in f for f in date_formats):
        raise fail("date_formats", "must be a non-empty list of strptime formats")
    if any("%y" in f for f in date_formats):
        raise fail("date_formats", "uses %y: a two-digit year makes the century of a birth date a guess; use %Y")

    ratio = entry.get("max_reject_ratio", 0.05)
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0 <= ratio <= 1:
        raise fail("max_reject_ratio", "must be a number between 0 and 1")
    if fmt == "fhir_ndjson" and not entry.get("identifier_system"):
        raise fail("identifier_system", "is required for fhir_ndjson sources")
    for key in ("assigning_authority", "identifier_type_code", "assigning_facility"):
        if entry.get(key) is not None and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise fail(key, "must be a non-empty string")
        if entry.get(key) is not None and fmt != "hl7v2":
            raise fail(key, "applies to hl7v2 sources only")
    if fmt == "hl7v2" and not any(entry.get(k) for k in ("assigning_authority", "identifier_type_code",
                                                         "assigning_facility")):
        raise fail("assigning_authority", "(or identifier_type_code / assigning_facility) is required for hl7v2 "
                   "sources: declare how the clinic MRN is recognised in PID-3")
    required = entry.get("required_fields") or ()
    if isinstance(required, str) or not all(isinstance(f, str) for f in required):
        raise fail("required_fields", "must be a list of field names")
    bad = [f for f in required if f not in REQUIRABLE_FIELDS]
    if bad:
        raise fail("required_fields", f"names {bad[0]!r}; allowed: {', '.join(REQUIRABLE_FIELDS)}")
    bounds = {}
    for key, default in (("max_field_chars", 1_000_000), ("max_record_chars", 16_000_000)):
        value = entry.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not 1_000 <= value <= 256_000_000:
            raise fail(key, "must be a whole number of characters between 1000 and 256000000")
        bounds[key] = value
    if bounds["max_field_chars"] > bounds["max_record_chars"]:
        raise fail("max_field_chars", "must not be larger than max_record_chars")
    fhir_validation = entry.get("fhir_validation", "model")
    if fhir_validation not in ("model", "fast"):
        raise fail("fhir_validation", "must be 'model' (fhir.resources validates every line) or 'fast'")
    prefixes = entry.get("quarantine_formula_prefixes", DEFAULT_FORMULA_PREFIXES)
    if isinstance(prefixes, str) or not isinstance(prefixes, (list, tuple)) or not prefixes \
            or not all(isinstance(p, str) and p for p in prefixes):
        raise fail("quarantine_formula_prefixes", "must be a non-empty list of non-empty strings (an empty list "
                   "would let spreadsheet formulas in quarantine exports run)")
    dropped = [p for p in DEFAULT_FORMULA_PREFIXES if p not in prefixes]
    if dropped:
        raise fail("quarantine_formula_prefixes", f"drops the required prefix(es) {dropped!r}; list may only add "
                   "prefixes to the defaults")
    expect = entry.get("expect", "none")
    if expect not in EXPECT_SCHEDULES:
        raise fail("expect", f"must be one of {', '.join(EXPECT_SCHEDULES)}")
    region = entry.get("default_phone_region", "US")
    if not isinstance(region, str) or len(region) != 2 or not region.isalpha():
        raise fail("default_phone_region", "must be a two-letter region code such as US")

    return SourceConfig(
        id=entry["id"],
        account_id=entry["account_id"],
        format=fmt,
        landing=entry["landing"],
        column_mapping=mapping,
        delimiter=delimiter,
        encoding=encoding,
        date_formats=date_formats,
        identifier_system=entry.get("identifier_system"),
        assigning_authority=entry.get("assigning_authority"),
        default_phone_region=region.upper(),
        default_clinician_id=entry.get("default_clinician_id"),
        max_reject_ratio=float(ratio),
        quarantine_formula_prefixes=tuple(prefixes),
        fhir_validation=fhir_validation,
        identifier_type_code=entry.get("identifier_type_code"),
        assigning_facility=entry.get("assigning_facility"),
        required_fields=tuple(dict.fromkeys(required)),
        expect=expect,
        **bounds,
    )


def _sources_path(path: str | os.PathLike[str] | None) -> Path:
    return Path(path or os.environ.get(SOURCES_PATH_ENV) or DEFAULT_SOURCES_PATH)


def _load_doc(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def load_landing_roots(path: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """The allow-list of landing roots (top-level ``landing_roots`` of the sources YAML; default
    ``landing``). Validation and matching are in ``include/imports/landing.py``."""
    path = _sources_path(path)
    doc = _load_doc(path)
    roots = doc.get("landing_roots", list(DEFAULT_LANDING_ROOTS)) if isinstance(doc, dict) else None
    if not isinstance(roots, list) or not all(isinstance(r, str) and r.strip() for r in roots):
        raise SourceConfigError(f"{path.name}: 'landing_roots' must be a list of folders or URI prefixes")
    return tuple(r.strip() for r in roots)


def load_sources(path: str | os.PathLike[str] | None = None) -> dict[str, SourceConfig]:
    """All clinic sources by id, from ``path`` (default: $GENASCOPE_CLINIC_SOURCES or the bundled YAML)."""
    path = _sources_path(path)
    doc = _load_doc(path)
    entries = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise SourceConfigError(f"{path.name}: expected a top-level 'sources:' list")
    sources: dict[str, SourceConfig] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise SourceConfigError(f"{path.name}: every item under 'sources:' must be a mapping")
        source = source_from_dict(entry)
        if source.id in sources:
            raise SourceConfigError(f"{path.name}: clinic source id {source.id!r} appears twice; ids must be unique")
        sources[source.id] = source
    return sources


__all__ = ["DEFAULT_COLUMN_MAPPING", "FORMATS", "SourceConfig", "SourceConfigError", "load_landing_roots", "load_sources",
           "source_from_dict"]
