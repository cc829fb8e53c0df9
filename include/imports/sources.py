"""Clinic sources: typed configuration (include/config/clinic_sources.yaml by default), not code.

Adding a clinic = adding one entry to the sources document. Each entry becomes a frozen ``SourceConfig``,
a pydantic dataclass: its fields (type, default, description, rule) are the one definition of every key,
from which the JSON Schema (include/config/clinic_sources.schema.json) and the reference page
(docs/reference/clinic-sources.md, ``make sources-reference``) are generated. ``load_sources`` validates
the whole document and raises ``SourceConfigError`` naming the source id, the key and its path
(``sources[2].date_formats``), never a value from a data file. ``genascope sources validate FILE`` runs the
same validation; the import's ``discover_files`` task and the migration's preflight run it too (and fail
without retries).

Where the document lives (first match wins), so adding a clinic needs no new image:

1. the ``path`` argument (the CLI's FILE);
2. inside an Airflow task: the Airflow Variable ``genascope_clinic_sources`` (the YAML document itself, or
   a location: an object-storage URI such as ``s3://bucket/config/clinic_sources.yaml`` or a path);
3. outside a task (the intake API, the CLI): ``AIRFLOW_VAR_GENASCOPE_CLINIC_SOURCES`` in the environment
   (the same Variable as Airflow's environment form: document or location);
4. ``GENASCOPE_CLINIC_SOURCES``: a path or an object-storage URI;
5. the bundled include/config/clinic_sources.yaml.

To add a key: add a field to ``SourceConfig`` (type, default, ``Field(description=...)``, and in
``_RULES`` the sentence a wrong value gets), a validator if its rule is more than a type, then
``make sources-reference``. A top-level key goes on ``ClinicSourcesFile``.

Every key, its type, default and rule: docs/reference/clinic-sources.md. In short::

    sources:
      - id: clinic-north-csv
        account_id: acct-clinic-north
        format: csv                      # csv | fhir_ndjson | hl7v2
        landing: include/sample_data/clinics/clinic-north   # relative = project root; or a URI (s3://...)
        column_mapping: {"Patient First Name": first_name, ...}   # CSV only; default = platform header
        date_formats: ["%m/%d/%Y"]       # strptime formats, tried in order; never guessed
    landing_roots:                       # the only roots the DAG's landing_root Param/Variable may name
      - landing                          # relative = project root; or a URI prefix (s3://bucket/landing)

The landing location holds ``incoming/``, ``processed/`` and ``rejected/`` folders. ``landing_roots``
(top level) is the allow-list of landing roots a run may be pointed at; the environment variable
``GENASCOPE_LANDING_ROOTS`` (roots separated by commas) replaces it for a deployment.
"""

from __future__ import annotations

import codecs
import difflib
import os
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic import dataclasses as pydantic_dataclasses
from pydantic_core import PydanticCustomError

from include.core.errors import GenascopeError
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
#: The JSON Schema of the sources document (generated: ``make sources-reference``).
SCHEMA_PATH = INCLUDE_DIR / "config" / "clinic_sources.schema.json"
#: Environment variable that points ``load_sources()`` at another file or object-storage URI.
SOURCES_PATH_ENV = "GENASCOPE_CLINIC_SOURCES"
#: The Airflow Variable holding the sources document (or its location), read inside tasks.
SOURCES_VARIABLE = "genascope_clinic_sources"
SOURCES_VARIABLE_ENV = "AIRFLOW_VAR_" + SOURCES_VARIABLE.upper()

#: Cell prefixes that make a spreadsheet evaluate a formula; neutralized in quarantine exports only.
#: A source may add prefixes but never drop one of these (an empty list would turn neutralization off).
DEFAULT_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Landing roots allowed when the YAML has no ``landing_roots`` (the folder `make airflow`/demo lay out).
DEFAULT_LANDING_ROOTS = ("landing",)

