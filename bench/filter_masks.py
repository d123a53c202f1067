"""What the attribute filters would cost as bitmasks instead of EXISTS on center_attributes.

python -m bench.filter_masks [--synthetic N] [--queries N]

An experiment, not part of the app: it builds, beside the synthetic database, a scratch file
holding each center's codes of three kinds as one integer per kind, both as a narrow table
(`masks`, keyed by center id) and as auxiliary columns of a second R*Tree. It then times, for
the filtered searches of the benchmark's workload and in turns, the R*Tree box query with the
filter written three ways, and checks that all three return the same ids.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from bench import data
from bench.queries import make_queries
from bench.search import rtree_sql
from directory.search.geodesy import bounding_box
from directory.vocabulary import ATTRIBUTE_VOCABULARIES, expand_medication_filter

KINDS = ("levels_of_care", "payment_options", "medications")
FILTERS = {
    "medication=naltrexone": ("medications", tuple(expand_medication_filter(["naltrexone"]))),
    "payment=medicaid": ("payment_options", ("medicaid",)),
    "level_of_care=medical_detox": ("levels_of_care", ("medical_detox",)),
}
BOX = "l.max_lat >= ? AND l.min_lat <= ? AND l.max_lon >= ? AND l.min_lon <= ?"


def bits(kind: str, codes: tuple[str, ...]) -> int:
    names = list(ATTRIBUTE_VOCABULARIES[kind])
    return sum(1 << names.index(code) for code in codes)


def build_masks(database: Path) -> Path:
    """The scratch file of masks for `database` (built once)."""
    path = database.with_name(database.stem + "-masks.sqlite3")
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with closing(sqlite3.connect(partial)) as connection:
        connection.execute("ATTACH DATABASE ? AS main_db", (str(database),))
        connection.execute("CREATE TEMP TABLE codes (kind TEXT, code TEXT, bit INTEGER, PRIMARY KEY (kind, code))")
        for kind in KINDS:
            connection.executemany(
                "INSERT INTO codes VALUES (?, ?, ?)", [(kind, c, i) for i, c in enumerate(ATTRIBUTE_VOCABULARIES[kind])]
            )
        columns = ", ".join(f"{k} INTEGER NOT NULL" for k in KINDS)
        connection.execute(f"CREATE TABLE masks (id INTEGER PRIMARY KEY, {columns})")
        sums = ", ".join(f"sum(CASE WHEN a.kind = '{k}' THEN 1 << c.bit ELSE 0 END)" for k in KINDS)
        connection.execute(
            f"INSERT INTO masks SELECT a.center_id, {sums} FROM main_db.center_attributes a"
            " JOIN codes c ON c.kind = a.kind AND c.code = a.code GROUP BY a.center_id"
        )
        connection.execute(
            f"INSERT OR IGNORE INTO masks SELECT id, {', '.join('0' for _ in KINDS)} FROM main_db.centers"
        )
        aux = ", ".join(f"+{k} INTEGER" for k in KINDS)
        connection.execute(
            f"CREATE VIRTUAL TABLE locations_with_masks USING rtree(id, min_lat, max_lat, min_lon, max_lon, {aux})"
        )
        connection.execute(
            f"INSERT INTO locations_with_masks SELECT l.id, l.min_lat, l.max_lat, l.min_lon, l.max_lon,"
            f" {', '.join('m.' + k for k in KINDS)} FROM main_db.center_locations l JOIN masks m ON m.id = l.id"
            " ORDER BY l.id"
        )
        connection.commit()
    partial.rename(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.filter_masks", description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100, help="workload size; only its filtered searches are used")
    parser.add_argument("--random-seed", type=int, default=1)
    args = parser.parse_args()
    database = data.synthetic_database(args.synthetic, args.random_seed)
    started = time.perf_counter()
    masks = build_masks(database)
    print(f"masks ready in {time.perf_counter() - started:.0f} s: {masks.name}")
    queries = [
        q for q in make_queries(args.queries, data.seed_database(), args.random_seed) if q.filter_label in FILTERS
    ]
    connection = sqlite3.connect(database)
    connection.execute("ATTACH DATABASE ? AS k", (str(masks),))
    names = ("raw index SQL (no filter)", "EXISTS on center_attributes", "join to the masks table", "R*Tree aux column")
    times: dict[str, list[float]] = {n: [] for n in names}
    for i, bench_query in enumerate(queries):
        q = bench_query.query
        box = bounding_box(q.origin.latitude, q.origin.longitude, q.radius_miles)
        if len(box.longitude_ranges) != 1:
            continue
        ((west, east),) = box.longitude_ranges
        kind, codes = FILTERS[bench_query.filter_label]
        params = (box.south, box.north, west, east)
        statements = {
            names[0]: rtree_sql(box),
            names[1]: (
                f"SELECT l.id FROM center_locations l WHERE {BOX} AND EXISTS (SELECT 1 FROM center_attributes a"
                f" WHERE a.center_id = l.id AND a.kind = ? AND a.code IN ({', '.join('?' for _ in codes)}))",
                (*params, kind, *codes),
            ),
            names[2]: (
                f"SELECT l.id FROM center_locations l JOIN k.masks m ON m.id = l.id"
                f" WHERE {BOX} AND (m.{kind} & ?) != 0",
                (*params, bits(kind, codes)),
            ),
            names[3]: (
                f"SELECT l.id FROM k.locations_with_masks l WHERE {BOX} AND (l.{kind} & ?) != 0",
                (*params, bits(kind, codes)),
            ),
        }
        for sql, p in statements.values():
            connection.execute(sql, p).fetchall()  # warm up
        answers = {}
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            answers[name] = connection.execute(*statements[name]).fetchall()
            times[name].append(time.perf_counter() - t0)
        assert sorted(answers[names[1]]) == sorted(answers[names[2]]) == sorted(answers[names[3]]), bench_query.label
    raw = np.array(times[names[0]])
    print(f"\n{len(raw)} filtered searches on {args.synthetic:,} centers\n")
    print("| filter written as | p50 ms | p95 ms | median per-search ratio to the raw index SQL |")
    print("|---|---:|---:|---:|")
    for name in names:
        t = np.array(times[name])
        p50, p95 = np.percentile(t, 50) * 1000, np.percentile(t, 95) * 1000
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {np.median(t / raw):.2f} |")


if __name__ == "__main__":
    main()
