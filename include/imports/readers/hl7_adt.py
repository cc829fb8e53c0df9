"""HL7 v2 ADT message files, streamed message by message (parsed with the ``hl7`` package).

Framing: segments end with CR, LF or CRLF; MLLP framing characters (``0x0B`` start, ``0x1C`` end) and
batch envelopes (``FHS``/``BHS``/``BTS``/``FTS``) are ignored. A message starts at each ``MSH``
segment. Each message is one ``RawRecord`` (numbered from 1, in file order); segments before the first
``MSH`` form one record with ``invalid_hl7`` (problem_field ``MSH``).

Message type comes from MSH-9.1/MSH-9.2 (MSH-9.3, the message structure, is optional and not needed):

- ``ADT^A04``, ``A08``, ``A28``, ``A31``: a patient record from the first ``PID``.
- ``ADT^A40`` (merge): ``event = "hl7_a40_merge"`` for review, **never applied**; the values are the
  surviving patient's PID, ``event_detail`` = the prior identifier from MRG-1 (ids only). Only the first
  PID/MRG pair is read.
- anything else: ``unsupported_message`` (problem_field ``MSH-9``).

Structure problems -> ``invalid_hl7`` with problem_field = the segment (``MSH``, ``MSH-9``, ``PID``,
``MRG``, ``EVN``, ``PV1``): unparseable MSH, no PID, more than one PID, EVN after PID, PV1 before PID,
MRG before PID or missing in an A40, a segment id that is not 3 letters/digits, more than
``MAX_SEGMENTS`` segments. A segment over ``MAX_SEGMENT_CHARS`` -> ``field_too_long``.

Fields (HL7 escapes such as ``\\T\\`` are decoded; values otherwise untouched):

- ``external_id``: the PID-3 repetition whose assigning authority (PID-3.4, namespace id or universal
  id) equals the source's ``assigning_authority``; identifiers of other authorities are ignored.
- ``last_name`` / ``first_name``: PID-5.1.1 / PID-5.2 of the legal name (name type ``L``), else the
  first repetition.
- ``date_of_birth``: PID-7.1 (HL7 TS ``YYYY[MM[DD[HHMM[SS...]]]][+ZZZZ]``) handed on as ISO
  ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (time and zone dropped; partial stays partial); anything else
  is passed on raw (the normalizer reports ``invalid_dob``).
- ``email``: the PID-13 repetition with use ``NET`` or equipment ``Internet`` (XTN.4, else XTN.1).
- ``phone``: the first other PID-13 repetition: XTN.1, else ``+country area local`` from XTN.5-7.

Empty vs explicit null: an empty field means "no information" and the value is absent (``None``). The
HL7 explicit null ``""`` ("delete this value") is kept as the two-character string ``'""'`` (for
PID-13 it applies to both phone and e-mail). The spec says imports never blank a stored value, so the
normalizer turns ``'""'`` into "absent" and adds the warning note ``hl7_explicit_null``; the DB side
must treat it like an empty value (keep what is stored) and may surface the note for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import hl7

from include.imports.readers._stream import (
    ReadStats,
    RecordStream,
    encoding_rejection,
    open_text,
    read_line_bounded,
)
from include.imports.records import RawRecord
from include.imports.sources import SourceConfig

MAX_SEGMENT_CHARS = 1_000_000
MAX_SEGMENTS = 5_000
PATIENT_TRIGGERS = frozenset({"A04", "A08", "A28", "A31"})
MERGE_TRIGGER = "A40"
EXPLICIT_NULL = '""'

_BATCH_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(?:\d{2,}(?:\.\d+)?)?(?:[+-]\d{4})?")
_MLLP = "\x0b\x1c"


class _InvalidMessage(Exception):
    def __init__(self, problem: str, segment: str) -> None:
        super().__init__(problem, segment)
        self.problem = problem
        self.segment = segment


class _Fields:
    """Splits raw HL7 field text with the message's own separators and decodes escapes."""

    def __init__(self, message: hl7.Message) -> None:
        seps = message.separators  # "\r", field, repetition, component, subcomponent
        self.rep, self.comp, self.sub = seps[2], seps[3], seps[4]
        self.esc = message.esc
        self.message = message

    def raw(self, segment: hl7.Segment, n: int) -> str:
        return str(segment[n]) if n < len(segment) else ""

    def leaf(self, text: str) -> str | None:
        if text == "":
            return None
        if text == EXPLICIT_NULL or self.esc not in text:
            return text
        return self.message.unescape(text)

    def repetitions(self, segment: hl7.Segment, n: int) -> list[list[str]]:
        raw = self.raw(segment, n)
        if raw == "":
            return []
        return [rep.split(self.comp) for rep in raw.split(self.rep)]

    def sub0(self, component: str) -> str:
        return component.split(self.sub, 1)[0]


