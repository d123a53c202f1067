"""A synthetic import file of any size in the project's CSV format, made from the real seed rows.

Each row copies a random real center (name, address, phones, every attribute) under a new
external id, moved a few miles from it, so the file is as valid and as varied as the seed.
Written row by row (it never holds the file) and cached under bench/.cache/.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bench.data import CACHE, JITTER_MILES, MILES_PER_DEG_LAT, SEED_FILE
from directory.sources.records import CSV_COLUMNS

#: Bump when the rows change, so cached files are made again.
GENERATOR_VERSION = 1


def synthetic_csv(rows: int, random_seed: int = 1, log: Callable[[str], None] = print) -> Path:
    """The cached file of `rows` synthetic centers (made on first use)."""
    key = hashlib.sha256(SEED_FILE.read_bytes() + repr((rows, random_seed, GENERATOR_VERSION)).encode()).hexdigest()
    path = CACHE / f"centers-{rows}-{random_seed}-{key[:12]}.csv"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    for stale in CACHE.glob(f"centers-{rows}-{random_seed}-*.csv"):
        stale.unlink()
    partial = path.with_suffix(".partial")
    log(f"Writing {rows:,} synthetic rows to {path.name} (once; cached) ...")
    with partial.open("w", encoding="utf-8", newline="") as stream:
        write_synthetic_rows(stream, rows, random_seed)
    partial.rename(path)
    return path


def write_synthetic_rows(stream: TextIO, rows: int, random_seed: int = 1) -> None:
    """Write the header and `rows` synthetic rows to `stream`."""
    with SEED_FILE.open(encoding="utf-8", newline="") as seed:
        parents = list(csv.DictReader(seed))
    rng = random.Random(random_seed)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    spread = JITTER_MILES / MILES_PER_DEG_LAT
    for n in range(1, rows + 1):
        row = dict(parents[rng.randrange(len(parents))])
        latitude = min(89.9, max(-89.9, float(row["latitude"]) + rng.gauss(0, spread)))
        longitude = float(row["longitude"]) + rng.gauss(0, spread) / max(0.05, math.cos(math.radians(latitude)))
        row["external_id"] = f"synthetic:{n:08d}"
        row["latitude"] = f"{latitude:.6f}"
        row["longitude"] = f"{(longitude + 180) % 360 - 180:.6f}"
        row["source"] = "synthetic"
        writer.writerow([row[column] for column in CSV_COLUMNS])
