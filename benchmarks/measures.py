"""What every benchmark reports its timings with: one percentile, for all of them.

Benchmarks run as scripts (``python benchmarks/<name>.py``), so this module is imported
as ``measures`` from the scripts' own directory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile of ``values`` by nearest rank on ``n - 1`` steps; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]
