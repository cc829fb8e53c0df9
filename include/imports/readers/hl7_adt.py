r"""HL7 v2 ADT message files, streamed message by message (parsed with the ``hl7`` package).

Framing: segments end with CR, LF or CRLF; MLLP framing characters (``0x0B`` start, ``0x1C`` end) and
batch envelopes (``FHS``/``BHS``/``BTS``/``FTS``) are ignored. A message starts at each ``MSH``
segment. Each message is one ``RawRecord`` (numbered from 1, in file order); segments before the first
``MSH`` form one record with ``invalid_hl7`` (problem_field ``MSH``).

Message type comes from MSH-9.1/MSH-9.2 (MSH-9.3, the message structure, is optional and not needed):

- ``ADT^A01``, ``A04``, ``A05``, ``A08``, ``A28``, ``A31`` (admit, register, pre-admit, update, add/update
  person): a patient record from the ``PID``; segments such as PV1, NK1, AL1 around it are fine.
- ``ADT^A40`` (merge): one record per PID/MRG pair (a message with three pairs gives three records,
  numbered consecutively), each with ``event = "hl7_a40_merge"`` for review, **never applied**; the values
  are that pair's surviving PID, ``event_detail`` = the prior identifier from its MRG-1 (ids only).
- anything else (``ORU^R01``, ``ADT^A03``, ...): **not a record and not an error**: counted in
  ``stats.unsupported_messages`` (and ``stats.unsupported_types`` by type), reported as
  ``unsupported_message``.

Structure problems -> ``invalid_hl7`` with problem_field = the segment (``MSH``, ``MSH-9``, ``PID``,
``MRG``, ``EVN``, ``PV1``): unparseable MSH, no PID, more than one PID (outside an A40), EVN after PID,
PV1 before PID, an A40 PID without its MRG, a segment id that is not 3 letters/digits, more than
``MAX_SEGMENTS`` segments. Hostile input (the message is quarantined, the next one is read; memory is
bounded): a segment over the source's ``max_field_chars`` -> ``field_too_long`` (the segment is skipped to
its end, never held whole), a message over ``max_record_chars`` -> ``message_too_long``, a NUL character
(raw, or the ``\X00\`` escape) -> ``nul_character``.

Fields (HL7 escapes such as ``\T\`` are decoded; values otherwise untouched):

- ``external_id``: the PID-3 repetition (CX) that matches every identifier setting the source declares:
  ``assigning_authority`` = PID-3.4 (namespace id or universal id), ``identifier_type_code`` = PID-3.5
  (e.g. ``MR``), ``assigning_facility`` = PID-3.6 (namespace id or universal id); identifiers that do not
  match are ignored. Messages of version 2.1-2.4 (MSH-12) are also searched in PID-2 (patient id) and
  PID-4 (alternate patient id), after PID-3, with the same rule.
- ``last_name`` / ``first_name``: PID-5.1.1 / PID-5.2 of the legal name (name type ``L``) first, then a
  repetition without type (or display/registered/...), then alias, maiden, nickname, birth name.
- ``date_of_birth``: PID-7.1 (HL7 TS ``YYYY[MM[DD[HHMM[SS...]]]][+ZZZZ]``) handed on as ISO
  ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (time and zone dropped; partial stays partial); anything else
  is passed on raw (the normalizer reports ``invalid_dob``).
- ``email`` / ``phone``: every XTN repetition of PID-13 (home), PID-14 (business) and PID-40 (patient
  telecommunication, v2.7+). An e-mail is XTN.4 (communication address) in any repetition, or XTN.1 of a
  repetition with use code ``NET`` or equipment ``Internet``/``X.400``/``EMAIL`` (any case; an address in
  XTN.2 of such a repetition is found too, as some senders write it). A phone is XTN.1, else XTN.12
  (unformatted), else ``+country area local`` from XTN.5-7; fax, beeper and modem equipment are skipped.
  Order of preference: cellular (equipment ``CP``) first, then home (PID-13, use PRN/ORN), then work
  (PID-14, use WPN), then the rest, file order breaking ties: the first is ``values[...]``, the others
  ``alternates[...]`` (the normalizer takes the first valid one).
- ``date_of_death``: PID-29 (death date/time, as ISO like PID-7), else ``true``/``false`` from PID-30
  (death indicator ``Y``/``N``); a deceased patient is stored ``inactive``.

Empty vs explicit null: an empty field means "no information" and the value is absent (``None``). The
HL7 explicit null ``""`` ("delete this value") is kept as the two-character string ``'""'`` (for
PID-13 it applies to both phone and e-mail). The spec says imports never blank a stored value, so the
normalizer turns ``'""'`` into "absent" and adds the warning note ``hl7_explicit_null``; the DB side
must treat it like an empty value (keep what is stored) and may surface the note for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
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

#: Defaults of the source's bounds (``max_field_chars`` per segment, ``max_record_chars`` per message).
MAX_SEGMENT_CHARS = 1_000_000
MAX_MESSAGE_CHARS = 16_000_000
MAX_SEGMENTS = 5_000
PATIENT_TRIGGERS = frozenset({"A01", "A04", "A05", "A08", "A28", "A31"})
MERGE_TRIGGER = "A40"
EXPLICIT_NULL = '""'
#: MSH-12 versions whose senders may put the MRN in PID-2 / PID-4 (withdrawn from PID in later versions).
OLD_VERSIONS = ("2.1", "2.2", "2.3", "2.4")

_BATCH_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(?:\d{2,}(?:\.\d+)?)?(?:[+-]\d{4})?")
_MLLP = "\x0b\x1c"
#: PID-5 name type code (XPN.7) -> order of preference (lower first); unknown types rank with "no type".
_NAME_TYPE_ORDER = {"L": 0, "": 1, "D": 1, "R": 1, "U": 1, "A": 3, "S": 3, "M": 4, "N": 4, "B": 5, "BAD": 6}
_EMAIL_EQUIPMENT = ("INTERNET", "X.400", "EMAIL")  # compared upper-cased
_NOT_PHONE_EQUIPMENT = ("FX", "BP", "MD")


class _InvalidMessage(Exception):
    def __init__(self, problem: str, segment: str) -> None:
        super().__init__(problem, segment)
        self.problem = problem
        self.segment = segment


@dataclass(frozen=True)
class IdentifierRule:
    """How a source recognises its MRN in a CX field (every declared part must match)."""

    authority: str | None = None
    type_code: str | None = None
    facility: str | None = None

    @classmethod
    def of(cls, source: SourceConfig) -> IdentifierRule:
        return cls(source.assigning_authority, source.identifier_type_code, source.assigning_facility)


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
        value = self.message.unescape(text)
        if "\x00" in value:
            raise _InvalidMessage("nul_character", "PID")
        return value

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


def _matches(fields: _Fields, rep: list[str], rule: IdentifierRule) -> bool:
    if rule.authority is not None and rule.authority not in _comp(rep, 3).split(fields.sub)[:2]:
        return False
    if rule.type_code is not None and _comp(rep, 4) != rule.type_code:
        return False
    return rule.facility is None or rule.facility in _comp(rep, 5).split(fields.sub)[:2]


def _identifier(fields: _Fields, segment: hl7.Segment, numbers: tuple[int, ...], rule: IdentifierRule) -> str | None:
    for n in numbers:
        for rep in fields.repetitions(segment, n):
            if _matches(fields, rep, rule):
                value = fields.leaf(fields.sub0(rep[0]))
                if value is not None:
                    return value
    return None


def _telecoms(fields: _Fields, pid: hl7.Segment) -> tuple[list[str], list[str], bool]:
    """(e-mails, phones) in order of preference from PID-13, PID-14, PID-40; and whether PID-13 is ``""``."""
    emails: list[tuple[int, int, str]] = []
    phones: list[tuple[int, int, str]] = []
    order = 0
    for n, default_rank in ((13, 1), (14, 2), (40, 1)):
        for rep in fields.repetitions(pid, n):
            order += 1
            use, equipment = _comp(rep, 1), _comp(rep, 2)
            address = fields.leaf(_comp(rep, 3))
            if address is not None and address != EXPLICIT_NULL:
                emails.append((0, order, address))
                continue
            if use == "NET" or (equipment or "").upper() in _EMAIL_EQUIPMENT:
                # the address in XTN.1; some senders put it in XTN.2 (where the use code belongs) with
                # equipment EMAIL/Internet: a component with an "@" there is the address
                second = fields.leaf(use) if use and "@" in use else None
                for candidate in (fields.leaf(_comp(rep, 0)), second):
                    if candidate is not None and candidate != EXPLICIT_NULL:
                        emails.append((0, order, candidate))
                        break
                continue
            if equipment in _NOT_PHONE_EQUIPMENT:
                continue
            number = fields.leaf(_comp(rep, 0)) or fields.leaf(_comp(rep, 11))
            if number is None and _comp(rep, 6):
                country, area, local = _comp(rep, 4), _comp(rep, 5), _comp(rep, 6)
                number = (f"+{country} " if country else "") + f"{area} {local}".strip()
            if number is None or number == EXPLICIT_NULL:
                continue
            if equipment == "CP":
                rank = 0
            elif use == "WPN":
                rank = 2
            elif use in ("PRN", "ORN", ""):
                rank = default_rank
            else:
                rank = 3
            phones.append((rank, order, number))
    explicit_null = fields.raw(pid, 13) == EXPLICIT_NULL
    return [e[2] for e in sorted(emails)], [p[2] for p in sorted(phones)], explicit_null


def _patient_values(fields: _Fields, pid: hl7.Segment, rule: IdentifierRule, old_version: bool,
                    ) -> tuple[dict[str, str | None], dict[str, list[str]] | None]:
    values: dict[str, str | None] = {"external_id": _identifier(fields, pid, (3, 2, 4) if old_version else (3,), rule)}
    if fields.raw(pid, 3) == EXPLICIT_NULL and values["external_id"] is None:
        values["external_id"] = EXPLICIT_NULL

    names = fields.repetitions(pid, 5)
    if names:
        legal = min(enumerate(names), key=lambda p: (_NAME_TYPE_ORDER.get(_comp(p[1], 6), 1), p[0]))[1]
        values["last_name"] = fields.leaf(fields.sub0(_comp(legal, 0)))
        values["first_name"] = EXPLICIT_NULL if legal == [EXPLICIT_NULL] else fields.leaf(_comp(legal, 1))
    else:
        values["last_name"] = values["first_name"] = None

    dob = fields.repetitions(pid, 7)
    ts = fields.leaf(_comp(dob[0], 0)) if dob else None
    values["date_of_birth"] = _iso_from_ts(ts) if ts is not None and ts != EXPLICIT_NULL else ts

    emails, phones, explicit_null = _telecoms(fields, pid)
    values["email"] = emails[0] if emails else (EXPLICIT_NULL if explicit_null else None)
    values["phone"] = phones[0] if phones else (EXPLICIT_NULL if explicit_null else None)
    alternates = {k: v[1:] for k, v in (("email", emails), ("phone", phones)) if len(v) > 1}

    death = fields.repetitions(pid, 29)
    death_ts = fields.leaf(_comp(death[0], 0)) if death else None
    indicator = fields.leaf(fields.raw(pid, 30))
    if death_ts is not None and death_ts != EXPLICIT_NULL:
        values["date_of_death"] = _iso_from_ts(death_ts)
    elif indicator in ("Y", "N"):
        values["date_of_death"] = "true" if indicator == "Y" else "false"
    return values, alternates or None


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
    if trigger == MERGE_TRIGGER:
        for k, start in enumerate(pids):
            end = pids[k + 1] if k + 1 < len(pids) else len(names)
            if "MRG" not in names[start:end]:
                raise _InvalidMessage("invalid_hl7", "MRG")


@dataclass(frozen=True)
class Unsupported:
    """A message of a type the import does not read (counted, not an error)."""

    message_type: str


def parse_message(segments: list[str], record_no: int, rule: IdentifierRule | str | None,
                  ) -> list[RawRecord] | Unsupported:
    """One ADT message (segments without terminators, first one ``MSH``) -> its records, numbered from
    ``record_no`` (one, or one per PID/MRG pair of an A40), or ``Unsupported``."""
    if not isinstance(rule, IdentifierRule):
        rule = IdentifierRule(authority=rule)
    try:
        message = hl7.parse("\r".join(segments))
        msh = message.segment("MSH")
    except (hl7.HL7Exception, IndexError, KeyError, ValueError):
        return [RawRecord(record_no, {}, "invalid_hl7", "MSH")]
    try:
        fields = _Fields(message)
        msg_type = fields.repetitions(msh, 9)
        kind = _comp(msg_type[0], 0) if msg_type else ""
        trigger = _comp(msg_type[0], 1) if msg_type else ""
        if not kind or not trigger:
            raise _InvalidMessage("invalid_hl7", "MSH-9")
        if kind != "ADT" or (trigger not in PATIENT_TRIGGERS and trigger != MERGE_TRIGGER):
            return Unsupported(f"{kind[:8]}^{trigger[:8]}" if kind.isalnum() and trigger.isalnum() else "other")
        version = _comp(fields.repetitions(msh, 12)[0], 0) if fields.repetitions(msh, 12) else ""
        old_version = version.startswith(OLD_VERSIONS)
        _check_order([str(seg[0]) for seg in message], trigger)
        if trigger != MERGE_TRIGGER:
            values, alternates = _patient_values(fields, message.segment("PID"), rule, old_version)
            return [RawRecord(record_no, values, alternates=alternates)]
        records = []
        pid = None
        for seg in message:
            name = str(seg[0])
            if name == "PID":
                pid = seg
            elif name == "MRG" and pid is not None:
                values, alternates = _patient_values(fields, pid, rule, old_version)
                prior = _identifier(fields, seg, (1,), rule)
                if prior is None:
                    first = fields.repetitions(seg, 1)
                    prior = fields.leaf(fields.sub0(first[0][0])) if first else None
                records.append(RawRecord(record_no + len(records), values, event="hl7_a40_merge",
                                         event_detail=prior or "MRG-1 empty", alternates=alternates))
                pid = None
        return records
    except _InvalidMessage as bad:
        return [RawRecord(record_no, {}, bad.problem, bad.segment)]
    except (hl7.HL7Exception, IndexError, KeyError, ValueError):
        return [RawRecord(record_no, {}, "invalid_hl7", "PID")]


def _records(path: Any, source: SourceConfig, stats: ReadStats) -> Iterator[RawRecord]:
    rule = IdentifierRule.of(source)
    max_segment, max_message = source.max_field_chars, source.max_record_chars
    record_no = 0
    segments: list[str] = []
    size = 0
    problem: tuple[str, str] | None = None  # a problem found while collecting the current message

    def flush() -> list[RawRecord]:
        nonlocal record_no
        if not segments and problem is None:
            return []
        if problem is not None:
            out = [RawRecord(record_no + 1, {}, problem[0], problem[1])]
        elif not segments[0].startswith("MSH"):
            out = [RawRecord(record_no + 1, {}, "invalid_hl7", "MSH")]
        else:
            parsed = parse_message(segments, record_no + 1, rule)
            if isinstance(parsed, Unsupported):
                stats.unsupported_messages += 1
                stats.unsupported_types[parsed.message_type] = stats.unsupported_types.get(parsed.message_type, 0) + 1
                return []
            out = parsed
        record_no += len(out)
        stats.records = record_no
        return out

    with open_text(path, source.encoding, newline=None) as text:
        try:
            while True:
                line, too_long = read_line_bounded(text, max_segment)
                if not line:
                    break
                segment = line.strip("\n").strip(_MLLP).rstrip("\n")
                if not segment.strip():
                    stats.blank_lines_skipped += 1
                    continue
                if segment.startswith(_BATCH_SEGMENTS):
                    continue
                if segment.startswith("MSH"):
                    yield from flush()
                    segments, problem, size = [], None, 0
                if problem is not None:
                    continue
                size += len(segment)
                if too_long:
                    problem, segments = ("field_too_long", _segment_name(segment)), []
                elif "\x00" in segment:
                    problem, segments = ("nul_character", _segment_name(segment)), []
                elif size > max_message:
                    problem, segments = ("message_too_long", "MSH"), []
                elif len(segments) >= MAX_SEGMENTS:
                    problem, segments = ("invalid_hl7", "segment_count"), []
                else:
                    segments.append(segment)
            yield from flush()
        except UnicodeDecodeError:
            raise encoding_rejection(source.encoding, record_no + 1) from None


def _segment_name(segment: str) -> str:
    name = segment[:3]
    return name if _SEGMENT_ID.fullmatch(name) else "segment"


def read_hl7_adt(path: Any, source: SourceConfig) -> RecordStream:
    """Stream one record per ADT message of one HL7 v2 file (see the module docstring)."""
    stats = ReadStats()
    return RecordStream(_records(path, source, stats), stats)


__all__ = ["IdentifierRule", "Unsupported", "read_hl7_adt", "parse_message"]
