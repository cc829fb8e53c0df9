"""The owner-only file plumbing: 0600 files and 0700 folders whatever the umask; no symlink followed."""

from __future__ import annotations

import os

import pytest

from include.core import private_files as pf
from include.core.errors import UnsafePath


@pytest.fixture
def open_umask():
    old = os.umask(0o000)  # the worst case: everything would be world-writable
    try:
        yield
    finally:
        os.umask(old)


def test_files_and_folders_are_owner_only_whatever_the_umask(tmp_path, open_umask):
    root = tmp_path / "runs"
    root.mkdir(mode=0o777)
    run = pf.ensure_dir(root / "dag" / "run_1" / "imports", within=root)
    assert [pf.mode_of(p) for p in (root, root / "dag", root / "dag" / "run_1", run)] == [0o700] * 4
    pf.write_text(run / "a.json", "{}")
    pf.write_json(run / "b.json", {"n": 1})
    with pf.open_private(run / "c.csv", "w", newline="") as fh:
        fh.write("x\n")
    (run / "d.txt").write_text("old")
    os.chmod(run / "d.txt", 0o644)
    pf.write_text(run / "d.txt", "new")  # an existing file is truncated AND tightened
    assert {p.name: pf.mode_of(p) for p in run.iterdir()} == {n: 0o600 for n in ("a.json", "b.json", "c.csv", "d.txt")}
    assert (run / "d.txt").read_text() == "new"


def test_a_symlink_is_never_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    link = tmp_path / "report.json"
    link.symlink_to(outside)
    with pytest.raises(OSError):
        pf.write_text(link, "overwritten?")
    with pytest.raises(OSError):
        pf.make_private(link)
    assert outside.read_text() == "keep"
    folder_link = tmp_path / "runfolder"
    folder_link.symlink_to(tmp_path)
    with pytest.raises(UnsafePath):
        pf.ensure_dir(folder_link)


def test_restrict_tree_tightens_what_a_library_wrote(tmp_path, open_umask):
    docs = pf.ensure_dir(tmp_path / "gx")
    (docs / "site" / "static").mkdir(parents=True)
    (docs / "site" / "index.html").write_text("<html/>")
    (docs / "site" / "static" / "x.css").write_text("")
    pf.restrict_tree(docs)
    modes = {str(p.relative_to(docs)): pf.mode_of(p) for p in docs.rglob("*")}
    assert modes == {"site": 0o700, "site/static": 0o700, "site/index.html": 0o600, "site/static/x.css": 0o600}


def test_copy_file_makes_an_owner_only_copy(tmp_path, open_umask):
    src = tmp_path / "sample.csv"
    src.write_text("a,b\n")
    os.chmod(src, 0o644)
    dest = pf.copy_file(src, tmp_path / "copy.csv")
    assert dest.read_text() == "a,b\n" and pf.mode_of(dest) == 0o600
