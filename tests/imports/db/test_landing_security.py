"""The landing is confined: symlinks in incoming/ are refused (inside or outside the landing) and nothing
is imported from them; a landing root outside the allow-list (or with ``..``) is refused before anything
under it is read."""

from __future__ import annotations

import logging
import os

import pytest

from include.imports import file_import, landing
from tests.imports.db.conftest import TODAY, scalar

ROWS = ["sym.one@mail.example,Symone,Linkfollow,+15550109999,SYM-1,1980-01-02"]


def _nothing_imported(engine) -> None:
    assert scalar(engine, "SELECT count(*) FROM patients") == 0
    assert scalar(engine, "SELECT count(*) FROM patient_pipeline.import_file") == 0


@pytest.mark.parametrize("target", ["outside", "inside"])
def test_a_symlink_in_incoming_is_refused_with_its_reason_and_nothing_is_imported(
        import_db, csv_source, drop_csv, tmp_path, caplog, target):
    real = drop_csv("real.csv", ROWS)  # the file the link points at
    if target == "outside":
        outside = tmp_path / "elsewhere" / "other_clinic.csv"
        outside.parent.mkdir()
        os.replace(real, outside)
        pointed = outside
    else:  # a file inside the landing, but not a delivery of incoming/
        pointed = tmp_path / "landing" / "clinic-test" / "processed" / "old.csv"
        pointed.parent.mkdir()
        os.replace(real, pointed)
    link = tmp_path / "landing" / "clinic-test" / "incoming" / "link.csv"
    link.symlink_to(pointed)
    before = pointed.read_bytes()

    caplog.set_level(logging.WARNING)
    assert landing.incoming_files(csv_source) == []
    assert "refused (symlink_refused)" in caplog.text and csv_source.id in caplog.text
    with pytest.raises(landing.LandingRefused) as refused:  # a path handed to the task directly
        file_import.import_file(import_db, csv_source, str(link), run_id="sym-1", today=TODAY)
    assert refused.value.reason_code == "symlink_refused"
    _nothing_imported(import_db)
    assert link.is_symlink() and pointed.read_bytes() == before  # nothing moved, nothing read or changed


def test_a_delivery_swapped_for_a_symlink_after_discovery_is_refused(import_db, csv_source, drop_csv, tmp_path):
    path = drop_csv("night.csv", ROWS)
    assert landing.incoming_files(csv_source) == [path]
    secret = tmp_path / "secret.csv"
    secret.write_text("email,first_name,last_name,phone,external_id,date_of_birth\n")
    os.unlink(path)
    os.symlink(secret, path)
    with pytest.raises(landing.LandingRefused, match="symlink_refused"):
        file_import.import_file(import_db, csv_source, path, run_id="sym-2", today=TODAY)
    with pytest.raises(landing.LandingRefused):  # the O_NOFOLLOW open refuses on its own as well
        landing.open_delivery(path)
    _nothing_imported(import_db)


def test_a_symlinked_incoming_folder_is_refused(import_db, csv_source, tmp_path):
    incoming = tmp_path / "landing" / "clinic-test" / "incoming"
    incoming.rmdir()
    other = tmp_path / "other_clinic_incoming"
    other.mkdir()
    (other / "theirs.csv").write_text("email,first_name\n")
    incoming.symlink_to(other)
    with pytest.raises(landing.LandingRefused, match="folder_outside_landing"):
        landing.incoming_files(csv_source)


@pytest.fixture
def allow_only(monkeypatch, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv(landing.LANDING_ROOTS_ENV, ",".join([str(allowed), "s3://clinic-bucket/landing"]))
    return allowed


@pytest.fixture
def no_listing(monkeypatch):
    """Fail the test if anything under a landing is listed or opened."""
    touched: list[str] = []

    def spy(*args, **kwargs):
        touched.append(str(args[0]) if args else "?")
        raise AssertionError("a landing was read")

    monkeypatch.setattr(landing.os, "scandir", spy)
    monkeypatch.setattr(landing, "open_delivery", spy)
    return touched


@pytest.mark.parametrize("root", [
    "{tmp}/clinics",                      # simply not allowed
    "{allowed}/../clinics",               # '..' escaping an allowed root
    "{allowed}/sub/../../clinics",
    "../../etc",                          # relative to the project root, upwards
    "s3://someone-elses-bucket/landing",  # another bucket
    "s3://clinic-bucket/landing-other",   # a prefix that only starts like the allowed one
])
def test_a_landing_root_outside_the_allow_list_is_refused_before_anything_is_read(
        import_db, sample_landing, allow_only, no_listing, tmp_path, root):
    value = root.format(tmp=tmp_path, allowed=allow_only)
    with pytest.raises(landing.LandingRefused) as refused:
        file_import.discover_files(None, value)
    assert refused.value.reason_code == "landing_root_refused" and "allowed roots" in str(refused.value)
    assert no_listing == []
    assert os.listdir(sample_landing / "clinic-north" / "incoming")  # the files are where they were


def test_a_symlink_inside_an_allowed_root_pointing_out_of_it_is_refused(import_db, sample_landing, allow_only,
                                                                     no_listing):
    (allow_only / "clinics").symlink_to(sample_landing)
    with pytest.raises(landing.LandingRefused, match="not in the allow-list"):
        file_import.discover_files(None, str(allow_only / "clinics"))


def test_an_allowed_root_is_accepted(import_db, sample_landing, allow_only):
    target = allow_only / "clinics"
    os.replace(sample_landing, target)
    found = file_import.discover_files(None, str(target))
    assert {f["source_id"] for f in found} == {"clinic-north-csv", "clinic-east-fhir", "clinic-west-hl7"}
    assert landing.check_landing_root("s3://clinic-bucket/landing/night-2") == "s3://clinic-bucket/landing/night-2"
