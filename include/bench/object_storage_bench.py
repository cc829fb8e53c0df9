"""The nightly import with its landing on object storage next to a local landing: the same CSV, the same
template database, alternating trials (median of the repeats), so what ``s3://`` costs is visible.

    python -m include.bench.object_storage_bench [--rows 100000] [--repeats 3]

The S3 side is a moto server on 127.0.0.1 (``include.distributed.moto_s3``), reached through the same
``ObjectStoragePath`` code path as production; its numbers include the HTTP round trips of listing,
streaming the file twice (fingerprint, then parse) and the server-side move to ``processed/``, but not a
real network's latency. Writes the section between the markers below into BENCHMARKS.md (``make bench``
keeps it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from include import seed as seeder
from include.bench import import_bench, import_paths
from include.bench.harness import (
    Machine,
    Stopwatch,
    Timing,
    connect_server,
    database_copy,
    drop_database,
    now_utc,
    run_in_child,
    say,
)
from include.core import settings

START = "<!-- object-storage-bench:start -->"
END = "<!-- object-storage-bench:end -->"
LANDINGS = ("local", "s3")


@dataclass
class StorageBench:
    rows: int
    bytes: int
    repeats: int
    timings: dict[str, Timing] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    postgres: str = ""
    load: list[float] = field(default_factory=list)  # 1-minute load average before each trial


def _import_once(uri: str, csv: Path, account: str, landing_kind: str, bucket: str) -> import_paths.ProjectImport:
    """One import of ``csv`` in a spawned child, the delivery in a local or an S3 landing."""
    work = Path(tempfile.mkdtemp(prefix="gs_bench_storage_"))
    try:
        if landing_kind == "local":
            entry = import_paths.bench_source(account, work / "landing")
            location = str(work / "landing" / "incoming" / csv.name)
            shutil.copyfile(csv, location)
        else:
            from include.core import storage

            landing = f"s3://{bucket}/bench-{uuid.uuid4().hex[:8]}/landing"
            entry = {"id": "bench-clinic-csv", "account_id": account, "format": "csv", "landing": landing,
                     "date_formats": ["%Y-%m-%d"]}
            location = f"{landing}/incoming/{csv.name}"
            with csv.open("rb") as src, storage.path(location).open("wb") as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
        msg = run_in_child(import_paths._project_p_child,
                           (uri, entry, location, f"bench-storage-{uuid.uuid4().hex[:8]}", str(work / "runs")),
                           name="bench-import-storage")
        if not msg.get("ok"):
            raise import_paths.ImportBenchError(f"the import from the {landing_kind} landing failed: {msg.get('error')}")
        result = msg["result"]
        if result.get("status") != "done":
            raise import_paths.ImportBenchError(f"the import from the {landing_kind} landing ended {result.get('status')}")
        return import_paths.ProjectImport(rows=int(result["rows_read"]), seconds=float(msg["seconds"]),
                                          peak_rss_mb=round(float(msg["peak_rss_mb"]), 1),
                                          rss_before_import_mb=round(float(msg["rss_before_import_mb"]), 1),
                                          result=result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(rows: int = 100_000, repeats: int = 3, seed: int = 42, template_invites: int = 20_000) -> StorageBench:
    from include.distributed import moto_s3

    server = connect_server()
    out = StorageBench(rows=rows, bytes=0, repeats=repeats, started=now_utc(), postgres=server.version)
    s3 = moto_s3.start()
    saved = {k: os.environ.get(k) for k in s3.env()}
    os.environ.update(s3.env())  # the spawned children inherit it
    work = Path(tempfile.mkdtemp(prefix="gs_bench_storage_csv_"))
    template = None
    try:
        bucket = s3.create_bucket("genascope-bench").removeprefix("s3://")
        template, account, _ = import_bench.build_template(server, template_invites, seed)
        csv = work / "clinic_storage.csv"
        watch = Stopwatch()
        summary = seeder.write_clinic_csv(csv, rows, seed, match_uri=server.uri(template), match_account_id=account)
        out.rows, out.bytes = summary.rows, csv.stat().st_size
        say(f"storage bench CSV: {summary.rows} rows, {out.bytes / 1e6:.1f} MB, written in {watch.seconds:.1f}s")
        for r in range(repeats):
            for kind in (LANDINGS if r % 2 == 0 else tuple(reversed(LANDINGS))):
                out.load.append(os.getloadavg()[0])
                with database_copy(server, template, f"storage_{kind}") as uri:
                    p = _import_once(uri, csv, account, kind, bucket)
                out.timings.setdefault(kind, Timing("P", kind)).add(p.rows, p.seconds)
                out.rss.setdefault(kind, []).append(p.peak_rss_mb)
                say(f"import from the {kind} landing, repeat {r + 1}/{repeats}: {p.rows} rows in {p.seconds:.2f}s, "
                    f"peak RSS {p.peak_rss_mb:.0f} MB")
    finally:
        if template:
            drop_database(server, template)
        shutil.rmtree(work, ignore_errors=True)
        s3.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out.finished = now_utc()
    return out


def section(out: StorageBench, command: str) -> str:
    machine = Machine.current()
    lines = [START, "## Import: landing on object storage (S3) next to a local landing", "",
             f"- command: `{command}`", f"- run: {out.started} → {out.finished}",
             f"- the same CSV ({out.rows:,} rows, {out.bytes / 1e6:.1f} MB) imported {out.repeats}× from each landing, "
             "alternating, each trial on its own template copy; runs root local in both",
             "- S3: a moto server on 127.0.0.1 through `ObjectStoragePath` (s3fs): listing, two streaming reads "
             "(fingerprint, parse), the move to `processed/`; no real network latency",
             f"- PostgreSQL {out.postgres} (embedded server); machine: {machine.cores} cores, "
             f"Python {machine.python}; 1-minute load average before the trials "
             f"{min(out.load or [0]):.1f}-{max(out.load or [0]):.1f} (other work on the machine slows both "
             "landings alike; compare the two rows of one run only)", "",
             "| landing | rows | median s | rows/s | peak RSS MB (max) | seconds per repeat |", "|---|---|---|---|---|---|"]
    for kind in LANDINGS:
        t = out.timings.get(kind)
        if t is None:
            continue
        lines.append(f"| {kind} | {t.median_rows:,} | {t.median_seconds:.2f} | {t.rows_per_s:,.0f} | "
                     f"{max(out.rss[kind]):.0f} | {', '.join(f'{s:.2f}' for s in t.seconds)} |")
    if "local" in out.timings and "s3" in out.timings:
        ratio = out.timings["s3"].median_seconds / out.timings["local"].median_seconds
        lines += ["", f"S3 landing / local landing: {ratio:.2f}× the time for the same file."]
    return "\n".join(lines + [END]) + "\n"


def write_section(text: str, path: Path = settings.PROJECT_ROOT / "BENCHMARKS.md") -> None:
    current = path.read_text() if path.exists() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


def preserved_section(path: Path = settings.PROJECT_ROOT / "BENCHMARKS.md") -> str:
    """The section as BENCHMARKS.md has it (``make bench`` rewrites the file and keeps it)."""
    current = path.read_text() if path.exists() else ""
    if START in current and END in current:
        return START + current.split(START, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.bench.object_storage_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    out = run(args.rows, args.repeats)
    text = section(out, f"python -m include.bench.object_storage_bench --rows {args.rows} --repeats {args.repeats}")
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
