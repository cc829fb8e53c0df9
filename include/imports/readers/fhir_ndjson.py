"""FHIR R4 Bulk Data NDJSON of ``Patient`` resources (one resource per line), streamed line by line.

Per line (blank lines are skipped and not numbered):

1. ``json.loads``; failure -> ``truncated_line`` when the input ends inside the value (unterminated
   string, or the file's last line lacks its newline) else ``invalid_json``.
2. ``resourceType`` must be ``Patient`` -> else ``not_patient``.
3. Validation of the resource (``invalid_fhir``, ``problem_field`` = the first failing element path,
   only element names from the FHIR model, never values):
   - ``fhir_validation: model`` (default): the ``fhir.resources`` R4B ``Patient`` model validates the
     whole resource (~4k lines/s on this 2-core machine).
   - ``fhir_validation: fast``: a hand-written check of the elements the import uses (types, the FHIR
     date regex, known top-level element names); ~14k lines/s, for very large exports.
4. Extraction (values passed on as text, untouched):
   - ``external_id``: ``identifier.value`` whose ``system`` is the source's ``identifier_system``
     (other systems ignored; none -> absent).
   - name: ``use == official``, else ``usual``, else the first entry; ``first_name`` = first ``given``,
     ``last_name`` = ``family``. A name with only ``text`` is split like ``users.name``.
   - ``date_of_birth``: ``birthDate`` as written (``1965``, ``1965-03`` stay partial downstream).
   - ``email`` / ``phone``: first ``telecom`` with that ``system`` not marked ``use: old`` (``mobile``
     preferred for phones).
   - ``active``: ``true``/``false``.
   - ``link`` with ``type: replaced-by`` -> ``event = "fhir_replaced_by"``, ``event_detail`` = the
     reference of the other patient (an id such as ``Patient/123``), for review; never applied.
5. A line over ``MAX_LINE_CHARS`` characters -> ``line_too_long`` (skipped to its end, memory bounded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from include.imports.readers._stream import (
    ReadStats,
    RecordStream,
    encoding_rejection,
    open_text,
    read_line_bounded,
)
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig
from include.normalize.names import split_full_name

MAX_LINE_CHARS = 8 * 1024 * 1024

#: FHIR R4 ``date`` regex (year, year-month, or full date).
_FHIR_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_NAME_USE_ORDER = {"official": 0, "usual": 1}
_PHONE_USE_ORDER = {"mobile": 0, "home": 1}


def _patient_model() -> Any:
    from fhir.resources.R4B.patient import Patient

    return Patient


def _known_elements() -> frozenset[str]:
    model = _patient_model()
    names = {"resourceType"}
    for name, info in model.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
    return frozenset(names)


class _Invalid(Exception):
    def __init__(self, element: str) -> None:
        super().__init__(element)
        self.element = element


def _model_check(resource: dict[str, Any], model: Any, known: frozenset[str]) -> None:
    from pydantic import ValidationError

    try:
        model.model_validate(resource)
    except ValidationError as exc:  # the error text holds input values: only the element path is kept
        loc = exc.errors()[0].get("loc", ()) if exc.errors() else ()
        first = str(loc[0]) if loc else "resource"
        path = ".".join(str(p) for p in loc) if first in known else "unknown_element"
        raise _Invalid(path[:200]) from None
    except (TypeError, ValueError, KeyError):
        raise _Invalid("resource") from None


def _expect(condition: bool, element: str) -> None:
    if not condition:
        raise _Invalid(element)


def _fast_check(resource: dict[str, Any], known: frozenset[str]) -> None:
    """Structure of the elements the import uses, as the model would judge them."""
    for key in resource:
        _expect(key in known, "unknown_element")
    _expect(isinstance(resource.get("id", ""), str), "id")
    _expect(isinstance(resource.get("active", True), bool), "active")
    birth = resource.get("birthDate")
    _expect(birth is None or (isinstance(birth, str) and _FHIR_DATE.fullmatch(birth) is not None), "birthDate")
    if birth is not None and len(birth) == 10:
        try:
            date.fromisoformat(birth)
        except ValueError:
            raise _Invalid("birthDate") from None
    for element, keys in (("identifier", ("system", "value")), ("telecom", ("system", "value", "use")),
                          ("name", ("family", "use", "text")), ("link", ("type",))):
        items = resource.get(element, [])
        _expect(isinstance(items, list), element)
        for i, item in enumerate(items):
            _expect(isinstance(item, dict), f"{element}.{i}")
            for key in keys:
                _expect(isinstance(item.get(key, ""), str), f"{element}.{i}.{key}")
            if element == "name":
                given = item.get("given", [])
                _expect(isinstance(given, list) and all(isinstance(g, str) for g in given), f"name.{i}.given")
            if element == "link":
                other = item.get("other")
                _expect(isinstance(other, dict) and isinstance(other.get("reference", ""), str), f"link.{i}.other")


def _pick_name(names: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not names:
        return None
    return min(enumerate(names), key=lambda p: (_NAME_USE_ORDER.get(p[1].get("use"), 2), p[0]))[1]


def _telecom(telecoms: list[dict[str, Any]], system: str) -> str | None:
    candidates = [(i, t) for i, t in enumerate(telecoms) if t.get("system") == system and t.get("use") != "old"]
    if not candidates:
        return None
    if system == "phone":
        candidates.sort(key=lambda p: (_PHONE_USE_ORDER.get(p[1].get("use"), 2), p[0]))
    return candidates[0][1].get("value")


def extract(resource: dict[str, Any], identifier_system: str | None) -> tuple[dict[str, str | None], str | None]:
    """(canonical values, reference of the patient this one is replaced by)."""
    values: dict[str, str | None] = {}
    for ident in resource.get("identifier", []):
        if ident.get("system") == identifier_system and ident.get("value") is not None:
            values["external_id"] = ident["value"]
            break
    name = _pick_name(resource.get("name", []))
    if name is not None:
        given = name.get("given") or []
        first, last = (given[0] if given else None), name.get("family")
        if first is None and last is None and name.get("text"):
            first, last = split_full_name(name["text"])
        values["first_name"], values["last_name"] = first, last
    values["date_of_birth"] = resource.get("birthDate")
    telecoms = resource.get("telecom", [])
    values["email"] = _telecom(telecoms, "email")
    values["phone"] = _telecom(telecoms, "phone")
    active = resource.get("active")
    values["active"] = None if active is None else (str(active).lower() if isinstance(active, bool) else str(active))
    replaced_by = None
    for link in resource.get("link", []):
        if link.get("type") == "replaced-by":
            replaced_by = (link.get("other") or {}).get("reference") or "unknown"
            break
    return values, replaced_by


def _decode_problem(exc: json.JSONDecodeError, line: str, is_last: bool) -> str:
    if exc.msg.startswith("Unterminated string") or exc.pos >= len(line.rstrip()) or is_last:
        return "truncated_line"
    return "invalid_json"


def _records(path: Any, source: SourceConfig, stats: ReadStats) -> Iterator[RawRecord]:
    known = _known_elements()
    model = _patient_model() if source.fhir_validation == "model" else None
    record_no = 0
    with open_text(path, source.encoding, newline=None) as text:
        try:
            while True:
                line, too_long = read_line_bounded(text, MAX_LINE_CHARS)
                if not line:
                    break
                if not too_long and not line.strip():
                    stats.blank_lines_skipped += 1
                    continue
                record_no += 1
                stats.records = record_no
                if too_long:
                    yield RawRecord(record_no, {}, "line_too_long", None)
                    continue
                try:
                    resource = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield RawRecord(record_no, {}, _decode_problem(exc, line, not line.endswith("\n")), None)
                    continue
                if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
                    yield RawRecord(record_no, {}, "not_patient", "resourceType")
                    continue
                try:
                    _fast_check(resource, known)
                    if model is not None:
                        _model_check(resource, model, known)
                except _Invalid as bad:
                    yield RawRecord(record_no, {}, "invalid_fhir", bad.element)
                    continue
                values, replaced_by = extract(resource, source.identifier_system)
                if replaced_by is None:
                    yield RawRecord(record_no, values)
                else:
                    yield RawRecord(record_no, values, event="fhir_replaced_by", event_detail=replaced_by)
        except UnicodeDecodeError:
            raise encoding_rejection(source.encoding, record_no + 1) from None


def read_fhir_ndjson(path: Any, source: SourceConfig) -> RecordStream:
    """Stream the Patient records of one NDJSON file (see the module docstring)."""
    stats = ReadStats()
    return RecordStream(_records(path, source, stats), stats)


__all__ = ["MAX_LINE_CHARS", "extract", "read_fhir_ndjson"]
