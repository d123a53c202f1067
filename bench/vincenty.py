"""Vincenty's inverse formula vectorised with NumPy: the full scan's distances.

The app measures with `directory.search.geodesy.geodesic_miles_to` (Karney's algorithm, in
PROJ through pyproj): a search measures only the few candidates its bounds leave open. A full
scan measures every center, and there this formula, about 100 array operations whatever the
size (0.35 microseconds a point), keeps the scan the benchmark compares with as lean as it can
be. The two agree within a micrometre (the benchmark compares distances within
`DISTANCE_TOLERANCE_MILES`).
"""

from __future__ import annotations

import math

import numpy as np

from directory.search.geodesy import METERS_PER_MILE

WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_B = WGS84_A * (1 - WGS84_F)

#: Rounds of Vincenty's iteration every point takes together, without masking: enough for
#: lambda to settle within 1e-12 for any distance a search measures (up to 500 miles); points
#: that have not settled by then (far apart, or the same point) are measured by `_vincenty`.
_ROUNDS = 5
_C1 = WGS84_F / 16 * (4 + 4 * WGS84_F)
_C2 = WGS84_F / 16 * 3 * WGS84_F
_EP2 = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2


def vincenty_miles(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
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