REQUIRED_STRING = "is required and must be a non-empty string"
#: What a wrong value of each key is told (type errors and bounds; validators add specific reasons).
_RULES: dict[str, str] = {
    "id": REQUIRED_STRING,
    "account_id": REQUIRED_STRING,
    "format": f"must be one of {', '.join(FORMATS)}",
    "landing": REQUIRED_STRING,
    "column_mapping": "must map CSV header names to canonical field names",
    "delimiter": "must be one character (not a quote or newline)",
    "encoding": "is not a Python codec name",
    "date_formats": "must be a non-empty list of strptime formats",
    "identifier_system": "must be a non-empty string",
    "assigning_authority": "must be a non-empty string",
    "identifier_type_code": "must be a non-empty string",
    "assigning_facility": "must be a non-empty string",
    "identifier_namespace": "must be a non-empty string of at most 255 characters",
    "expect": "must be one of none, daily, weekdays",
    "default_phone_region": "must be a two-letter region code such as US",
    "default_clinician_id": "must be a user id (a string) or null",
    "max_reject_ratio": "must be a number between 0 and 1",
    "quarantine_formula_prefixes": "must be a non-empty list of non-empty strings (an empty list would let "
                                   "spreadsheet formulas in quarantine exports run)",
    "fhir_validation": "must be 'model' (fhir.resources validates every line) or 'fast'",
    "required_fields": "must be a list of field names",
    "max_field_chars": "must be a whole number of characters between 1000 and 256000000",
    "max_record_chars": "must be a whole number of characters between 1000 and 256000000",
    "landing_roots": "must be a list of folders or URI prefixes",
}


class SourceConfigError(GenascopeError, ValueError):
    """A clinic source entry is invalid; the message names the source and the key to fix."""


def _fail(key: str, why: str) -> PydanticCustomError:
    """A rule of ours broken: ``why`` completes "key 'KEY' …" in the message."""
    return PydanticCustomError("clinic_source", "{why}", {"key": key, "why": why})


NonEmptyStr = Annotated[StrictStr, Field(min_length=1)]
CharBound = Annotated[StrictInt, Field(ge=1_000, le=256_000_000)]


