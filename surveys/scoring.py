"""Scores with honest uncertainty, and trends only when they are real.

Answers cannot be tied to people, so every figure is computed over answers (n = answers counted).
Each estimate carries its n and a 95% interval; percent-style figures and thresholds are decided by
`surveys.anonymity`, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import (
    NormalDist,
    StatisticsError,
    _float_sqrt_of_frac,  # type: ignore[attr-defined]  # pstdev's own rounding
    fmean,
)

# Two-sided 95% critical values of Student's t for 1–30 degrees of freedom; the normal beyond.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
CBI_BANDS = ((50.0, "low"), (75.0, "moderate"), (90.0, "high"), (math.inf, "very high"))


def t_critical(df: int) -> float:
    if df < 1:
        raise ValueError("an interval needs at least two answers")
    return _T975[df - 1] if df <= len(_T975) else NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    @property
    def unanimous(self) -> bool:
        """Every answer was the same: the figure then says what each person answered, and the digest
        says so in words rather than as a range of zero width ("0, likely between 0 and 0")."""
        return self.n > 1 and self.low == self.high == self.value

    def in_words(self, digits: int = 0) -> str:
        """ "62, likely between 55 and 69"; "0, every answer the same"."""
        fmt = f"{{:.{digits}f}}"
        if self.unanimous:
            return f"{fmt.format(self.value)}, every answer the same"
        return f"{fmt.format(self.value)}, likely between {fmt.format(self.low)} and {fmt.format(self.high)}"


def mean_estimate(values: Sequence[float], *, lower: float = 0.0, upper: float = 100.0) -> Estimate | None:
    """Mean with a t-interval, clipped to the scale. None without any values."""
    if not values:
        return None
    mean = fmean(values)
    if len(values) == 1:
        return Estimate(mean, lower, upper, 1)  # one answer says nothing about the spread
    # Plain floats: statistics.stdev computes exactly with fractions, which is far too slow for a digest
    # run over millions of answers, and answers on a 0–100 scale need no more than double precision.
    n = len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_critical(n - 1) * spread / math.sqrt(n)
    return Estimate(mean, max(lower, mean - half), min(upper, mean + half), len(values))


def pstdev_exact(values: Sequence[float]) -> float:
    """`statistics.pstdev(values)` for floats, the very same float: the correctly rounded square root
    of the exact population variance. `pstdev` gets there through generic rational arithmetic that
    costs about 50 µs for four values; a digest run asks it for every metric of every group."""
    if not values:
        raise StatisticsError("pstdev requires at least one data point")
    ratios = [value.as_integer_ratio() for value in values]
    denominator = max(bottom for _, bottom in ratios)  # powers of two: the largest is a common one
    tops = [top * (denominator // bottom) for top, bottom in ratios]
    n = len(tops)
    sx = sum(tops)
    # Σ(x − mean)² / n with x = top / denominator, over one common denominator: exact.
    numerator = n * sum(top * top for top in tops) - sx * sx
    divisor = n * n * denominator * denominator
    common = math.gcd(numerator, divisor)
    return _float_sqrt_of_frac(numerator // common, divisor // common)


def exact_sum(counted: Iterable[tuple[float, int]]) -> float:
    """Σ count × value, computed exactly and rounded once: what `math.fsum` over each value repeated
    `count` times returns, without building the list (binary floats are integers over powers of two)."""
    numerator, denominator = 0, 1
    for value, count in counted:
        top, bottom = value.as_integer_ratio()
        if bottom > denominator:
            numerator *= bottom // denominator
            denominator = bottom
        numerator += count * top * (denominator // bottom)
    return numerator / denominator  # int / int is correctly rounded


def mean_estimate_counted(counts: Mapping[float, int], *, lower: float = 0.0, upper: float = 100.0) -> Estimate | None:
    """`mean_estimate` over each value repeated its count of times, from the counts alone.

    The mean is the same float (`fmean` rounds the exact sum once, and so does `exact_sum`); the
    spread is the exactly rounded sum of squares, where `mean_estimate` adds them one by one in the
    order given, so the two can differ in the last bits of an interval's ends, never in the mean."""
    n = sum(counts.values())
    if not n:
        return None
    mean = exact_sum(counts.items()) / n
    if n == 1:
        return Estimate(mean, lower, upper, 1)
    spread = math.sqrt(exact_sum(((v - mean) ** 2, c) for v, c in counts.items()) / (n - 1))
    half = t_critical(n - 1) * spread / math.sqrt(n)
    return Estimate(mean, max(lower, mean - half), min(upper, mean + half), n)