def _comp(components: list[str], i: int) -> str:
    return components[i] if i < len(components) else ""


def _iso_from_ts(ts: str) -> str:
    match = _TS.fullmatch(ts)
    if match is None:
        return ts
    return "-".join(part for part in match.group(1, 2, 3) if part)


def _identifier(fields: _Fields, segment: hl7.Segment, n: int, authority: str | None) -> str | None:
    for rep in fields.repetitions(segment, n):
        hd = _comp(rep, 3).split(fields.sub)
        if authority is not None and authority in hd[:2]:
            return fields.leaf(fields.sub0(rep[0]))
    return None


def _patient_values(fields: _Fields, pid: hl7.Segment, authority: str | None) -> dict[str, str | None]:
    values: dict[str, str | None] = {"external_id": _identifier(fields, pid, 3, authority)}
    if fields.raw(pid, 3) == EXPLICIT_NULL:
        values["external_id"] = EXPLICIT_NULL

    names = fields.repetitions(pid, 5)
    if names:
        legal = next((rep for rep in names if _comp(rep, 6) == "L"), names[0])
        values["last_name"] = fields.leaf(fields.sub0(_comp(legal, 0)))
        values["first_name"] = EXPLICIT_NULL if legal == [EXPLICIT_NULL] else fields.leaf(_comp(legal, 1))
    else:
        values["last_name"] = values["first_name"] = None

    dob = fields.repetitions(pid, 7)
    ts = fields.leaf(_comp(dob[0], 0)) if dob else None
    values["date_of_birth"] = _iso_from_ts(ts) if ts is not None and ts != EXPLICIT_NULL else ts

    values["email"] = values["phone"] = None
    telecoms = fields.repetitions(pid, 13)
    if telecoms == [[EXPLICIT_NULL]]:
        values["email"] = values["phone"] = EXPLICIT_NULL
    for rep in telecoms:
        if _comp(rep, 1) == "NET" or _comp(rep, 2) == "Internet":
            if values["email"] is None:
                values["email"] = fields.leaf(_comp(rep, 3)) or fields.leaf(_comp(rep, 0))
        elif values["phone"] is None:
            number = fields.leaf(_comp(rep, 0))
            if number is None and _comp(rep, 6):
                country, area, local = _comp(rep, 4), _comp(rep, 5), _comp(rep, 6)
                number = (f"+{country} " if country else "") + f"{area} {local}".strip()
            values["phone"] = number
    return values


def _check_order(names: list[str], trigger: str) -> None:
    for name in names:
        if not _SEGMENT_ID.fullmatch(name):
            raise _InvalidMessage("invalid_hl7", "segment_id")
    pids = [i for i, n in enumerate(names) if n == "PID"]
    if not pids:
        raise _InvalidMessage("invalid_hl7", "PID")
    pid = pids[0]
    if trigger != MERGE_TRIGGER and len(pids) > 1:
        raise _InvalidMessage("invalid_hl7", "PID")
    if "EVN" in names and names.index("EVN") > pid:
        raise _InvalidMessage("invalid_hl7", "EVN")
    if "PV1" in names and names.index("PV1") < pid:
        raise _InvalidMessage("invalid_hl7", "PV1")
    if trigger == MERGE_TRIGGER and ("MRG" not in names or names.index("MRG") < pid):
        raise _InvalidMessage("invalid_hl7", "MRG")