@pydantic_dataclasses.dataclass(frozen=True, config=ConfigDict(extra="forbid", title="clinic source"))
class SourceConfig:
    """One clinic source: where its files land, their format and how their columns and values read."""

    id: NonEmptyStr = Field(description=(
        "Unique id of the source, in reports, the ledger and the DAG's source_ids Param "
        "(e.g. clinic-north-csv)."
    ))
    account_id: NonEmptyStr = Field(description=(
        "The Genascope account (accounts.id) the source's patients belong to; must exist (preflight)."
    ))
    format: Literal["csv", "fhir_ndjson", "hl7v2"] = Field(description=(
        "File format: csv (a clinic export), fhir_ndjson (FHIR R4 Bulk Data Patient NDJSON) or hl7v2 "
        "(HL7 v2 ADT messages)."
    ))
    landing: NonEmptyStr = Field(description=(
        "The source's landing folder (holding incoming/, processed/, rejected/): a path (relative = "
        "the project root) or an object-storage URI (s3://bucket/landing/clinic)."
    ))
    column_mapping: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_COLUMN_MAPPING), description=(
        "CSV only: header name -> canonical field (" + ", ".join(CANONICAL_FIELDS) + "). "
        "null = the platform header (email, first_name, last_name, phone, external_id, "
        "date_of_birth). A CSV source maps first_name and last_name."))
    delimiter: StrictStr = Field(default=",", description=(
        "CSV field delimiter: one character."
    ))
    encoding: StrictStr = Field(default="utf-8", description=(
        "File encoding: utf-8 (a BOM is accepted), cp1252 or any Python codec name."
    ))
    date_formats: tuple[StrictStr, ...] = Field(default=("%Y-%m-%d",), description=(
        "strptime formats of dates of birth, tried in order; never guessed. %y (two-digit year) is "
        "refused. A single string is one format."
    ))
    identifier_system: StrictStr | None = Field(default=None, description=(
        "FHIR: the Patient.identifier.system holding the clinic MRN (required for fhir_ndjson)."
    ))
    assigning_authority: StrictStr | None = Field(default=None, description=(
        "HL7: PID-3.4 namespace id (or universal id) of the clinic MRN. An hl7v2 source declares at "
        "least one of assigning_authority, identifier_type_code, assigning_facility; a PID-3 "
        "repetition is the MRN when it matches every declared one."
    ))
    default_phone_region: StrictStr = Field(default="US", description=(
        "Region of phone numbers written without a country code (two letters)."
    ))
    default_clinician_id: StrictStr | None = Field(default=None, description=(
        "users.id of the clinician new patients are assigned to; must exist (preflight)."
    ))
    max_reject_ratio: StrictFloat = Field(default=0.05, description=(
        "Share of a file's rows that may be quarantined; above it the whole file is held back (moved "
        "to rejected/, nothing merged)."
    ))
    quarantine_formula_prefixes: tuple[StrictStr, ...] = Field(default=DEFAULT_FORMULA_PREFIXES, description=(
        "Cell prefixes neutralized in quarantine exports (spreadsheet formulas). May add prefixes to "
        "the defaults, never drop one."
    ))
    fhir_validation: Literal["model", "fast"] = Field(default="model", description=(
        "FHIR: model (fhir.resources validates every line) or fast (only the elements used)."
    ))
    identifier_type_code: StrictStr | None = Field(default=None, description=(
        "HL7: PID-3.5 identifier type code of the MRN (e.g. MR)."
    ))
    assigning_facility: StrictStr | None = Field(default=None, description=(
        "HL7: PID-3.6 facility (namespace or universal id) of the MRN."
    ))
    required_fields: tuple[StrictStr, ...] = Field(default=(), description=(
        "Fields required on top of the names and one identity (" + ", ".join(REQUIRABLE_FIELDS)
        + "); a record without them is quarantined."))
    max_field_chars: CharBound = Field(default=1_000_000, description=(
        "One FHIR string value / HL7 segment longer than this: the record is quarantined."
    ))
    max_record_chars: CharBound = Field(default=16_000_000, description=(
        "One NDJSON line / HL7 message longer than this: the record is quarantined."
    ))
    expect: Literal["none", "daily", "weekdays"] = Field(default="none", description=(
        "When the clinic delivers: none, daily or weekdays. An expected source with nothing in incoming/ "
        "makes the night need attention (docs/operating-alerts.md)."
    ))
    identifier_namespace: StrictStr | None = Field(default=None, description=(
        "The namespace of this source's identifiers in the cross-reference patient_pipeline.patient_identifier "
        "(docs/contracts/identity.md 1b). Default: the FHIR identifier_system; HL7 the assigning_authority "
        "(else type:<code>|facility:<id> as declared); a CSV source's identifier_system, else the source id. "
        "Two sources naming the same namespace share one identifier space."
    ))

    @property
    def namespace(self) -> str:
        """The namespace of this source's identifiers in ``patient_pipeline.patient_identifier``
        (docs/contracts/identity.md 1b): ``identifier_namespace`` when configured; else the FHIR identifier
        system; the HL7 assigning authority (or ``type:<code>`` / ``facility:<id>`` as declared); a CSV
        source's identifier system, else its id."""
        if self.identifier_namespace:
            return self.identifier_namespace
        if self.format == "hl7v2":
            if self.assigning_authority:
                return self.assigning_authority
            parts = [f"type:{self.identifier_type_code}" if self.identifier_type_code else None,
                     f"facility:{self.assigning_facility}" if self.assigning_facility else None]
            return "|".join(p for p in parts if p) or self.id
        return self.identifier_system or self.id

    # --- rules that are more than a type (messages as the hand validation had them) ------------------

    @field_validator("column_mapping", mode="before", json_schema_input_type=dict[str, str] | None)
    @classmethod
    def _mapping_default(cls, value: Any) -> Any:
        return dict(DEFAULT_COLUMN_MAPPING) if value is None else value

    @field_validator("column_mapping")
    @classmethod
    def _mapping(cls, mapping: dict[str, str]) -> dict[str, str]:
        for header, canonical in mapping.items():
            if canonical not in CANONICAL_FIELDS:
                raise _fail("column_mapping", f"maps a column to {canonical!r}, not one of "
                            f"{', '.join(CANONICAL_FIELDS)}")
            if not header.strip():
                raise _fail("column_mapping", "has an empty header name")
        if len(mapping.values()) != len(set(mapping.values())):
            raise _fail("column_mapping", "maps two columns to the same canonical field")
        return dict(mapping)

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n\"":
            raise _fail("delimiter", _RULES["delimiter"])
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise _fail("encoding", _RULES["encoding"]) from None
        return value

    @field_validator("date_formats", mode="before", json_schema_input_type=list[str] | str)
    @classmethod
    def _one_date_format(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("date_formats")
    @classmethod
    def _date_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all("%" in f for f in value):
            raise _fail("date_formats", _RULES["date_formats"])
        if any("%y" in f for f in value):
            raise _fail("date_formats", "uses %y: a two-digit year makes the century of a birth date a guess; "
                        "use %Y")
        return value

    @field_validator("max_reject_ratio")
    @classmethod
    def _ratio(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise _fail("max_reject_ratio", _RULES["max_reject_ratio"])
        return float(value)

    @field_validator("assigning_authority", "identifier_type_code", "assigning_facility")
    @classmethod
    def _non_empty(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not value.strip():
            raise _fail(info.field_name, _RULES[info.field_name])
        return value

    @field_validator("identifier_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or len(value) > 255):
            raise _fail("identifier_namespace", _RULES["identifier_namespace"])
        return value.strip() if value else None

    @field_validator("required_fields", mode="before", json_schema_input_type=list[str] | None)
    @classmethod
    def _required_list(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            raise _fail("required_fields", _RULES["required_fields"])
        return value

    @field_validator("required_fields")
    @classmethod
    def _required(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in value if f not in REQUIRABLE_FIELDS]
        if bad:
            raise _fail("required_fields", f"names {bad[0]!r}; allowed: {', '.join(REQUIRABLE_FIELDS)}")
        return tuple(dict.fromkeys(value))

    @field_validator("quarantine_formula_prefixes", mode="before", json_schema_input_type=list[str])
    @classmethod
    def _prefix_list(cls, value: Any) -> Any:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise _fail("quarantine_formula_prefixes", _RULES["quarantine_formula_prefixes"])
        return value

    @field_validator("quarantine_formula_prefixes")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(value):
            raise _fail("quarantine_formula_prefixes", _RULES["quarantine_formula_prefixes"])
        dropped = [p for p in DEFAULT_FORMULA_PREFIXES if p not in value]
        if dropped:
            raise _fail("quarantine_formula_prefixes", f"drops the required prefix(es) {dropped!r}; list may only "
                        "add prefixes to the defaults")
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise _fail("default_phone_region", _RULES["default_phone_region"])
        return value.upper()

    @model_validator(mode="after")
    def _per_format(self) -> SourceConfig:
        if self.format == "csv":
            missing = [f for f in REQUIRED_CSV_FIELDS if f not in self.column_mapping.values()]
            if missing:
                raise _fail("column_mapping", f"has no column for required field(s) {', '.join(missing)}")
        if self.format == "fhir_ndjson" and not self.identifier_system:
            raise _fail("identifier_system", "is required for fhir_ndjson sources")
        for key in ("assigning_authority", "identifier_type_code", "assigning_facility"):
            if getattr(self, key) is not None and self.format != "hl7v2":
                raise _fail(key, "applies to hl7v2 sources only")
        if self.format == "hl7v2" and not any(getattr(self, k) for k in ("assigning_authority",
                                                                           "identifier_type_code",
                                                                           "assigning_facility")):
            raise _fail("assigning_authority", "(or identifier_type_code / assigning_facility) is required for "
                        "hl7v2 sources: declare how the clinic MRN is recognised in PID-3")
        if self.max_field_chars > self.max_record_chars:
            raise _fail("max_field_chars", "must not be larger than max_record_chars")
        return self

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
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(overrides)
        return source_from_dict(data)


@pydantic_dataclasses.dataclass(frozen=True, config=ConfigDict(extra="forbid", title="clinic sources"))
class ClinicSourcesFile:
    """The clinic sources document (YAML or JSON)."""

    sources: list[SourceConfig] = Field(description=(
        "The clinic sources, one entry each."
    ))
    landing_roots: list[NonEmptyStr] = Field(default_factory=lambda: list(DEFAULT_LANDING_ROOTS), description=(
        "The only roots the import DAG's landing_root Param / Variable genascope_landing_root may "
        "name (relative = project root, or a URI prefix such as s3://bucket/landing). "
        "GENASCOPE_LANDING_ROOTS (comma-separated) replaces it for a deployment."
    ))


_SOURCE = TypeAdapter(SourceConfig)
_FILE = TypeAdapter(ClinicSourcesFile)


def _join(base: str, child: str) -> str:
    return base.rstrip("/") + "/" + child


def _key_and_why(err: dict[str, Any], rest: list[str]) -> tuple[str, str]:
    """The key an error is about and the sentence completing "key 'KEY' …"."""
    if err["type"] == "clinic_source":
        return err["ctx"]["key"], err["ctx"]["why"]
    key = rest[0] if rest else "?"
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        known = sorted(f.name for f in fields(SourceConfig))
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return key, f"is not a known key{hint} (known: {', '.join(known)})"
    if err["type"] == "missing" and key not in _RULES:
        return key, "is required"
    return key, _RULES.get(key, err["msg"])


def _entry_errors(exc: ValidationError, sid: str) -> list[str]:
    """One entry's broken keys (``source_from_dict``): "key 'KEY' why" each."""
    lines = []
    for err in exc.errors():
        key, why = _key_and_why(err, [str(p) for p in err["loc"]])
        lines.append(f"key {key!r} {why}")
    return list(dict.fromkeys(lines))


def _document_errors(exc: ValidationError, entries: list[Any], where: str) -> list[str]:
    """The document's broken keys, each with the source id and its path (``sources[2].date_formats``)."""
    lines: list[str] = []
    for err in exc.errors():
        loc = list(err["loc"])
        if loc and loc[0] != "sources":  # a top-level key
            key = str(loc[0])
            if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
                lines.append(f"{where}: top-level key {key!r} is not a known key (known: sources, landing_roots)")
            else:
                lines.append(f"{where}: top-level key {key!r} {_RULES.get(key, err['msg'])}")
            continue
        index = loc[1] if len(loc) > 1 else None
        entry = entries[index] if isinstance(index, int) and index < len(entries) else None
        if not isinstance(entry, dict):
            lines.append(f"{where}: sources[{index}]: every item under 'sources:' must be a mapping")
            continue
        key, why = _key_and_why(err, [str(p) for p in loc[2:]])
        sid = str(entry.get("id") or "<missing id>")
        lines.append(f"clinic source {sid!r} ({where}: sources[{index}].{key}): key {key!r} {why}")
    return list(dict.fromkeys(lines))


def source_from_dict(entry: dict[str, Any]) -> SourceConfig:
    """Validate one YAML entry and build its ``SourceConfig``."""
    try:
        return _SOURCE.validate_python(dict(entry))
    except ValidationError as exc:
        sid = str(entry.get("id") or "<missing id>")
        raise SourceConfigError(f"clinic source {sid!r}: " + "; ".join(_entry_errors(exc, sid))
                                + "; fix it in the clinic sources YAML") from None


# --------------------------------------------------------------------------- where the document lives


def _looks_like_document(value: str) -> bool:
    text = value.lstrip()
    return "\n" in text or text.startswith(("{", "sources:", "landing_roots:"))


def sources_location(path: str | os.PathLike[str] | None = None) -> str:
    """Where the sources document comes from (see the module docstring): a path, a URI, or
    ``variable:genascope_clinic_sources`` / ``env:AIRFLOW_VAR_GENASCOPE_CLINIC_SOURCES`` for a document
    held in the Variable itself."""
    if path:
        return str(path)
    value = _variable_value()
    if value is not None:
        origin, text = value
        return origin if _looks_like_document(text) else text.strip()
    return os.environ.get(SOURCES_PATH_ENV) or str(DEFAULT_SOURCES_PATH)


def _variable_value() -> tuple[str, str] | None:
    """The Variable genascope_clinic_sources: from Airflow inside a task, else from the environment."""
    from include.core import db

    if db.in_airflow_task():
        from airflow.sdk import Variable

        text = Variable.get(SOURCES_VARIABLE, default=None)
        if text and text.strip():
            return f"variable:{SOURCES_VARIABLE}", text
    text = os.environ.get(SOURCES_VARIABLE_ENV, "")
    if text.strip():
        return f"env:{SOURCES_VARIABLE_ENV}", text
    return None


def _read_text(location: str) -> str:
    if location.startswith("variable:") or location.startswith("env:"):
        value = _variable_value()
        if value is None:
            raise SourceConfigError(f"{location}: the Variable is empty")
        return value[1]
    from include.core import storage

    p = storage.path(location) if storage.is_uri(location) else Path(location)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceConfigError(f"{location}: the clinic sources file does not exist") from None


def sources_fingerprint(path: str | os.PathLike[str] | None = None) -> tuple[object, ...]:
    """What identifies the current sources document cheaply (no parse): its location plus, for a local
    file, its size and modification time, for a document held in a Variable or the environment, its text's
    hash. Object-storage documents are identified by location only (a reader caches them for a TTL)."""
    location = sources_location(path)
    if location.startswith(("variable:", "env:")):
        value = _variable_value()
        return (location, hash(value[1]) if value else None)
    if "://" in location:
        return (location,)
    try:
        st = os.stat(location)
    except OSError:
        return (location, None)
    return (location, st.st_size, st.st_mtime_ns)


def _label(location: str) -> str:
    if location.startswith(("variable:", "env:")) or "://" in location:
        return location
    return Path(location).name


def _load_doc(location: str) -> Any:
    try:
        return yaml.safe_load(_read_text(location)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SourceConfigError(f"{_label(location)}: not valid YAML{where}") from None


def load_document(path: str | os.PathLike[str] | None = None) -> ClinicSourcesFile:
    """The whole sources document, validated; every broken key is named with its path."""
    location = sources_location(path)
    where = _label(location)
    doc = _load_doc(location)
    if not isinstance(doc, dict):
        raise SourceConfigError(f"{where}: expected a mapping with a top-level 'sources:' list")
    entries = doc.get("sources")
    if not isinstance(entries, list):
        raise SourceConfigError(f"{where}: expected a top-level 'sources:' list")
    try:
        parsed = _FILE.validate_python(doc)
    except ValidationError as exc:
        lines = _document_errors(exc, entries, where)
        raise SourceConfigError("\n".join(lines)) from None
    seen: set[str] = set()
    for index, source in enumerate(parsed.sources):
        if source.id in seen:
            raise SourceConfigError(f"{where}: clinic source id {source.id!r} appears twice (sources[{index}].id); "
                                    "ids must be unique")
        seen.add(source.id)
    return parsed


def load_landing_roots(path: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """The allow-list of landing roots (top-level ``landing_roots`` of the sources YAML; default
    ``landing``). Validation and matching are in ``include/imports/landing.py``."""
    return tuple(r.strip() for r in load_document(path).landing_roots)


def load_sources(path: str | os.PathLike[str] | None = None) -> dict[str, SourceConfig]:
    """All clinic sources by id (from ``path``, else the Variable, else $GENASCOPE_CLINIC_SOURCES, else the
    bundled YAML)."""
    return {s.id: s for s in load_document(path).sources}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the sources document (written to include/config/clinic_sources.schema.json)."""
    schema = _FILE.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://genascope.example/schemas/clinic_sources.schema.json"
    return schema


__all__ = ["DEFAULT_COLUMN_MAPPING", "FORMATS", "ClinicSourcesFile", "SourceConfig", "SourceConfigError",
           "json_schema", "load_document", "load_landing_roots", "load_sources", "source_from_dict",
           "sources_fingerprint", "sources_location"]
