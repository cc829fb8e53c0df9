"""A regenerated BENCHMARKS.md keeps the sections other commands measured (the key form A/B)."""

from __future__ import annotations

from include.bench import report


def test_regenerating_keeps_the_key_form_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmark results\n\nold\n\n## Key form (A/B)\n\nratio 1.05\n\n## Notes\n\n- old note\n")
    report.write(path, "# Benchmark results\n\nnew\n\n## Notes\n\n- new note\n")
    text = path.read_text()
    assert "new" in text and "old\n" not in text and "old note" not in text
    assert text.endswith("## Key form (A/B)\n\nratio 1.05\n")
    report.write(path, "# Benchmark results\n\nnewer\n")
    assert path.read_text().count("## Key form") == 1


def test_a_first_file_has_no_kept_section(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    report.write(path, "# Benchmark results\n")
    assert path.read_text() == "# Benchmark results\n"
