"""A schema-driven fuzz run: schemathesis (pinned) against the app's own OpenAPI on a live server, bounded
in time, with a valid key; no generated request may get a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

#: Time budget of the fuzzing (schemathesis --max-time) and the hard limit of the whole run.
FUZZ_SECONDS = 120
HARD_LIMIT_SECONDS = 480


def test_schemathesis_finds_no_server_error(server, api_env, tmp_path: Path):
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{server.base_url}/openapi.json",
           "--checks", "not_a_server_error", "--phases", "examples,coverage,fuzzing",
           "--max-time", str(FUZZ_SECONDS), "--max-examples", "40", "--seed", "20261201",
           "--generation-database", "none", "--request-timeout", "60", "--no-color",
           "--header", f"Authorization: Bearer {api_env.keys['a']}",
           "--report", "junit", "--report-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT_SECONDS, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    (tmp_path / "schemathesis.txt").write_text(out)
    assert proc.returncode == 0, f"schemathesis failed (exit {proc.returncode}); its report: {tmp_path}"
    m = re.search(r"(\d+) generated, (\d+) passed", out)
    assert m and m[1] == m[2] and int(m[1]) >= 20, "the fuzz run generated too few cases to mean anything"
    calls = api_env.scalar("SELECT count(*) FROM patient_pipeline.api_audit WHERE key_id = :k", k=api_env.key_ids["a"])
    assert calls > 50, "the fuzz run made too few calls to mean anything"
    assert api_env.scalar("SELECT count(*) FROM patient_pipeline.api_audit WHERE status >= 500") == 0
