"""Statistics shared by the training claims (C12-C16): paired comparisons over seeds, final accuracy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def compare(a: list[float], b: list[float], margin: float) -> dict[str, Any]:
    """Paired comparison of a - b (seed by seed): mean difference, its standard error, and the outcome
    +1 (a larger by >= margin and > 2 SE), -1 (smaller likewise), 0 (established tie: |diff| + 2 SE <
    margin) or None (undetermined: neither)."""
    d = np.array(a, dtype=float) - np.array(b, dtype=float)
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.inf
    if abs(mean) >= margin and abs(mean) > 2 * se:
        out: int | None = 1 if mean > 0 else -1
    elif abs(mean) + 2 * se < margin:
        out = 0
    else:
        out = None
    return {"diff": mean, "se": se, "outcome": out, "n": int(d.size)}


def final_accuracy(r: Any, chance: float = 0.1) -> float:
    """A trial's final test accuracy; a diverged or failed run counts as ``chance`` (0.1 on digits)."""
    return float(r.final["test_acc"]) if r.status == "ok" and "test_acc" in r.final else chance
