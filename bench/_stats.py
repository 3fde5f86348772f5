"""Latency summaries shared by the benchmarks (nearest-rank percentiles, figures in milliseconds)."""

from __future__ import annotations

import statistics
from typing import Any


def pct(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(values: list[float], *, digits: int = 3, samples: bool = True) -> dict[str, Any]:
    """n, p50, p95, mean and min in ms rounded to `digits`; with `samples`, every value (for bench/plot.py)."""
    summary: dict[str, Any] = {
        "n": len(values),
        "p50_ms": round(pct(values, 0.50) * 1000, digits),
        "p95_ms": round(pct(values, 0.95) * 1000, digits),
        "mean_ms": round(statistics.fmean(values) * 1000, digits),
        "min_ms": round(min(values) * 1000, digits),
    }
    if samples:
        summary["samples_ms"] = [round(v * 1000, 3) for v in values]
    return summary
