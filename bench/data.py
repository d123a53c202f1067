"""The benchmark databases: the real seed directory, and synthetic ones of any size built from it.

Both are created by the app's own migrations, so they carry the same tables, indexes,
R*Tree and triggers as a deployed database. The seed goes in through the real importer;
the synthetic centers are copies of seed centers moved to new points, written with
plain SQL (the triggers still fill the R*Tree). Built files are cached under
bench/.cache/, keyed by everything that would change their content.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import zipcodes
from sqlalchemy import create_engine

from directory import create_app, schema
from directory.extensions import db
from directory.sources import import_file
from directory.vocabulary import STATES

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "seeds" / "centers.csv"
CACHE = Path(__file__).resolve().parent / ".cache"
#: Bump when the way synthetic centers are made changes, so cached files are rebuilt.
GENERATOR_VERSION = 2
#: Share of synthetic centers placed at a random US ZIP point instead of near a real center.
ZIP_POINT_SHARE = 0.15
#: Spread of a synthetic center around the real center it copies (standard deviation, miles).
JITTER_MILES = 3.0
MILES_PER_DEG_LAT = 69.0
#: What decides the content of the seed database besides the seed file itself.
SCHEMA_AND_IMPORT_CODE = ("directory/migrations/versions", "directory/models", "directory/sources")


def content_key(*extra: object) -> str:
    """A short digest of the seed file, the schema and import code, and `extra`: a database's cache key."""
    digest = hashlib.sha256()
    digest.update(SEED_FILE.read_bytes())
    files = [f for folder in SCHEMA_AND_IMPORT_CODE for f in sorted((ROOT / folder).glob("*.py"))]
    for path in [*files, ROOT / "directory" / "vocabulary.py"]:
        digest.update(path.read_bytes())
    digest.update(repr(extra).encode())
    return digest.hexdigest()[:12]


def seed_database(log: Callable[[str], None] = print) -> Path:
    """The real seed directory (seeds/centers.csv) imported into a migrated SQLite file."""
    path = CACHE / f"seed-{content_key()}.sqlite3"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    log(f"Importing {SEED_FILE.name} into {path.name} (once; cached) ...")
    started = time.perf_counter()
    app = create_app({"DATABASE_URL": f"sqlite:///{partial}", "SECRET_KEY": "bench", "GEOCODER": "offline"})
    with app.app_context():
        schema.upgrade(db.engine)
        report = import_file(db.session, SEED_FILE, "centers")
        if not report.written:
            raise SystemExit(f"The seed file did not import: {report.issues[:3]}")
        db.engine.dispose()
    _finish(partial, path)
    _remove_stale(path, "seed-*.sqlite3", log)
    log(f"  {report.created:,} centers in {time.perf_counter() - started:.1f} s")
    return path


