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
   - name: only current names count first (``period.end`` in the past, or ``period.start`` in the
     future, is not current); among them ``official``, then ``usual``, then a name without ``use``,
     then ``temp``/``anonymous``; ``maiden``/``old``/``nickname`` (and names that are not current) only
     when nothing else exists; file order breaks ties. ``first_name`` = first ``given``, ``last_name`` =
     ``family``; ``name.text`` fills a missing given or family name (split like ``users.name``).
   - ``date_of_birth``: ``birthDate`` as written (``1965``, ``1965-03`` stay partial downstream).
   - ``email`` / ``phone``: every ``telecom`` of that system (phones: ``phone`` or ``sms``; never
     ``fax``/``pager``) that is not ``use: old`` and whose period has not ended, ordered by ``use``
     (mobile, home, work, none, temp), then ``rank``, then file order: the first is ``values[...]``, the
     others ``alternates[...]`` (the normalizer takes the first valid one).
   - ``active``: ``true``/``false``. ``date_of_death``: ``deceasedDateTime`` as written, or ``true`` for
     ``deceasedBoolean: true`` (the patient is stored ``inactive``).
   - ``link`` with ``type`` ``replaced-by`` / ``replaces`` -> ``event = "fhir_replaced_by"`` /
     ``"fhir_replaces"``, ``event_detail`` = what ``link.other`` points to: its ``reference``
     (``Patient/123``), or ``identifier <system>|<value>`` when the link is by identifier (several
     links joined with ``; ``); for review, never applied.
5. Hostile lines (the record is quarantined, the rest of the file goes on; memory bounded): a line over
   the source's ``max_record_chars`` -> ``line_too_long`` (skipped to its end without being kept);
   a NUL character (raw or ``\u0000``) -> ``nul_character``; JSON nested deeper than
   ``MAX_JSON_DEPTH`` -> ``json_too_deep`` (checked before parsing, so no recursion limit is hit); one
   string value over ``max_field_chars`` -> ``field_too_long`` with its element path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
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

#: Default bound of one NDJSON line (the source's ``max_record_chars`` applies).
MAX_LINE_CHARS = 16_000_000
#: Deepest JSON nesting accepted; a FHIR Patient rarely goes beyond 8 levels.
MAX_JSON_DEPTH = 64
#: Lines with fewer opening brackets than this cannot be deeper than MAX_JSON_DEPTH: no scan needed.
_DEPTH_SCAN_BRACKETS = MAX_JSON_DEPTH
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")

#: FHIR R4 ``date`` regex (year, year-month, or full date).
_FHIR_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_NAME_USE_ORDER = {"official": 0, "usual": 1, None: 2, "temp": 3, "anonymous": 4, "old": 6, "maiden": 7,
                   "nickname": 8}
_NAME_LAST_RESORT = frozenset({"maiden", "old", "nickname"})
_TELECOM_USE_ORDER = {"mobile": 0, "home": 1, "work": 2, None: 3, "temp": 4}
_PHONE_SYSTEMS = ("phone", "sms")
_LINK_EVENTS = {"replaced-by": "fhir_replaced_by", "replaces": "fhir_replaces"}


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
    _expect(isinstance(resource.get("deceasedBoolean", False), bool), "deceasedBoolean")
    _expect(isinstance(resource.get("deceasedDateTime", ""), str), "deceasedDateTime")
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
            if element in ("name", "telecom"):
                _expect(isinstance(item.get("period", {}), dict), f"{element}.{i}.period")
            if element == "telecom":
                rank = item.get("rank", 1)
                _expect(isinstance(rank, int) and not isinstance(rank, bool), f"telecom.{i}.rank")
            if element == "link":
                other = item.get("other")
                _expect(isinstance(other, dict) and isinstance(other.get("reference", ""), str)
                        and isinstance(other.get("identifier", {}), dict), f"link.{i}.other")


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _current(item: dict[str, Any], today: str) -> bool:
    """False when the element's ``period`` has ended before today or starts after today."""
    period = item.get("period")
    if not period:
        return True
    end, start = period.get("end"), period.get("start")
    if isinstance(end, str) and end and end[:10] < today[: len(end[:10])]:
        return False
    return not (isinstance(start, str) and start and start[:10] > today[: len(start[:10])])


def _pick_name(names: list[dict[str, Any]], today: str) -> dict[str, Any] | None:
    def rank(pair: tuple[int, dict[str, Any]]) -> tuple[int, int, int, int]:
        i, name = pair
        use = name.get("use")
        usable = bool(name.get("family") or name.get("given") or name.get("text"))
        last_resort = use in _NAME_LAST_RESORT or not _current(name, today)
        return (0 if usable else 1, 1 if last_resort else 0, _NAME_USE_ORDER.get(use, 5), i)

    if not names:
        return None
    return min(enumerate(names), key=rank)[1]


def _telecoms(telecoms: list[dict[str, Any]], systems: tuple[str, ...], today: str) -> list[str]:
    """Values of the usable telecoms of ``systems``, most preferred first (see the module docstring)."""
    candidates = []
    for i, t in enumerate(telecoms):
        value = t.get("value")
        if t.get("system") not in systems or t.get("use") == "old" or not value or not _current(t, today):
            continue
        rank = t.get("rank") if isinstance(t.get("rank"), int) else 1 << 30
        candidates.append((_TELECOM_USE_ORDER.get(t.get("use"), 5), rank, i, value))
    return [c[3] for c in sorted(candidates)]


