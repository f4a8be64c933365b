r"""C25 - "sigmoid maps inputs above 1.0 to 1.0 and inputs below 0.0 to 0.0".

Tutorial 001 (section 1) says of the logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`: "inputs
larger than 1.0 are converted to 1.0, likewise values smaller than 0.0 are snapped to 0.0". That
describes the clip :math:`\min(1, \max(0, x))` (hard-tanh with bounds 0 and 1), not sigmoid, whose
outputs only approach 0 and 1 as :math:`x \to \mp\infty`.

Measured exactly: :math:`\sigma` (the catalog's functional form) in float64 on dyadic grids of
:math:`(1, 10]` and :math:`[-10, 0)`, the stated points, and for completeness where float rounding
makes :math:`\sigma(x)` *equal* to 1.0 or 0.0 in float32 and float64 (far beyond 1 and 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

STEP = 2.0**-10
POINTS = (-5.0, -1.0, -0.5, -2.0**-10, 1.0 + 2.0**-10, 1.5, 2.0, 5.0)


def _sigmoid(x: torch.Tensor) -> torch.Tensor:
    return actlab.functional.sigmoid(x)


def _first_x(dtype: torch.dtype, value: float, lo: float, hi: float) -> float:
    """The first x of the 2^-6 grid from ``lo`` towards ``hi`` from which sigmoid(x) == ``value`` in
    ``dtype`` for the rest of the range."""
    n = round(abs(hi - lo) * 64)
    x = (torch.arange(n + 1, dtype=torch.float64) / 64 * np.sign(hi - lo) + lo).to(dtype)
    eq = (_sigmoid(x) == value).numpy()
    if not eq[-1]:
        return float("nan")
    ne = np.nonzero(~eq)[0]
    return float(x[ne[-1] + 1]) if len(ne) else float(x[0])


def measure(ctx: Context) -> Evidence:
    hi = ctx.pick(10.0, 10.0, 4.0)
    above = torch.arange(1, int(hi / STEP) + 1, dtype=torch.float64) * STEP
    above = above[above > 1.0]
    below = -torch.arange(1, int(hi / STEP) + 1, dtype=torch.float64) * STEP
    s_above, s_below = _sigmoid(above).numpy(), _sigmoid(below).numpy()
    pts = torch.tensor(POINTS, dtype=torch.float64)
    at = {f"{p:g}": float(v) for p, v in zip(POINTS, _sigmoid(pts).numpy(), strict=True)}
    numbers: dict[str, Any] = {
        "grid": {"above": [float(above[0]), float(above[-1])], "below": [float(below[-1]), float(below[0])],
                 "step": STEP},
        "fraction_above_1_mapped_to_1": float(np.mean(s_above == 1.0)),
        "fraction_below_0_mapped_to_0": float(np.mean(s_below == 0.0)),
        "max_gap_above_1": float(np.max(1.0 - s_above)),  # sup over x > 1 of 1 - sigmoid(x)
        "max_value_below_0": float(np.max(s_below)),
        "sigmoid_at": at,
        "equals_1_from": {"float32": _first_x(torch.float32, 1.0, 0.0, 200.0),
                          "float64": _first_x(torch.float64, 1.0, 0.0, 200.0)},
        "equals_0_from": {"float32": _first_x(torch.float32, 0.0, 0.0, -800.0),
                          "float64": _first_x(torch.float64, 0.0, 0.0, -800.0)},
    }

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    x = np.linspace(-3, 4, 701)
    ax.plot(x, 1 / (1 + np.exp(-x)), "C1", label="sigmoid")
    ax.plot(x, np.clip(x, 0, 1), "k--", lw=1, label="the stated map: clip(x, 0, 1)")
    for p in (-0.5, 1.5, 2.0):
        ax.plot([p], [at[f"{p:g}"]], "o", color="C1", ms=4)
        ax.annotate(f"sigmoid({p:g}) = {at[f'{p:g}']:.4f}", (p, at[f"{p:g}"]), fontsize=7,
                    xytext=(4, -12 if p > 0 else 6), textcoords="offset points")
    ax.axvspan(1, 4, color="C0", alpha=0.07)
    ax.axvspan(-3, 0, color="C3", alpha=0.07)
    ax.set(xlabel="x", ylabel="output", title="sigmoid vs 'above 1 -> 1, below 0 -> 0'")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    figure = ctx.figure(fig, "sigmoid (orange) against the map the tutorial describes (dashed): in "
                             "the shaded regions x > 1 and x < 0 sigmoid stays strictly between 0 and 1, "
                             "e.g. "
                             f"sigmoid(1.5) = {at['1.5']:.4f}, sigmoid(-0.5) = {at['-0.5']:.4f}.")
    rows = [[k, f"{v:.10f}"] for k, v in at.items()]
    table = Table(["x", "sigmoid(x) (float64)"], rows,
                  "sigmoid at points on both sides of the stated limits.")
    notes = (f"sigmoid(x) rounds to exactly 1.0 only from x = {numbers['equals_1_from']['float32']:g} "
             f"(float32) / {numbers['equals_1_from']['float64']:g} (float64), and to exactly 0.0 only from "
             f"x = {numbers['equals_0_from']['float32']:g} / {numbers['equals_0_from']['float64']:g}.")
    return Evidence(numbers, {"grid": f"k * 2^-10 in (1, {hi:g}] and [-{hi:g}, 0), float64",
                              "function": "actlab.functional.sigmoid"}, [figure], [table], notes)


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed iff sigmoid is exactly 1.0 at every grid point above 1 and exactly 0.0 at every grid
    point below 0."""
    f1, f0 = numbers["fraction_above_1_mapped_to_1"], numbers["fraction_below_0_mapped_to_0"]
    at = numbers["sigmoid_at"]
    if f1 == 1.0 and f0 == 1.0:
        return Verdict(CONFIRMED, "sigmoid is exactly 1.0 at every grid point above 1 and exactly 0.0 at "
                                  "every grid point below 0.")
    return Verdict(REFUTED, f"sigmoid(1.5) = {at['1.5']:.4f} and sigmoid(-0.5) = {at['-0.5']:.4f}: "
                            f"{100 * f1:.4g}% of the grid above 1 maps to 1.0 (the gap 1 - sigmoid(x) "
                            f"reaches {numbers['max_gap_above_1']:.4f}) and {100 * f0:.4g}% below 0 maps to "
                            "0.0 "
                            f"(values up to {numbers['max_value_below_0']:.4f}); that is clip(x, 0, 1), "
                            "not sigmoid.")


CLAIM = Claim(
    id="C25",
    title="sigmoid maps x > 1 to 1 and x < 0 to 0",
    rule="Evaluate sigmoid exactly (float64) on grids of (1, 10] and [-10, 0): confirmed only if every "
         "point above 1 gives exactly 1.0 and every point below 0 exactly 0.0; refuted otherwise.",
    measure=measure,
    decide=decide,
)
