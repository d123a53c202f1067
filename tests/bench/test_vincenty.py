"""The full scan's distances (Vincenty, bench/vincenty.py) against the app's (Karney, pyproj)."""

import numpy as np

from bench.search import DISTANCE_TOLERANCE_MILES
from bench.vincenty import vincenty_miles
from directory.search.geodesy import geodesic_miles


def test_the_scans_distances_agree_with_the_apps_within_the_benchmarks_tolerance():
    rng = np.random.default_rng(7)
    for lat, lon in [(40.7, -74.0), (61.2, -149.9), (18.4, -66.1), (0.0, 179.9)]:
        lats = np.clip(lat + rng.uniform(-8, 8, 500), -90, 90)
        lons = (lon + rng.uniform(-10, 10, 500) + 180) % 360 - 180
        lats[:3], lons[:3] = lat, lon  # the origin itself: distance 0
        scan = vincenty_miles(lat, lon, lats, lons)
        app = np.array([geodesic_miles(lat, lon, a, b) for a, b in zip(lats, lons, strict=True)])
        assert np.abs(scan - app).max() < DISTANCE_TOLERANCE_MILES
        assert scan[:3].tolist() == app[:3].tolist() == [0.0, 0.0, 0.0]