def _link_target(other: dict[str, Any]) -> str:
    """What a ``link.other`` Reference points to (never a name: reference, or identifier system|value)."""
    reference = other.get("reference")
    if reference:
        return str(reference)
    ident = other.get("identifier") or {}
    if ident.get("value"):
        system = ident.get("system")
        return f"identifier {system}|{ident['value']}" if system else f"identifier {ident['value']}"
    return "link.other without reference or identifier"


def extract(resource: dict[str, Any], identifier_system: str | None, today: str | None = None,
            ) -> tuple[dict[str, str | None], dict[str, list[str]] | None, str | None, str | None]:
    """(canonical values, alternates, event, event detail) of one Patient resource."""
    today = today or _today()
    values: dict[str, str | None] = {}
    for ident in resource.get("identifier", []):
        if ident.get("system") == identifier_system and ident.get("value") is not None:
            values["external_id"] = ident["value"]
            break
    name = _pick_name(resource.get("name", []), today)
    if name is not None:
        given = name.get("given") or []
        first, last = (given[0] if given else None), name.get("family")
        if (first is None or last is None) and name.get("text"):
            text_first, text_last = split_full_name(name["text"])
            first = text_first if first is None else first
            last = text_last if last is None else last
        values["first_name"], values["last_name"] = first, last
    values["date_of_birth"] = resource.get("birthDate")
    telecoms = resource.get("telecom", [])
    alternates: dict[str, list[str]] = {}
    for field, systems in (("email", ("email",)), ("phone", _PHONE_SYSTEMS)):
        found = _telecoms(telecoms, systems, today) if telecoms else []
        values[field] = found[0] if found else None
        if len(found) > 1:
            alternates[field] = found[1:]
    active = resource.get("active")
    values["active"] = None if active is None else (str(active).lower() if isinstance(active, bool) else str(active))
    if resource.get("deceasedBoolean") is True:
        values["date_of_death"] = "true"
    elif resource.get("deceasedDateTime"):
        values["date_of_death"] = resource["deceasedDateTime"]
    event = None
    targets = []
    for link in resource.get("link", []):
        kind = _LINK_EVENTS.get(link.get("type"))
        if kind is not None:
            event = event or kind
            targets.append(_link_target(link.get("other") or {}))
    return values, alternates or None, event, "; ".join(targets) if targets else None


def _too_deep(line: str) -> bool:
    """Nesting deeper than MAX_JSON_DEPTH (strings removed first: brackets inside them do not count)."""
    if line.count("{") + line.count("[") <= _DEPTH_SCAN_BRACKETS:
        return False
    depth = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub("", line)):
        if match[0] in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _long_string(node: Any, limit: int, path: str = "") -> str | None:
    """The element path of the first string value over ``limit`` characters (iterative walk)."""
    stack = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if len(item) > limit:
                return _element_path(where)
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}.{i}") for i, v in enumerate(item))
    return None


def _element_path(path: str) -> str:
    """A path of FHIR element names and indexes only (an unknown JSON key could itself be a value)."""
    parts = [p if p.isdigit() or re.fullmatch(r"[a-zA-Z][a-zA-Z0-9]{0,63}", p) else "?" for p in path.split(".")]
    return ".".join(parts)[:200]


def _decode_problem(exc: json.JSONDecodeError, line: str, is_last: bool) -> str:
    if exc.msg.startswith("Unterminated string") or exc.pos >= len(line.rstrip()) or is_last:
        return "truncated_line"
    return "invalid_json"


def _records(path: Any, source: SourceConfig, stats: ReadStats) -> Iterator[RawRecord]:
    known = _known_elements()
    model = _patient_model() if source.fhir_validation == "model" else None
    max_line, max_field = source.max_record_chars, source.max_field_chars
    today = _today()
    record_no = 0
    with open_text(path, source.encoding, newline=None) as text:
        try:
            while True:
                line, too_long = read_line_bounded(text, max_line)
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
                if "\x00" in line or "\\u0000" in line:
                    yield RawRecord(record_no, {}, "nul_character", None)
                    continue
                if _too_deep(line):
                    yield RawRecord(record_no, {}, "json_too_deep", None)
                    continue
                try:
                    resource = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield RawRecord(record_no, {}, _decode_problem(exc, line, not line.endswith("\n")), None)
                    continue
                except RecursionError:
                    yield RawRecord(record_no, {}, "json_too_deep", None)
                    continue
                if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
                    yield RawRecord(record_no, {}, "not_patient", "resourceType")
                    continue
                if len(line) > max_field:
                    where = _long_string(resource, max_field)
                    if where is not None:
                        yield RawRecord(record_no, {}, "field_too_long", where)
                        continue
                try:
                    _fast_check(resource, known)
                    if model is not None:
                        _model_check(resource, model, known)
                except _Invalid as bad:
                    yield RawRecord(record_no, {}, "invalid_fhir", bad.element)
                    continue
                except RecursionError:
                    yield RawRecord(record_no, {}, "json_too_deep", None)
                    continue
                values, alternates, event, detail = extract(resource, source.identifier_system, today)
                yield RawRecord(record_no, values, event=event, event_detail=detail, alternates=alternates)
        except UnicodeDecodeError:
            raise encoding_rejection(source.encoding, record_no + 1) from None


def read_fhir_ndjson(path: Any, source: SourceConfig) -> RecordStream:
    """Stream the Patient records of one NDJSON file (see the module docstring)."""
    stats = ReadStats()
    return RecordStream(_records(path, source, stats), stats)


__all__ = ["MAX_LINE_CHARS", "extract", "read_fhir_ndjson"]