def synthetic_database(n: int, random_seed: int, log: Callable[[str], None] = print) -> Path:
    """`n` synthetic centers spread like the real ones, with the real centers' attribute mixes.

    Most are a copy of a random real center (name, address, attributes, everything) moved a
    few miles from it, so their density follows where treatment actually is; the rest copy a
    random real center but sit at a random US ZIP code point, to fill in rural areas.
    """
    seed = seed_database(log)
    path = CACHE / f"synthetic-{n}-{random_seed}-{content_key(n, random_seed, GENERATOR_VERSION)}.sqlite3"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    log(f"Building {n:,} synthetic centers into {path.name} (once; cached) ...")
    started = time.perf_counter()
    engine = create_engine(f"sqlite:///{partial}")
    schema.upgrade(engine)
    engine.dispose()
    rows = _synthetic_rows(seed, n, np.random.default_rng(random_seed))
    connection = sqlite3.connect(partial)
    try:
        connection.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000; PRAGMA temp_store=MEMORY;"
        )
        connection.execute("ATTACH DATABASE ? AS seed", (str(seed),))
        connection.execute(
            "CREATE TEMP TABLE synthetic (id INTEGER PRIMARY KEY, parent INTEGER, latitude REAL, longitude REAL,"
            " city TEXT, state TEXT, zip TEXT)"
        )
        connection.executemany("INSERT INTO synthetic VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        # Every column of the real center is copied except the identity and the point; the
        # insert trigger from migration 0001 adds each point to the R*Tree as the app would.
        connection.execute(
            """INSERT INTO centers (id, slug, external_id, name, alt_name, street1, street2, city, state, zip,
                 phone, intake_phone, website, latitude, longitude, accepting_referrals, beds_available,
                 detox_stay_days, source, source_vintage, last_verified_at, center_edited_at, created_at,
                 updated_at)
               SELECT s.id, printf('synthetic-%08d', s.id), printf('synthetic:%08d', s.id), p.name, p.alt_name,
                 p.street1, p.street2, coalesce(s.city, p.city), coalesce(s.state, p.state),
                 coalesce(s.zip, p.zip), p.phone, p.intake_phone, p.website, s.latitude, s.longitude,
                 p.accepting_referrals, p.beds_available, p.detox_stay_days, 'synthetic', p.source_vintage,
                 p.last_verified_at, p.center_edited_at, p.created_at, p.updated_at
               FROM synthetic s JOIN seed.centers p ON p.id = s.parent ORDER BY s.id"""
        )
        connection.execute(
            """INSERT INTO center_attributes (center_id, kind, code)
               SELECT s.id, a.kind, a.code FROM synthetic s JOIN seed.center_attributes a ON a.center_id = s.parent
               ORDER BY s.id, a.kind, a.code"""
        )
        connection.commit()
        connection.execute("DETACH DATABASE seed")
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM centers), (SELECT count(*) FROM center_locations),"
            " (SELECT count(*) FROM center_attributes)"
        ).fetchone()
        if counts[0] != n or counts[1] != n:
            raise SystemExit(f"Synthetic build went wrong: {counts[0]:,} centers, {counts[1]:,} R*Tree entries")
    finally:
        connection.close()
    _finish(partial, path)
    _remove_stale(path, f"synthetic-{n}-{random_seed}-*.sqlite3", log)
    log(
        f"  {counts[0]:,} centers, {counts[2]:,} attribute rows in {time.perf_counter() - started:.1f} s"
        f" ({path.stat().st_size / 2**20:,.0f} MiB)"
    )
    return path


def _synthetic_rows(seed: Path, n: int, rng: np.random.Generator) -> list[tuple]:
    """(id, parent id, latitude, longitude, city, state, zip) for each synthetic center."""
    with closing(sqlite3.connect(f"file:{seed}?mode=ro", uri=True)) as connection:
        real = np.array(connection.execute("SELECT id, latitude, longitude FROM centers ORDER BY id").fetchall())
    zip_points = [
        (float(z["lat"]), float(z["long"]), z["city"], z["state"], z["zip_code"])
        for z in zipcodes.list_all()
        if z["state"] in STATES and (float(z["lat"]), float(z["long"])) != (0.0, 0.0)
    ]
    parents = rng.integers(0, len(real), n)
    at_zip = rng.random(n) < ZIP_POINT_SHARE
    zip_index = rng.integers(0, len(zip_points), n)
    zip_coords = np.array([(p[0], p[1]) for p in zip_points])
    lats = np.where(at_zip, zip_coords[zip_index, 0], real[parents, 1])
    lons = np.where(at_zip, zip_coords[zip_index, 1], real[parents, 2])
    spread = np.where(at_zip, 0.5, JITTER_MILES) / MILES_PER_DEG_LAT
    lats = np.clip(lats + rng.normal(0, 1, n) * spread, -89.9, 89.9)
    lons = lons + rng.normal(0, 1, n) * spread / np.cos(np.radians(lats))
    lons = (lons + 180) % 360 - 180
    # Ids follow the seed file's order (state, town), as an import of one big file would.
    order = np.lexsort((rng.random(n), parents))
    rows = []
    for new_id, k in enumerate(order, start=1):
        parent = int(real[parents[k], 0])
        if at_zip[k]:
            _, _, city, state, zip_code = zip_points[zip_index[k]]
            rows.append((new_id, parent, round(float(lats[k]), 6), round(float(lons[k]), 6), city, state, zip_code))
        else:
            rows.append((new_id, parent, round(float(lats[k]), 6), round(float(lons[k]), 6), None, None, None))
    return rows


def _remove_stale(current: Path, pattern: str, log: Callable[[str], None]) -> None:
    """Delete the databases `current` replaces (built from older code or data)."""
    for stale in CACHE.glob(pattern):
        if stale != current:
            for part in (stale, *stale.parent.glob(f"{stale.name}-*")):
                part.unlink(missing_ok=True)
            log(f"  removed the outdated {stale.name}")


def _finish(partial: Path, path: Path) -> None:
    """Fold any write-ahead log into the file, then give the file its final name."""
    with closing(sqlite3.connect(partial)) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    partial.rename(path)
