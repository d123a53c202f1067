"""Distances on the WGS-84 ellipsoid (Karney's algorithm, in PROJ's C through pyproj, for many
points in one call) and the bounds a search narrows its candidates with before measuring them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyproj import Geod

METERS_PER_MILE = 1609.344
_WGS84 = Geod(ellps="WGS84")
_A, _E2 = _WGS84.a, _WGS84.es
#: Shortest length of one degree of latitude on WGS-84 (at the equator), in miles.
_MIN_MILES_PER_DEG_LAT = 110574.3 / METERS_PER_MILE
#: Length of one degree of longitude at the equator; at latitude phi it is at least this * cos(phi).
_MILES_PER_DEG_LON_EQUATOR = (math.pi / 180) * _A / METERS_PER_MILE


def geodesic_miles(lat: float, lon: float, to_lat: float, to_lon: float) -> float:
    """WGS-84 geodesic distance in miles between two points."""
    return float(geodesic_miles_to(lat, lon, np.array([to_lat]), np.array([to_lon]))[0])


def geodesic_miles_to(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """WGS-84 geodesic distances in miles from one point to each of many."""
    if not len(lats):
        return np.zeros(0)
    _, _, meters = _WGS84.inv(np.full(len(lons), lon), np.full(len(lats), lat), lons, lats)
    return np.asarray(meters) / METERS_PER_MILE


@dataclass(frozen=True)
class BoundingBox:
    """A latitude/longitude box that contains every point within a radius (a superset)."""

    south: float
    north: float
    #: One or two (west, east) longitude ranges; two when the box crosses the 180th meridian.
    longitude_ranges: tuple[tuple[float, float], ...]


def bounding_box(lat: float, lon: float, radius_miles: float) -> BoundingBox:
    """The box around a circle of `radius_miles`, slightly padded so no point is missed."""
    dlat = radius_miles / _MIN_MILES_PER_DEG_LAT * 1.001 + 1e-6
    south, north = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = max(abs(south), abs(north))
    if widest >= 89.9:
        return BoundingBox(south, north, ((-180.0, 180.0),))
    dlon = radius_miles / (_MILES_PER_DEG_LON_EQUATOR * math.cos(math.radians(widest))) * 1.001 + 1e-6
    if dlon >= 180:
        return BoundingBox(south, north, ((-180.0, 180.0),))
    west, east = lon - dlon, lon + dlon
    if west < -180:
        return BoundingBox(south, north, ((west + 360, 180.0), (-180.0, east)))
    if east > 180:
        return BoundingBox(south, north, ((west, 180.0), (-180.0, east - 360)))
    return BoundingBox(south, north, ((west, east),))


def _miles_per_degree(latitude: float) -> tuple[float, float]:
    """(along a meridian, along a parallel): the length of one degree at this latitude, in miles."""
    s = math.sin(math.radians(latitude))
    w = math.sqrt(1 - _E2 * s * s)
    to_miles = math.pi / 180 / METERS_PER_MILE
    return _A * (1 - _E2) / w**3 * to_miles, max(0.0, _A / w * math.cos(math.radians(latitude)) * to_miles)


def distance_bounds(
    lat: float, lon: float, box: BoundingBox, lats: np.ndarray, lons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (miles) of the geodesic distance from (lat, lon) to points of `box`,
    without trigonometry per point.

    With dlat and dlon the coordinate differences (dlon the short way round) and the shortest
    and longest lengths of a degree over the box's latitudes: the upper bound is the length of
    the straight line in (latitude, longitude) at the longest lengths (a path is never shorter
    than the geodesic); the lower bound the same at the shortest lengths, which holds for every
    point within the box's radius (its geodesic stays within the box's latitudes; Minkowski's
    inequality). Both are widened by a hair for float rounding.
    """
    equatorward = 0.0 if box.south <= 0 <= box.north else min(abs(box.south), abs(box.north))
    poleward = max(abs(box.south), abs(box.north))
    meridian_min, parallel_max = _miles_per_degree(equatorward)
    meridian_max, parallel_min = _miles_per_degree(poleward)
    dlat = lats - lat
    dlon = np.abs(lons - lon)
    dlon = np.minimum(dlon, 360.0 - dlon)
    lower = np.hypot(dlat * meridian_min, dlon * parallel_min) * (1 - 1e-9) - 1e-9
    upper = np.hypot(dlat * meridian_max, dlon * parallel_max) * (1 + 1e-9) + 1e-9
    return lower, upper


def in_box(box: BoundingBox, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Which of the points lie in the box (a point outside it is beyond the radius)."""
    inside = np.zeros(lats.shape, dtype=bool)
    for west, east in box.longitude_ranges:
        inside |= (lons >= west) & (lons <= east)
    return inside & (lats >= box.south) & (lats <= box.north)
