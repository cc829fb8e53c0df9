"""The field normalizers: names, e-mails, phones, dates of birth (pure functions, exact outcomes)."""

from __future__ import annotations

from datetime import date

import pytest

from include.normalize.dates import parse_dob
from include.normalize.emails import check_email, email_key
from include.normalize.names import normalize_name, split_full_name
from include.normalize.phones import to_e164

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Jane  ", "Jane"), ("Mary   Ann", "Mary Ann"), ("\uff2a\uff41\uff4e\uff45", "Jane"), ("Zoe\u0301", "Zoé"),
     ("N/A", None), ("unknown", None), ("-", None), ("?", None), ("", None), ("   ", None), (None, None),
     ("NULL", None), ("Null", "Null"), ("=SUM(A1)", "=SUM(A1)")],
)
def test_names_are_nfkc_trimmed_and_placeholders_become_none(raw, expected):
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Dr. Jane Q. Smith", ("Jane Q.", "Smith")), ("dr jane smith", ("jane", "smith")), ("MRS. Ana Lee", ("Ana", "Lee")),
     ("Prof Dr Theo van Dunmore", ("Theo van", "Dunmore")), ("Mx Sam Roe", ("Sam", "Roe")),
     ("Miss Ada", (None, "Ada")), ("Jane Smith, MD", ("Jane", "Smith")),
     ("Smith", (None, "Smith")), ("Dr.", (None, None)), ("", (None, None)), (None, (None, None))],
)
def test_users_name_split_removes_titles_first_is_all_but_last(raw, expected):
    assert split_full_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "stored", "reason", "key"),
    [(" Jane.Doe@Example.COM ", "Jane.Doe@Example.COM", None, "jane.doe@example.com"),
     ("no-at.example.com", "no-at.example.com", "invalid_email", None), ("a..b@example.com", "a..b@example.com", "invalid_email", None),
     ("x@host.test", "x@host.test", "invalid_email", None), ("dörte@bücher.example", "dörte@bücher.example", None, "dörte@bücher.example"),
     ("", None, None, None), (None, None, None, None)],
)
def test_emails_are_stored_trimmed_and_keyed_lowercase(raw, stored, reason, key):
    assert check_email(raw) == (stored, reason)
    assert email_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [("(202) 555-0123", "US", ("+12025550123", None)), ("202.555.0123", "US", ("+12025550123", None)),
     ("+1 202 555 0123", "GB", ("+12025550123", None)), ("1-202-555-0123", "US", ("+12025550123", None)),
     ("202-555-0123 x12", "US", ("+12025550123", None)), ("07911 123456", "GB", ("+447911123456", None)),
     ("447911123456", "US", (None, "phone_leading_zero_stripped")), ("2.02555E+09", "US", (None, "excel_scientific_notation")),
     ("555-0100", "US", (None, "unparseable_phone")), ("0202 555 0123", "US", (None, "unparseable_phone")),
     ("call me", "US", (None, "unparseable_phone")), ("", "US", (None, None)), (None, "US", (None, None))],
)
def test_phones_to_e164_fast_path_and_library_agree(raw, region, expected):
    assert to_e164(raw, region) == expected


def test_fast_phone_path_matches_the_library_on_nanp_shapes():
    import phonenumbers

    for raw in ("(202) 555-0123", "202 555 0123", "+1-202-555-0123", "12025550123", "(917)555-0199"):
        fast = to_e164(raw, "US")[0]
        lib = phonenumbers.format_number(phonenumbers.parse(raw, "US"), phonenumbers.PhoneNumberFormat.E164)
        assert fast == lib


ISO = ("%Y-%m-%d",)
US = ("%m/%d/%Y",)


@pytest.mark.parametrize(
    ("raw", "formats", "partial", "expected"),
    [("1965-03-14", ISO, False, (date(1965, 3, 14), None, None)), ("3/14/1965", US, False, (date(1965, 3, 14), None, None)),
     ("3/4/65", US, False, (None, None, "invalid_dob")), ("1980", ISO, False, (None, None, "invalid_dob")),
     ("1980", ISO, True, (None, "1980", None)), ("1965-03", ISO, True, (None, "1965-03", None)),
     ("1965-13", ISO, True, (None, None, "invalid_dob")), ("2025-07", ISO, True, (None, None, "dob_in_future")),
     ("2030-01-01", ISO, False, (None, None, "dob_in_future")), ("2025-06-01", ISO, False, (date(2025, 6, 1), None, None)),
     ("1899-12-31", ISO, False, (None, None, "dob_before_1900")), ("1965-02-30", ISO, False, (None, None, "invalid_dob")),
     ("23456", ISO, False, (None, None, "excel_serial_date")), ("23456.0", US, False, (None, None, "excel_serial_date")),
     ("14.03.1965", ("%d.%m.%Y",), False, (date(1965, 3, 14), None, None)), ("", ISO, False, (None, None, None))],
)
def test_dates_parse_only_with_declared_formats(raw, formats, partial, expected):
    assert parse_dob(raw, formats, TODAY, partial) == expected


def test_fast_email_path_agrees_with_the_library_on_special_use_and_common_shapes():
    from include.normalize.emails import _library_ok, is_valid_email

    locals_ = ["a", "john.doe", "x+y", "A.B", "o'neil", "a..b", "-x", "x" * 64, "x" * 65]
    domains = ["example.com", "mail.test", "MAIL.TEST", "x.invalid", "a.b.localhost", "sub.Example.ORG", "test",
               "x.local", "home.arpa", "x.home.arpa", "foo.onion", "example", "e.x-y.co", "a.6.arpa", "x.INVALID"]
    for local in locals_:
        for domain in domains:
            address = f"{local}@{domain}"
            assert is_valid_email(address) == _library_ok(address), address