def recommend_score_counted(counts: Mapping[int, int]) -> Estimate | None:
    """`recommend_score` from value counts (the same up to the last bits of the interval's ends)."""
    signs: dict[int, int] = {}
    for value, count in counts.items():
        sign = 1 if value >= 9 else -1 if value <= 6 else 0
        signs[sign] = signs.get(sign, 0) + count
    n = sum(signs.values())
    if not n:
        return None
    mean = sum(s * c for s, c in signs.items()) / n
    variance = exact_sum((float((s - mean) ** 2), c) for s, c in signs.items()) / (n - 1) if n > 1 else 1.0
    half = NormalDist().inv_cdf(0.975) * math.sqrt(variance / n)
    return Estimate(100 * mean, max(-100.0, 100 * (mean - half)), min(100.0, 100 * (mean + half)), n)


def share_at_least_counted(counts: Mapping[int, int], threshold: int) -> Estimate | None:
    """`share_at_least` from value counts: the very same figures (only integer counts go in)."""
    n = sum(counts.values())
    if not n:
        return None
    hits = sum(c for v, c in counts.items() if v >= threshold)
    z = NormalDist().inv_cdf(0.975)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(100 * p, 100 * max(0.0, centre - half), 100 * min(1.0, centre + half), n)


def recommend_score(values: Sequence[int]) -> Estimate | None:
    """% promoters (9–10) − % detractors (0–6), −100…100, with a normal-approximation interval."""
    if not values:
        return None
    signs = [1 if v >= 9 else -1 if v <= 6 else 0 for v in values]
    n = len(signs)
    mean = sum(signs) / n
    variance = sum((s - mean) ** 2 for s in signs) / (n - 1) if n > 1 else 1.0
    half = NormalDist().inv_cdf(0.975) * math.sqrt(variance / n)
    return Estimate(100 * mean, max(-100.0, 100 * (mean - half)), min(100.0, 100 * (mean + half)), n)


def share_at_least(values: Sequence[int], threshold: int) -> Estimate | None:
    """Share (0–100) of answers at or above `threshold`, with a Wilson interval."""
    if not values:
        return None
    n = len(values)
    hits = sum(1 for v in values if v >= threshold)
    z = NormalDist().inv_cdf(0.975)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(100 * p, 100 * max(0.0, centre - half), 100 * min(1.0, centre + half), n)


def cbi_band(score: float) -> str:
    """The conventional CBI band. A convention for reading the scale, not a diagnosis."""
    return next(label for limit, label in CBI_BANDS if score < limit)


@dataclass(frozen=True)
class Trend:
    signal: str  # "up", "down" or "none"
    ewma: float
    low_limit: float
    high_limit: float

    def in_words(self) -> str:
        return {"up": "going up", "down": "going down"}.get(self.signal, "no detectable change")


def ewma_trend(
    series: Iterable[float], *, target: float, sigma: float, smoothing: float = 0.2, width: float = 3.0
) -> Trend:
    """EWMA control chart: z_t = λx_t + (1−λ)z_{t−1} against target ± L·σ·√(λ/(2−λ)·(1−(1−λ)^{2t})).

    A signal is reported only when the smoothed line leaves the limits, so one noisy week never does.
    """
    z = target
    t = 0
    for x in series:
        z = smoothing * x + (1 - smoothing) * z
        t += 1
    if t == 0:
        return Trend("none", z, target, target)
    # Only the last point's limits are reported: a digest asks for about 11,000 trends.
    spread = width * sigma * math.sqrt(smoothing / (2 - smoothing) * (1 - (1 - smoothing) ** (2 * t)))
    low, high = target - spread, target + spread
    signal = "up" if z > high else "down" if z < low else "none"
    return Trend(signal, z, low, high)
