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


def test_the_growth_section_of_bench_scale_is_replaced_in_place_and_kept_by_make_bench(tmp_path):
    from include.bench import scale_bench

    def run(label: str, invites: int, seconds: float) -> scale_bench.ScaleRun:
        return scale_bench.ScaleRun(label, invites, invites, seconds, 300.0, 2, 2**21, {"create_patients": 1.0}, 5.0)

    meta = {"command": "make bench-scale", "started": "s", "finished": "f", "postgres": "18", "server_kind": "embedded",
            "cores": 2, "memory_gib": 23.5, "git": "abc", "dirty": False}
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmark results\n\n## End to end\n\nx\n")
    runs = [run("1M", 1_000_000, 100.0), run("3M", 3_000_000, 390.0)]  # 130 µs vs 100 µs per invite: 1.3x
    report.replace_section(path, scale_bench.render(runs, meta))
    text = path.read_text()
    assert text.index(scale_bench.HEADING) < text.index("## End to end")
    assert "| backfill P seconds per invite 3M / 1M | 130.0 / 100.0 µs = 1.30× | ≤ 1.2× | **FAIL** |" in text
    assert "| 3,000,000 | 390.0 | 130.0 | 300 | 2 | 2 |" in text
    report.replace_section(path, scale_bench.render(runs[:1], meta))  # a second run replaces, never appends
    assert path.read_text().count(scale_bench.HEADING) == 1 and "3,000,000" not in path.read_text()
    report.write(path, "# Benchmark results\n\nregenerated\n")
    assert scale_bench.HEADING in path.read_text() and "regenerated" in path.read_text()
