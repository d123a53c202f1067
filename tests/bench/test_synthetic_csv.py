"""The import benchmark's synthetic file: valid rows of the project's CSV format, copied from real ones."""

from __future__ import annotations

import io

from bench.synthetic_csv import write_synthetic_rows
from directory.sources.centers_csv import read_centers_csv


def test_synthetic_rows_are_valid_distinct_and_repeatable():
    first, again = io.StringIO(), io.StringIO()
    write_synthetic_rows(first, 200, random_seed=3)
    write_synthetic_rows(again, 200, random_seed=3)
    assert first.getvalue() == again.getvalue()

    first.seek(0)
    rows = list(read_centers_csv(first, "synthetic.csv"))
    assert [issue for row in rows for issue in row.issues] == []
    records = [row.record for row in rows]
    assert len({r.external_id for r in records}) == 200
    assert all(r.source == "synthetic" for r in records)
    assert len({(r.latitude, r.longitude) for r in records}) == 200  # each moved to a point of its own
    assert sum(bool(r.levels_of_care) for r in records) > 150  # the real centers' attributes come along


def test_another_seed_gives_other_rows():
    a, b = io.StringIO(), io.StringIO()
    write_synthetic_rows(a, 20, random_seed=1)
    write_synthetic_rows(b, 20, random_seed=2)
    assert a.getvalue() != b.getvalue()
