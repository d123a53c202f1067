"""Distances on the WGS-84 ellipsoid, for many points at once, and search bounding boxes.

`geodesic_miles` is Vincenty's inverse formula vectorised with NumPy. For the distances a
search uses (up to a few hundred miles, never near-antipodal) it converges in a handful of
iterations and agrees with geopy's `geodesic` (Karney's algorithm) to well under a
millimetre; the tests check this against geopy on the real data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_B = WGS84_A * (1 - WGS84_F)
METERS_PER_MILE = 1609.344
#: Shortest length of one degree of latitude on WGS-84 (at the equator), in miles.
_MIN_MILES_PER_DEG_LAT = 110574.3 / METERS_PER_MILE
#: Length of one degree of longitude at the equator; at latitude phi it is at least this * cos(phi).
_MILES_PER_DEG_LON_EQUATOR = (math.pi / 180) * WGS84_A / METERS_PER_MILE
_E2 = WGS84_F * (2 - WGS84_F)


#: Rounds of Vincenty's iteration every point takes together, without masking: enough for
#: lambda to settle within 1e-12 for any distance a search measures (up to 500 miles); points
#: that have not settled by then (far apart, or the same point) are measured by `_vincenty`.
_ROUNDS = 5
_C1 = WGS84_F / 16 * (4 + 4 * WGS84_F)
_C2 = WGS84_F / 16 * 3 * WGS84_F
_EP2 = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2


def geodesic_miles(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """WGS-84 geodesic distance in miles from one point to each of many points.

    Every point takes `_ROUNDS` rounds of the iteration together (a search's arrays are small,
    so the cost is in the number of NumPy calls, not the number of points); a point whose
    lambda has not settled by then (or that is the origin itself) is measured again on its own
    terms by `_vincenty`. Either way a point's distance depends only on the point, never on
    which other points are measured with it.
    """
    f = WGS84_F
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    u1 = math.atan((1 - f) * math.tan(math.radians(lat)))
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    u2 = np.arctan((1 - f) * np.tan(np.radians(lats)))
    sin_u2, cos_u2 = np.sin(u2), np.cos(u2)
    ss, cc = sin_u1 * sin_u2, cos_u1 * cos_u2
    cs, sc, ss2 = cos_u1 * sin_u2, sin_u1 * cos_u2, 2 * ss
    big_l = np.radians(lons - lon)
    lam = previous = big_l
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(_ROUNDS):
            sin_lam, cos_lam = np.sin(lam), np.cos(lam)
            sin_sigma = np.hypot(cos_u2 * sin_lam, cs - sc * cos_lam)
            cos_sigma = ss + cc * cos_lam
            sigma = np.arctan2(sin_sigma, cos_sigma)
            sin_alpha = cc * sin_lam / sin_sigma
            cos2_alpha = 1 - sin_alpha * sin_alpha
            cos_2sm = cos_sigma - ss2 / cos2_alpha
            c = cos2_alpha * (_C1 - _C2 * cos2_alpha)
            previous, lam = (
                lam,
                big_l
                + f
                * sin_alpha
                * (1 - c)
                * (sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (2 * cos_2sm * cos_2sm - 1))),
            )
        miles = _distance(sigma, sin_sigma, cos_sigma, cos2_alpha, cos_2sm)
        unsettled = ~(np.abs(lam - previous) < 1e-12)  # NaN (the origin itself) included
    if unsettled.any():
        miles[unsettled] = _vincenty(lat, lon, lats[unsettled], lons[unsettled])
    return miles


def geodesic_miles_to(lat: float, lon: float, to_lat: float, to_lon: float) -> float:
    """WGS-84 geodesic distance in miles between two points (as `geodesic_miles` measures it)."""
    return float(geodesic_miles(lat, lon, np.array([to_lat]), np.array([to_lon]))[0])


def _distance(
    sigma: np.ndarray, sin_sigma: np.ndarray, cos_sigma: np.ndarray, cos2_alpha: np.ndarray, cos_2sm: np.ndarray
) -> np.ndarray:
    """Vincenty's distance (miles) from the iteration's settled values."""
    u_sq = cos2_alpha * _EP2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    cos2_2sm = cos_2sm * cos_2sm
    inner = cos_sigma * (2 * cos2_2sm - 1) - big_b / 6 * cos_2sm * (4 * sin_sigma * sin_sigma - 3) * (4 * cos2_2sm - 3)
    delta_sigma = big_b * sin_sigma * (cos_2sm + big_b / 4 * inner)
    return WGS84_B * big_a * (sigma - delta_sigma) / METERS_PER_MILE


def _vincenty(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Vincenty's inverse formula with each point iterating until its own lambda settles, and
    the degenerate cases (the same point, a line along the equator) taken care of."""
    f = WGS84_F
    u1 = math.atan((1 - f) * math.tan(math.radians(lat)))
    u2 = np.arctan((1 - f) * np.tan(np.radians(lats)))
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    sin_u2, cos_u2 = np.sin(u2), np.cos(u2)
    big_l = np.radians(lons - lon)
    lam = big_l.copy()
    sin_sigma = cos_sigma = sigma = cos2_alpha = cos_2sm = sin_alpha = np.zeros_like(lam)
    active = np.ones(lam.shape, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(100):
            sin_lam, cos_lam = np.sin(lam), np.cos(lam)
            new_sin_sigma = np.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
            new_cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
            new_sin_alpha = np.where(new_sin_sigma == 0, 0.0, cos_u1 * cos_u2 * sin_lam / new_sin_sigma)
            new_cos2_alpha = 1 - new_sin_alpha**2
            new_cos_2sm = np.where(new_cos2_alpha == 0, 0.0, new_cos_sigma - 2 * sin_u1 * sin_u2 / new_cos2_alpha)
            sin_sigma = np.where(active, new_sin_sigma, sin_sigma)
            cos_sigma = np.where(active, new_cos_sigma, cos_sigma)
            sin_alpha = np.where(active, new_sin_alpha, sin_alpha)
            cos2_alpha = np.where(active, new_cos2_alpha, cos2_alpha)
            cos_2sm = np.where(active, new_cos_2sm, cos_2sm)
            sigma = np.arctan2(sin_sigma, cos_sigma)
            c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
            new_lam = big_l + (1 - c) * f * sin_alpha * (
                sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
            )
            converged = np.abs(new_lam - lam) < 1e-12
            lam = np.where(active, new_lam, lam)
            active &= ~converged
            if not active.any():
                break
    return _distance(sigma, sin_sigma, cos_sigma, cos2_alpha, cos_2sm)


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


def miles_per_degree(latitude: float) -> tuple[float, float]:
    """(along a meridian, along a parallel): the length of one degree at this latitude, in miles."""
    s = math.sin(math.radians(latitude))
    w = math.sqrt(1 - _E2 * s * s)
    meridian = WGS84_A * (1 - _E2) / w**3
    parallel = WGS84_A / w * math.cos(math.radians(latitude))
    to_miles = math.pi / 180 / METERS_PER_MILE
    return meridian * to_miles, max(0.0, parallel * to_miles)


@dataclass(frozen=True)
class DegreeLengths:
    """The shortest and longest lengths of a degree (miles) over a box's latitudes.

    They bound the geodesic distance from the box's centre to a point of the box without
    trigonometry, with dlat and dlon the coordinate differences (dlon the short way round):
    upper: sqrt((dlat * meridian_max)^2 + (dlon * parallel_max)^2), the length of the straight
    line in (latitude, longitude) at the longest degree lengths (a path is never shorter than
    the geodesic); lower: the same with the shortest degree lengths. A path to a point within
    the box's radius stays within the box's latitudes (the box is that tall), so by
    Minkowski's inequality it is at least that long.
    """

    meridian_min: float
    parallel_min: float
    meridian_max: float
    parallel_max: float


def degree_lengths(box: BoundingBox) -> DegreeLengths:
    """The degree lengths that bound distances within `box` (see DegreeLengths)."""
    equatorward = 0.0 if box.south <= 0 <= box.north else min(abs(box.south), abs(box.north))
    poleward = max(abs(box.south), abs(box.north))
    meridian_min, parallel_max = miles_per_degree(equatorward)
    meridian_max, parallel_min = miles_per_degree(poleward)
    return DegreeLengths(meridian_min, parallel_min, meridian_max, parallel_max)
