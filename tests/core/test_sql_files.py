"""One SQL-file loader (include/core/sql_files.py): every ``include/sql`` file is read through it, once per
process, without its comment lines."""

from __future__ import annotations

import re

from include.core import settings, sql_files


def test_a_file_is_read_once_so_an_edit_mid_run_never_mixes_versions(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "SQL_DIR", tmp_path)
    sql_files.text.cache_clear()
    sql_files.statement.cache_clear()
    (tmp_path / "area").mkdir()
    f = tmp_path / "area" / "count.sql"
    f.write_text("-- reads: nothing; it's safe to re-run: yes\nSELECT :n AS n\n")
    try:
        first = sql_files.text("area", "count")
        assert first == "SELECT :n AS n" and "--" not in first
        assert sql_files.text("area", "count", keep_comments=True).startswith("-- reads")
        assert list(sql_files.statement("area", "count").compile().params) == ["n"]  # no bind from the comment
        f.write_text("SELECT 2\n")
        assert sql_files.text("area", "count") == first
    finally:
        sql_files.text.cache_clear()
        sql_files.statement.cache_clear()


def test_no_module_reads_a_sql_file_of_its_own():
    readers = []
    for path in sorted((settings.PROJECT_ROOT / "include").rglob("*.py")):
        if path.name == "sql_files.py" or "bench" in path.parts or "tools" in path.parts:
            continue  # the benchmarks replay DDL variants; sql_lint reads every file on purpose
        source = path.read_text(encoding="utf-8")
        if re.search(r"\.sql\b[\"')]*\s*\)?\.read_text\(|SQL_DIR\b.*read_text\(", source) or \
                re.search(r"read_text\(\)[^\n]*\n?[^\n]*startswith\(\"--\"\)", source):
            readers.append(path.relative_to(settings.PROJECT_ROOT).as_posix())
    assert readers == []
