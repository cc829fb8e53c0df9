"""What each reason code means for the operator: one actionable, PHI-free sentence per code.

Used by the per-file reports (quarantine and field-issue tables) and for the ``reason_message`` of a held
file. The texts name columns, segments and element paths only (the report adds the field the row
carries); never a value.
"""

from __future__ import annotations

REASON_HELP: dict[str, str] = {
    # rows quarantined
    "missing_first_name": "no usable first name (empty or a placeholder such as N/A): fill it in the source",
    "missing_last_name": "no usable last name (empty or a placeholder): fill it in the source",
    "missing_identifier": "neither the clinic's external id nor a valid e-mail: the row could never be matched again",
    "missing_email": "the source requires an e-mail (required_fields) and the row has none",
    "missing_phone": "the source requires a phone (required_fields) and the row has none",
    "missing_date_of_birth": "the source requires a date of birth (required_fields) and the row has none",
    "missing_external_id": "the source requires the external id (required_fields) and the row has none",
    "invalid_email": "the e-mail is not a valid address (as a field issue: the row imported without it)",
    "field_too_long": "a value is longer than its column (names 100, e-mail/external id 255 characters) or "
                      "than the source's max_field_chars",
    "identity_conflict": "the external id points to one patient and e-mail + first name to another: resolve by hand",
    "conflicting_duplicate": "an earlier row of the same file claims the same identity with other values",
    "wrong_field_count": "the row has more or fewer cells than the header (a stray delimiter or quote)",
    "nul_byte": "a NUL byte in a CSV cell (a binary column in the export)",
    "nul_character": "a NUL character in a FHIR/HL7 value (\\u0000 or \\X00\\): re-export the record",
    "line_too_long": "one line is longer than the bound (NDJSON: max_record_chars; CSV: 1,000,000 characters); "
                     "it was skipped without being read whole",
    "message_too_long": "one HL7 message is longer than the source's max_record_chars",
    "json_too_deep": "the JSON of this line is nested deeper than a FHIR Patient can be",
    "truncated_line": "the line ends inside a JSON value (the export was cut off)",
    "invalid_json": "the line is not JSON",
    "not_patient": "the resource is not a FHIR Patient (resourceType)",
    "invalid_fhir": "the resource does not validate against FHIR R4 at the element path shown",
    "invalid_hl7": "the HL7 message is malformed at the segment shown",
    # field issues (row imported without the value) or, when the field is required, quarantine
    "unparseable_phone": "the phone is not a number of the source's default region: dropped",
    "phone_leading_zero_stripped": "the phone lost its leading 0/00 in a spreadsheet: dropped, not repaired",
    "excel_scientific_notation": "a spreadsheet turned the phone into 2.02E+09: digits are lost, dropped",
    "invalid_dob": "the date of birth matches none of the source's date_formats: dropped (never guessed)",
    "dob_in_future": "the date of birth is after the import date: dropped",
    "dob_before_1900": "the date of birth is before 1900: dropped",
    "invalid_date_of_death": "the death date does not parse; the patient is still treated as deceased",
    # file level
    "reject_ratio_exceeded": "too many rows were quarantined or had field issues: the file was held back whole",
    "dq_gate_failed": "the data-quality gate failed on the staged batch: the file was held back whole",
}


def help_for(code: str | None) -> str:
    """The operator's sentence for ``code`` (a generic pointer to the docs for codes without one)."""
    if code is None:
        return ""
    return REASON_HELP.get(code, "see docs/imports.md for this reason code")
