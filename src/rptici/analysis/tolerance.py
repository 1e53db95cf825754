"""The trial-level tolerance: when a simulated endpoint reproduces a reported one.

A rate (ORR, PSA50, a landmark, a toxicity rate, a share) holds when the simulated value lies inside the reported
value's Wilson 95 % interval at the trial's own n (Wilson 1927 J Am Stat Assoc 22:209), widened by ±0.05; a
median or a hazard ratio holds within a factor 4/3; a median not reached (None) fails.
"""

from __future__ import annotations

import math

RATE_WIDENING = 0.05
RATIO_FACTOR = 4.0 / 3.0
#: n assumed for a reported rate whose trial gives none.
DEFAULT_N = 30


def wilson_interval(rate: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion ``rate`` observed in ``n`` patients."""
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def tolerance_band(unit: str, reported: float, n: int | None) -> tuple[float, float]:
    """The interval a simulated value must lie in: ×/÷ 4/3 for months and ratios, else the widened Wilson one."""
    if unit in ("months", "ratio"):
        return reported / RATIO_FACTOR, reported * RATIO_FACTOR
    low, high = wilson_interval(reported, int(n or DEFAULT_N))
    return max(0.0, low - RATE_WIDENING), min(1.0, high + RATE_WIDENING)


def holds(unit: str, reported: float, simulated: float | None, n: int | None) -> bool:
    """Whether ``simulated`` reproduces ``reported`` within the trial-level tolerance (None fails)."""
    if simulated is None or not math.isfinite(simulated):
        return False
    low, high = tolerance_band(unit, reported, n)
    return low <= simulated <= high