def parse_message(segments: list[str], record_no: int, authority: str | None) -> RawRecord:
    """One ADT message (segments without terminators, first one ``MSH``) -> one ``RawRecord``."""
    try:
        message = hl7.parse("\r".join(segments))
        msh = message.segment("MSH")
    except (hl7.HL7Exception, IndexError, KeyError, ValueError):
        return RawRecord(record_no, {}, "invalid_hl7", "MSH")
    try:
        fields = _Fields(message)
        msg_type = fields.repetitions(msh, 9)
        kind = _comp(msg_type[0], 0) if msg_type else ""
        trigger = _comp(msg_type[0], 1) if msg_type else ""
        if not kind or not trigger:
            raise _InvalidMessage("invalid_hl7", "MSH-9")
        if kind != "ADT" or (trigger not in PATIENT_TRIGGERS and trigger != MERGE_TRIGGER):
            raise _InvalidMessage("unsupported_message", "MSH-9")
        _check_order([str(seg[0]) for seg in message], trigger)
        pid = message.segment("PID")
        values = _patient_values(fields, pid, authority)
        if trigger != MERGE_TRIGGER:
            return RawRecord(record_no, values)
        mrg = message.segment("MRG")
        prior = _identifier(fields, mrg, 1, authority)
        if prior is None:
            first = fields.repetitions(mrg, 1)
            prior = fields.leaf(fields.sub0(first[0][0])) if first else None
        return RawRecord(record_no, values, event="hl7_a40_merge", event_detail=prior or "unknown")
    except _InvalidMessage as bad:
        return RawRecord(record_no, {}, bad.problem, bad.segment)
    except (hl7.HL7Exception, IndexError, KeyError, ValueError):
        return RawRecord(record_no, {}, "invalid_hl7", "PID")


def _records(path: Any, source: SourceConfig, stats: ReadStats) -> Iterator[RawRecord]:
    authority = source.assigning_authority
    record_no = 0
    segments: list[str] = []
    problem: tuple[str, str] | None = None  # a problem found while collecting the current message

    def flush() -> RawRecord | None:
        nonlocal record_no
        if not segments and problem is None:
            return None
        record_no += 1
        stats.records = record_no
        if problem is not None:
            return RawRecord(record_no, {}, problem[0], problem[1])
        if not segments[0].startswith("MSH"):
            return RawRecord(record_no, {}, "invalid_hl7", "MSH")
        return parse_message(segments, record_no, authority)

    with open_text(path, source.encoding, newline=None) as text:
        try:
            while True:
                line, too_long = read_line_bounded(text, MAX_SEGMENT_CHARS)
                if not line:
                    break
                segment = line.strip("\n").strip(_MLLP).rstrip("\n")
                if not segment.strip():
                    stats.blank_lines_skipped += 1
                    continue
                if segment.startswith(_BATCH_SEGMENTS):
                    continue
                if segment.startswith("MSH"):
                    record = flush()
                    if record is not None:
                        yield record
                    segments, problem = [], None
                if problem is not None:
                    continue
                if too_long:
                    problem, segments = ("field_too_long", segment[:3]), []
                elif len(segments) >= MAX_SEGMENTS:
                    problem, segments = ("invalid_hl7", "segment_count"), []
                else:
                    segments.append(segment)
            record = flush()
            if record is not None:
                yield record
        except UnicodeDecodeError:
            raise encoding_rejection(source.encoding, record_no + 1) from None


def read_hl7_adt(path: Any, source: SourceConfig) -> RecordStream:
    """Stream one record per ADT message of one HL7 v2 file (see the module docstring)."""
    stats = ReadStats()
    return RecordStream(_records(path, source, stats), stats)


__all__ = ["read_hl7_adt", "parse_message"]
