"""The bench's one percentile: every table, report and JSON line the bench writes uses it.

Linear interpolation between the closest ranks (numpy's default), so a p50 is the median and a p99 of
a few hundred samples does not jump from one sample to the next.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``; ``ValueError`` when there are none."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
