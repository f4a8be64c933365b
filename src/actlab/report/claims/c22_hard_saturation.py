r"""C22 - hard saturation of hard-sigmoid and hard-tanh, soft saturation of sigmoid and tanh.

Tutorial 002 (Gulcehre et al., *Noisy Activation Functions*, ICML 2016, section 2, definition 2.3):
:math:`h` saturates *hard* when :math:`h'(x) = 0` exactly for every :math:`x` beyond a constant
:math:`c`; sigmoid and tanh saturate only *softly* (:math:`h' \to 0` in the limit). hard-sigmoid
:math:`\max(0, \min(1, x/4 + 1/2))` "is saturated for :math:`x \le -2` and :math:`x \ge 2`", hard-tanh
:math:`\max(-1, \min(1, x))` for :math:`|x| \ge 1` (threshold :math:`x_t = 2` and :math:`1`).

Measured exactly in float64 on the dyadic grid :math:`k \cdot 2^{-10}`, :math:`|x| \le 40` (the
thresholds are grid points): the gradient autograd gives through the catalog modules (what training
sees), the catalog's analytic derivative, and the function values at and just inside the thresholds.
sigmoid's and tanh's derivatives :math:`\sigma(1-\sigma)` and :math:`\mathrm{sech}^2` are positive for
every real :math:`x`; float arithmetic rounds them to 0 far out (autograd's :math:`y(1-y)` once
:math:`\sigma(x)` rounds to 1), which the notes report as a numerical, not a mathematical, zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

#: The tutorial's thresholds x_t and the slopes inside them.
HARD = {"hard_sigmoid": 2.0, "hard_tanh": 1.0}
SOFT = ("sigmoid", "tanh")
STEP = 2.0**-10
HALF_WIDTH = 40.0


def _autograd(name: str, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f'(x)) by autograd through the catalog module."""
    x = x.clone().requires_grad_(True)
    y = actlab.get(name)(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach().numpy(), g.numpy()


def _zero_from(name: str, dtype: torch.dtype) -> float:
    """The smallest x > 0 (on a 2^-6 grid up to 800) from which autograd's f'(x) is 0 in ``dtype``."""
    x = torch.arange(1, 800 * 64 + 1, dtype=dtype) / 64
    _, g = _autograd(name, x)
    nz = np.nonzero(g != 0)[0]
    if len(nz) == len(g):
        return float("inf")
    return float(x[nz[-1] + 1]) if len(nz) else float(x[0])


def measure(ctx: Context) -> Evidence:
    half = ctx.pick(HALF_WIDTH, HALF_WIDTH, 8.0)
    n = int(half / STEP)
    x = torch.arange(-n, n + 1, dtype=torch.float64) * STEP
    xn = x.numpy()
    numbers: dict[str, Any] = {"grid": {"half_width": half, "step": STEP, "points": len(xn)}}
    rows = []
    curves: dict[str, np.ndarray] = {}
    for name, t in HARD.items():
        y, g = _autograd(name, x)
        analytic = actlab.spec(name).derivative(x).numpy()
        lo, hi = float(y.min()), float(y.max())
        beyond, inside = np.abs(xn) >= t, np.abs(xn) < t
        just_inside = np.array([-t + STEP, t - STEP])
        y_in, _ = _autograd(name, torch.tensor(just_inside, dtype=torch.float64))
        y_at, g_at = _autograd(name, torch.tensor([-t, t], dtype=torch.float64))
        sat = actlab.spec(name).properties().saturation
        numbers[name] = {
            "threshold_stated": t,
            "max_abs_grad_beyond": float(np.abs(g[beyond]).max()),
            "max_abs_analytic_beyond": float(np.abs(analytic[beyond]).max()),
            "min_abs_grad_inside": float(np.abs(g[inside]).min()),
            "grad_at_threshold": [float(v) for v in g_at],
            "value_at_threshold": [float(v) for v in y_at],
            "value_just_inside": [float(v) for v in y_in],
            "bounds": [lo, hi],
            "catalog_saturation": [str(s) for s in sat],
            # hard: f' == 0 exactly beyond +-t (t included), f' != 0 everywhere inside,
            # and f already at its bound at +-t but not one grid step inside
            "hard_at_stated_threshold": bool(
                np.all(g[beyond] == 0) and np.all(analytic[beyond] == 0) and np.all(g[inside] != 0)
                and y_at[0] == lo and y_at[1] == hi and y_in[0] > lo and y_in[1] < hi),
        }
        curves[name] = g
        rows.append([name, f"|x| >= {t:g}", f"{numbers[name]['max_abs_grad_beyond']:g}",
                     f"{numbers[name]['min_abs_grad_inside']:g}",
                     ", ".join(numbers[name]["catalog_saturation"])])
    for name in SOFT:
        _, g = _autograd(name, x)
        analytic = actlab.spec(name).derivative(x).numpy()
        sat = actlab.spec(name).properties().saturation
        far = actlab.spec(name).derivative(torch.tensor([-half, half], dtype=torch.float64)).numpy()
        numbers[name] = {
            "min_analytic_derivative": float(analytic.min()),
            "analytic_derivative_at_ends": [float(v) for v in far],
            "autograd_zero_points_float64": int((g == 0).sum()),
            "autograd_zero_from_float64": _zero_from(name, torch.float64),
            "autograd_zero_from_float32": _zero_from(name, torch.float32),
            "catalog_saturation": [str(s) for s in sat],
            "soft": bool(np.all(analytic > 0) and all(s.kind == "soft" for s in sat)),
        }
        curves[name] = analytic
        rows.append([name, "none (soft)",
                     f"{numbers[name]['analytic_derivative_at_ends'][1]:.3g} at x = {half:g}",
                     f"{numbers[name]['min_analytic_derivative']:.3g}",
                     ", ".join(numbers[name]["catalog_saturation"])])
    numbers["parts"] = {
        "hard_sigmoid_hard_at_2": numbers["hard_sigmoid"]["hard_at_stated_threshold"],
        "hard_tanh_hard_at_1": numbers["hard_tanh"]["hard_at_stated_threshold"],
        "sigmoid_soft": numbers["sigmoid"]["soft"],
        "tanh_soft": numbers["tanh"]["soft"],
    }

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    sel = np.abs(xn) <= 4
    colors = {"hard_sigmoid": "C0", "sigmoid": "C1", "hard_tanh": "C2", "tanh": "C3"}
    for name, c in colors.items():
        a.plot(xn[sel], curves[name][sel], color=c, label=name, lw=1.4)
        pos = curves[name] > 0
        b.semilogy(xn[pos], curves[name][pos], color=c, label=name, lw=1.2)
        zx = xn[~pos][::256]
        if len(zx):  # exact zeros of the hard units' derivatives, one row each
            b.plot(zx, np.full(len(zx), 1e-38 if name == "hard_sigmoid" else 1e-41), "|", color=c, ms=6)
    for t in HARD.values():
        a.axvline(t, color="gray", ls=":", lw=0.8)
        a.axvline(-t, color="gray", ls=":", lw=0.8)
    a.set(xlabel="x", ylabel="f'(x)", title="derivatives (autograd / analytic)")
    a.legend(fontsize=7)  # same colours on the right
    b.set(xlabel="x", ylabel="f'(x) (log)", title="f' > 0 vs f' == 0 (ticks at the bottom)", ylim=(1e-43, 2))
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: the derivatives; hard-sigmoid's is exactly 0 beyond |x| = 2, hard-tanh's "
                             "beyond |x| = 1 (dotted). Right: on a log scale sigmoid's and tanh's "
                             "derivatives keep falling but stay positive; the ticks at the bottom mark "
                             "where the hard units' gradient is exactly 0 (upper row hard-sigmoid, lower "
                             "row hard-tanh).")
    table = Table(["function", "saturated where", "max |f'| there (or f' far out)",
                   "min |f'| inside (or overall)", "catalog saturation (left, right)"], rows,
                  f"float64 grid k * 2^-10, |x| <= {half:g}; autograd through the catalog modules.")
    notes = ("Numerically, autograd's sigmoid gradient y(1 - y) becomes exactly 0 once sigmoid(x) rounds to "
             f"1: from x = {numbers['sigmoid']['autograd_zero_from_float32']:g} in float32 and "
             f"x = {numbers['sigmoid']['autograd_zero_from_float64']:g} in float64 (tanh: "
             f"{numbers['tanh']['autograd_zero_from_float32']:g} / "
             f"{numbers['tanh']['autograd_zero_from_float64']:g})"
             " - a rounding artefact far out, not the hard saturation of the definition.")
    return Evidence(numbers, {"grid": f"k * 2^-{int(-np.log2(STEP))}, |x| <= {half:g}, float64",
                              "derivatives": "autograd through actlab.get(name) and spec.derivative"},
                    [figure], [table], notes)


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed when every part holds (hard zero gradient exactly from the stated thresholds on, soft
    positive derivative everywhere for sigmoid/tanh), refuted otherwise."""
    parts = numbers["parts"]
    failed = [k for k, v in parts.items() if not v]
    hs, ht = numbers["hard_sigmoid"], numbers["hard_tanh"]
    if not failed:
        sig, tanh = numbers["sigmoid"]["min_analytic_derivative"], numbers["tanh"]["min_analytic_derivative"]
        return Verdict(CONFIRMED, f"f' is exactly 0 for |x| >= 2 (hard-sigmoid, max |f'| there "
                                  f"{hs['max_abs_grad_beyond']:g}) and |x| >= 1 (hard-tanh, "
                                  f"{ht['max_abs_grad_beyond']:g}) and nonzero inside; sigmoid' and tanh' "
                                  f"stay positive (down to {sig:.3g} and {tanh:.3g} on the grid): soft.")
    return Verdict(REFUTED, "Fails: " + ", ".join(k.replace("_", " ") for k in failed) + "; holds: "
                   + (", ".join(k.replace("_", " ") for k, v in parts.items() if v) or "nothing") + ".")


CLAIM = Claim(
    id="C22",
    title="Hard vs soft saturation",
    rule="On a float64 grid containing the thresholds: confirmed if hard-sigmoid's and hard-tanh's gradients "
         "(autograd and analytic) are exactly 0 for |x| >= 2 and |x| >= 1, nonzero inside, the functions "
         "reach their bounds exactly at the thresholds and not one step inside, and sigmoid's and tanh's "
         "analytic derivatives are positive at every grid point (soft saturation, as the catalog declares); "
         "refuted if any part fails.",
    measure=measure,
    decide=decide,
)
