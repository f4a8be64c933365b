"""Statistics shared by the claims: paired comparisons over seeds, the spread over seeds, a trial's final
accuracy (a diverged run counts as chance, never as a missing value)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def compare(a: list[float], b: list[float], margin: float) -> dict[str, Any]:
    """Paired comparison of a - b (seed by seed): mean difference, its standard error, and the outcome
    +1 (a larger by >= margin and significantly: |diff| > t SE, the two-sided 95% Student t critical
    value with n - 1 degrees of freedom, 4.30 for 3 seeds), -1 (smaller likewise), 0 (established tie,
    the two one-sided tests at 5%: |diff| + t' SE < margin, t' the one-sided 95% value, 2.92 for 3
    seeds) or None (undetermined: neither)."""
    d = np.array(a, dtype=float) - np.array(b, dtype=float)
    mean = float(d.mean())
    n = int(d.size)
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    t_diff, t_tie = t_critical(n)
    out: int | None
    if abs(mean) >= margin and abs(mean) > t_diff * se:  # NaN (a missing value) compares False: None
        out = 1 if mean > 0 else -1
    elif abs(mean) + t_tie * se < margin:
        out = 0
    else:
        out = None
    return {"diff": mean, "se": se, "outcome": out, "n": n, "t": t_diff}


def t_critical(n: int) -> tuple[float, float]:
    """Student t critical values for n paired seeds: (two-sided 95%, one-sided 95%); inf below 2."""
    if n < 2:
        return math.inf, math.inf
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1)), float(t.ppf(0.95, n - 1))


def final_accuracy(r: Any, chance: float = 0.1) -> float:
    """A trial's final test accuracy; a diverged or failed run counts as ``chance`` (0.1 on digits)."""
    return float(r.final["test_acc"]) if r.status == "ok" and "test_acc" in r.final else chance


def sample_std(values: Any) -> float:
    """The sample standard deviation over seeds (ddof 1); 0.0 for a single value. NaN stays NaN: a
    missing value is never dropped silently (count diverged runs with :func:`final_accuracy`)."""
    v = np.asarray(values, dtype=float)
    return float(np.std(v, ddof=1)) if v.size > 1 else 0.0


@functools.cache
def chance_accuracy(dataset: str) -> float:
    """The test accuracy of always predicting the test split's most frequent class (the 'chance' level a
    diverged run is counted at)."""
    from actlab import data

    y = data.load(dataset, seed=0).y_test
    return float(y.bincount().max()) / len(y)


def mean_curve(curves: Sequence[Sequence[float]], fill: float) -> list[float]:
    """Mean over runs of a per-epoch value; a run that stopped early (diverged) continues at ``fill``."""
    if not curves:
        return []
    n = max(len(c) for c in curves)
    return np.mean([[*c, *([fill] * (n - len(c)))] for c in curves], 0).tolist()
