r"""C18 - softplus :math:`\ln(1 + e^x)` is a smooth ReLU and its derivative is the logistic sigmoid.

Tutorial 004 (after Glorot et al. 2011): "a smooth analytic approximation of ReLU is
:math:`f(x) = \ln(1 + e^x)`, the softplus function; the derivative of softplus is the logistic function
:math:`1/(1 + e^{-x})`".

Exact checks, in float64 on a dense grid of :math:`[-40, 40]`:

* **derivative = sigmoid**: :math:`\frac{d}{dx}\ln(1+e^x) = \frac{e^x}{1+e^x} = \sigma(x)`. Measured
  three ways against an independent NumPy sigmoid: autograd through the catalog's
  ``actlab.functional.softplus``, the catalog's declared derivative ``spec("softplus").derivative``,
  and central finite differences of an independent NumPy ``log1p(exp(x))`` (error
  :math:`O(h^2)`, about 1e-10 at :math:`h = 10^{-5}`).
* **smooth ReLU**: the gap :math:`\mathrm{softplus}(x) - \mathrm{relu}(x) = \ln(1 + e^{-|x|})` is
  positive, largest at 0 (exactly :math:`\ln 2`), strictly decreasing in :math:`|x|` (it is below
  :math:`e^{-|x|}`), so it vanishes away from 0; and softplus' derivative is continuous (its largest jump
  between neighbouring grid points shrinks with the grid step) while ReLU's jumps by 1 at 0.

The catalog's softplus switches to the identity above ``beta * x > threshold`` (20, as PyTorch); there
its derivative is 1 instead of :math:`\sigma(x) = 1 - 2\cdot 10^{-9}`, so the tolerance for the catalog
comparisons is 1e-8 and the jump there is reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

#: Largest allowed |softplus' - sigmoid| for the catalog's autograd/derivative (its threshold switch
#: at x = 20 costs sigmoid(-20) = 2.06e-9) and for finite differences (O(h^2) + rounding).
TOL_CATALOG = 1e-8
TOL_FINITE_DIFF = 1e-7
#: "vanishes away from 0": the gap at |x| = 10 must be below this (ln(1 + e^-10) = 4.54e-5).
GAP_AT_10_MAX = 1e-4


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    """Independent logistic function, stable for both signs."""
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _np_softplus(x: np.ndarray) -> np.ndarray:
    """Independent softplus: max(x, 0) + log1p(exp(-|x|)) (no overflow)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def measure(ctx: Context) -> Evidence:
    n = ctx.pick(200_001, 2_000_001, 20_001)
    x = np.linspace(-40.0, 40.0, n)
    sig = _np_sigmoid(x)

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    sp = actlab.functional.softplus(xt)
    (grad,) = torch.autograd.grad(sp.sum(), xt)
    autograd_err = np.abs(grad.numpy() - sig)
    declared = actlab.spec("softplus").derivative(xt.detach()).numpy()
    declared_err = np.abs(declared - sig)
    h = 1e-5
    fd = (_np_softplus(x + h) - _np_softplus(x - h)) / (2 * h)
    fd_err = np.abs(fd - sig)
    catalog_sigmoid_err = np.abs(actlab.functional.sigmoid(xt.detach()).numpy() - sig)

    # smooth ReLU: the gap to relu
    sp_np = sp.detach().numpy()
    relu_np = actlab.functional.relu(xt.detach()).numpy()
    gap = sp_np - relu_np
    i0 = int(np.argmin(np.abs(x)))
    right = gap[i0:]
    left = gap[:i0 + 1][::-1]
    # strictly decreasing in |x| while the gap is representable (> 1e-300: no underflow to 0)
    dec = all(bool(np.all(np.diff(s[s > 1e-300]) < 0)) for s in (right, left))
    gap_at = {str(v): float(_np_softplus(np.array([v]))[0] - max(v, 0.0))
              for v in (1.0, 3.0, 5.0, 10.0, 20.0)}
    # continuity of the catalog's derivative: largest jump between grid neighbours, for two grid steps
    jumps = []
    for m in ((n - 1) // 10 + 1, n):
        xs = torch.linspace(-40.0, 40.0, m, dtype=torch.float64)
        d = actlab.spec("softplus").derivative(xs).numpy()
        jumps.append([float(xs[1] - xs[0]), float(np.max(np.abs(np.diff(d))))])
    inside = np.abs(x) < 20.0
    numbers: dict[str, Any] = {
        "grid": {"lo": -40.0, "hi": 40.0, "n": n},
        "max_err_autograd": float(autograd_err.max()),
        "max_err_autograd_below_threshold": float(autograd_err[inside].max()),
        "max_err_declared_derivative": float(declared_err.max()),
        "max_err_finite_differences": float(fd_err.max()),
        "max_err_catalog_sigmoid": float(catalog_sigmoid_err.max()),
        "threshold_jump": float(1.0 - _np_sigmoid(np.array([20.0]))[0]),
        "gap_at_0": float(gap[i0]),
        "gap_at_0_exact": math.log(2.0),
        "gap_min": float(gap.min()),
        "gap_decreasing_in_abs_x": dec,
        "gap_at": gap_at,
        "derivative_max_jump": jumps,
        "relu_derivative_jump_at_0": 1.0,
        "tol_catalog": TOL_CATALOG, "tol_finite_diff": TOL_FINITE_DIFF, "gap_at_10_max": GAP_AT_10_MAX,
    }

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    sel = np.abs(x) <= 6
    a.plot(x[sel], sp_np[sel], label="softplus ln(1+e^x)", lw=1.6)
    a.plot(x[sel], relu_np[sel], "k--", label="relu max(0, x)", lw=1)
    a.plot(x[sel], gap[sel], label="gap = ln(1+e^-|x|)", lw=1.2)
    a.plot([0], [math.log(2)], "o", ms=4, color="C1")
    a.annotate("ln 2", (-1.6, math.log(2) + 0.15), fontsize=8)
    a.set(xlabel="x", title="softplus hugs relu; gap largest (ln 2) at 0")
    a.legend(fontsize=7)
    floor = 1e-18
    b.semilogy(x, np.maximum(autograd_err, floor), label="autograd(catalog) - sigmoid", lw=0.8)
    b.semilogy(x, np.maximum(fd_err, floor), label="finite diff. (NumPy) - sigmoid", lw=0.8, alpha=0.7)
    b.axhline(TOL_CATALOG, color="k", ls=":", lw=0.8, label=f"tolerance {TOL_CATALOG:g}")
    b.axvline(20.0, color="grey", ls="--", lw=0.6)
    b.set(xlabel="x", ylabel="|softplus'(x) - sigmoid(x)|", ylim=(floor / 2, 1e-2),
          title="derivative vs sigmoid (0 drawn at 1e-18)")
    b.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: softplus lies above relu by ln(1+e^-|x|), at most ln 2 at x = 0 and "
                             "vanishing away from 0. Right: |softplus' - sigmoid| on a log scale; float64 "
                             "rounding level everywhere except past the catalog's threshold x > 20 (dashed), "
                             "where softplus becomes x and its slope 1 differs from sigmoid by 2e-9.")
    table = Table(["check", "measured", "tolerance"], [
        ["max |autograd softplus' - sigmoid|", f"{numbers['max_err_autograd']:.3g}", TOL_CATALOG],
        ["  same, |x| < 20", f"{numbers['max_err_autograd_below_threshold']:.3g}", TOL_CATALOG],
        ["max |declared derivative - sigmoid|", f"{numbers['max_err_declared_derivative']:.3g}", TOL_CATALOG],
        ["max |finite difference - sigmoid|", f"{numbers['max_err_finite_differences']:.3g}",
         TOL_FINITE_DIFF],
        ["gap at 0 (ln 2 = 0.693147...)", f"{numbers['gap_at_0']:.15g}", "1e-12"],
        ["gap at |x| = 10", f"{gap_at['10.0']:.3g}", GAP_AT_10_MAX],
    ], "Exact checks on a float64 grid of [-40, 40].")
    return Evidence(numbers, {"grid": f"{n} float64 points on [-40, 40]", "finite_difference_h": h,
                              "catalog": "actlab.functional.softplus (beta 1, threshold 20)"},
                    [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Both halves must hold: the derivative matches sigmoid within tolerance by all three methods, and
    the gap to relu is ln 2 at 0, positive, decreasing in |x|, below 1e-4 at |x| = 10, and the derivative
    is continuous (its neighbour jumps shrink with the grid step)."""
    deriv = {
        "autograd": numbers["max_err_autograd"] <= numbers["tol_catalog"],
        "declared derivative": numbers["max_err_declared_derivative"] <= numbers["tol_catalog"],
        "finite differences": numbers["max_err_finite_differences"] <= numbers["tol_finite_diff"],
    }
    jumps = numbers["derivative_max_jump"]
    smooth = {
        "gap ln 2 at 0": abs(numbers["gap_at_0"] - numbers["gap_at_0_exact"]) <= 1e-12,
        "gap positive": numbers["gap_min"] >= 0.0,
        "gap decreasing in |x|": bool(numbers["gap_decreasing_in_abs_x"]),
        "gap vanishes (|x| = 10)": numbers["gap_at"]["10.0"] <= numbers["gap_at_10_max"],
        # continuous derivative: a 10x finer grid shrinks the largest neighbour jump about 10x
        "derivative continuous": jumps[1][1] < jumps[0][1] / 5,
    }
    failed = [k for k, v in {**deriv, **smooth}.items() if not v]
    errs = (f"max |softplus' - sigmoid| = {numbers['max_err_autograd']:.2g} (autograd), "
            f"{numbers['max_err_finite_differences']:.2g} (finite differences)")
    if not failed:
        return Verdict(CONFIRMED, f"{errs}; gap to relu is {numbers['gap_at_0']:.6f} = ln 2 at 0, falls "
                                  f"to {numbers['gap_at']['10.0']:.2g} at |x| = 10: a smooth ReLU whose "
                                  "derivative is sigmoid.")
    return Verdict(REFUTED, f"Fails: {', '.join(failed)} ({errs}; gap at 0 {numbers['gap_at_0']:.6g}, at "
                            f"|x| = 10 {numbers['gap_at']['10.0']:.2g}).")


CLAIM = Claim(
    id="C18",
    title="softplus is a smooth ReLU with derivative sigmoid",
    rule="On a float64 grid of [-40, 40]: confirmed if softplus' (autograd of the catalog, its declared "
         "derivative: within 1e-8; central finite differences of an independent NumPy softplus: within "
         "1e-7) equals an independent sigmoid, and softplus - relu is ln 2 at 0, non-negative, strictly "
         "decreasing in |x| and below 1e-4 at |x| = 10, and softplus' largest jump between grid neighbours "
         "shrinks over 5x on a 10x finer grid (continuous); refuted if any check fails.",
    measure=measure,
    decide=decide,
)
