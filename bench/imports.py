"""python -m bench import: `flask centers import` of the nationwide files and of 1,000,000 synthetic rows.

Each import is the real command in a subprocess, into a fresh database at the newest migration
(made first, not timed). Its wall time and peak resident memory come from the kernel
(`os.wait4`), so the numbers are those of the importing process alone. An import of a file
holding only the header row gives what every run pays before the first row (starting Python,
building the app): the rows/s "past startup" leave it out.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from bench.data import ROOT, SEED_FILE
from bench.results import machine_line, wrap, write_section
from bench.synthetic_csv import synthetic_csv
from directory.sources.records import CSV_COLUMNS

NAME = "import"
NSSATS_FILE = ROOT.parent / "shared" / "data" / "samhsa-nssats-2015" / "directory.csv"
IMPORTED = re.compile(r"Imported: (\d+) created, (\d+) updated, (\d+) unchanged")


@dataclass
class ImportRun:
    """One `centers import` command, measured."""

    label: str
    file_format: str
    rows: int
    created: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    file_mib: float


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench import",
        description="Time `flask --app directory centers import` (a subprocess, fresh database each time) on the "
        "nationwide files and on synthetic files; report rows/s and peak memory.",
    )
    parser.add_argument(
        "--rows",
        type=int,
        action="append",
        metavar="N",
        help="synthetic rows in the project's CSV format (repeatable; default 1,000,000; --quick: 20,000)",
    )
    parser.add_argument("--random-seed", type=int, default=1, help="for the synthetic rows")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="import into fresh PostgreSQL databases on this server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
        "postgres; each named directory_bench_import_*, dropped afterwards) instead of SQLite files",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: the nationwide files and 20,000 rows")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file (between markers)")
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = [20_000] if args.quick else [1_000_000]
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Databases:
    """A fresh database per import: a SQLite file in a temporary folder, or a new PostgreSQL database."""

    def __init__(self, workdir: Path, postgres: str | None) -> None:
        self.workdir = workdir
        self.postgres = make_url(postgres) if postgres else None
        self.created: list[str] = []

    def fresh(self) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.workdir / f'import-{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"directory_bench_import_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.postgres.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{name}"')
        self.created.clear()

    def _admin(self, statement: str) -> None:
        assert self.postgres is not None
        engine = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(statement))
        engine.dispose()


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "directory", *args]


def measure_import(
    label: str, path: Path, file_format: str, rows: int, databases: Databases, workdir: Path
) -> ImportRun:
    """Migrate a fresh database, then run and measure `centers import PATH` into it."""
    env = {**os.environ, "DATABASE_URL": databases.fresh(), "SECRET_KEY": "bench-import", "REDIS_URL": ""}
    subprocess.run(flask_command("init-db"), cwd=ROOT, env=env, check=True, capture_output=True)
    output = workdir / "import.log"
    with output.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            flask_command("centers", "import", str(path), "--format", file_format),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    printed = output.read_text(errors="replace")
    found = IMPORTED.search(printed)
    if process.returncode != 0 or found is None:
        raise SystemExit(f"`centers import {path}` failed (exit {process.returncode}):\n{printed[-3000:]}")
    run = ImportRun(
        label=label,
        file_format=file_format,
        rows=rows,
        created=int(found.group(1)),
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,  # kilobytes on Linux
        file_mib=path.stat().st_size / 2**20,
    )
    log(
        f"  {label}: {run.created:,} created from {rows:,} rows in {seconds:.1f} s, peak RSS {run.peak_rss_mib:.0f} MiB"
    )
    return run


def data_rows(path: Path) -> int:
    """Lines of a CSV file after its header (no field of these files spans lines)."""
    with path.open("rb") as stream:
        return sum(1 for _ in stream) - 1


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[2:] if argv is None else argv)
    started, clock = datetime.now(UTC), time.perf_counter()
    if not NSSATS_FILE.exists():
        raise SystemExit(f"The nationwide N-SSATS file is missing: {NSSATS_FILE}")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        workdir = Path(folder)
        header_only = workdir / "header-only.csv"
        header_only.write_text(",".join(CSV_COLUMNS) + "\n")
        cases = [
            ("header row only (startup)", header_only, "centers", 0),
            ("seeds/centers.csv (nationwide, project format)", SEED_FILE, "centers", data_rows(SEED_FILE)),
            ("N-SSATS 2015 directory.csv (nationwide)", NSSATS_FILE, "nssats", data_rows(NSSATS_FILE)),
        ]
        for rows in sorted(args.rows):
            cases.append((f"synthetic, {rows:,} rows (project format)", synthetic_csv(rows, args.random_seed, log),
                          "centers", rows))  # fmt: skip
        databases = Databases(workdir, args.postgres)
        runs = []
        try:
            for label, path, file_format, rows in cases:
                runs.append(measure_import(label, path, file_format, rows, databases, workdir))
                databases.drop_all()
                for leftover in workdir.glob("import-*.sqlite3*"):
                    leftover.unlink()
        finally:
            databases.drop_all()
    command = " ".join(["python -m bench import", *(sys.argv[2:] if argv is None else argv)])
    database = "PostgreSQL (a fresh database per import)" if args.postgres else "SQLite (a fresh file per import)"
    block = render(runs, command=command, started=started, seconds=time.perf_counter() - clock, database=database)
    if args.output:
        write_section(args.output, NAME, wrap(NAME, block))
        log(f"Results written to {args.output}")
    print(block)


def render(runs: list[ImportRun], *, command: str, started: datetime, seconds: float, database: str) -> str:
    """The results block, as Markdown."""
    baseline = runs[0]
    lines = [
        f"### Results: {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` (took {seconds / 60:.1f} min, including making any synthetic file).",
        "",
        machine_line(),
        f"- Database: {database}",
        "",
        "| file | format | rows | centers created | file MiB | seconds | rows/s | rows/s past startup "
        "| CPU s | peak RSS MiB | peak RSS over startup MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        past_startup = run.seconds - baseline.seconds
        rate = f"{run.rows / run.seconds:,.0f}" if run.rows else "-"
        rate_past = f"{run.rows / past_startup:,.0f}" if run.rows and past_startup > 0 else "-"
        lines.append(
            f"| {run.label} | {run.file_format} | {run.rows:,} | {run.created:,} | {run.file_mib:,.1f} | "
            f"{run.seconds:,.1f} | {rate} | {rate_past} | {run.cpu_seconds:,.1f} | {run.peak_rss_mib:,.0f} | "
            f"{round(run.peak_rss_mib - baseline.peak_rss_mib):+,} |"
        )
    largest = max(runs, key=lambda r: r.rows)
    seed = runs[1]
    lines += [
        "",
        f"Streaming: the {largest.rows:,}-row file ({largest.file_mib:,.0f} MiB) peaked at "
        f"{largest.peak_rss_mib:,.0f} MiB, the {seed.rows:,}-row seed at {seed.peak_rss_mib:,.0f} MiB, and a file "
        f"with no rows at {baseline.peak_rss_mib:,.0f} MiB.",
    ]
    return "\n".join(lines)
