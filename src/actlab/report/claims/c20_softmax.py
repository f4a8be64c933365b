r"""C20 - softmax outputs a probability distribution that keeps the order of its inputs; the naive
:math:`e^{a_i}/\sum_j e^{a_j}` overflows for large inputs, and subtracting the maximum fixes it.

Tutorial 003 (section 2.4): softmax's outputs are real numbers in :math:`[0, 1]` summing to 1, so they read
as probabilities; "the output keeps the same order as the input, because :math:`y = \exp(x)` is
monotonic"; its example ``softmax([0.3, 2.9, 4.0]) = [0.01821127 0.24519181 0.73659691]``, with the
stable line ``exp_a = np.exp(a - np.max(a))`` commented out next to the naive one. Tutorial 001:
softmax maps a k-vector to values in (0, 1) that sum to 1.

Measured:

* **distribution and order** - the catalog's ``actlab.functional.softmax`` (float32) on random vectors
  of 10 logits at scales 1, 10, 100, 1000: every output in :math:`[0, 1]`, :math:`|\sum y - 1|` within a
  few float32 ulps, no order inversion (:math:`x_i > x_j` but :math:`y_i < y_j`), and the error against
  a 50-digit ``mpmath`` reference. Ties :math:`y_i = y_j` for :math:`x_i > x_j` (when both round to 0)
  are counted separately: in exact arithmetic the order is strict, in floating point it can only tie.
* **overflow** - the tutorial's example shifted by :math:`c` (softmax is shift invariant,
  :math:`\mathrm{softmax}(a + c) = \mathrm{softmax}(a)`): the naive NumPy form in float32 and float64
  gives ``inf/inf = nan`` once :math:`\max a + c > \ln(\text{largest float})` (88.72 / 709.78), and
  ``0/0 = nan`` for very negative :math:`c`; the max-subtracted form and the catalog stay finite and
  equal to the unshifted answer for every :math:`c`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

EXAMPLE = [0.3, 2.9, 4.0]
EXAMPLE_OUT = [0.01821127, 0.24519181, 0.73659691]  # as printed by the tutorial (8 decimals)
SCALES = (1.0, 10.0, 100.0, 1000.0)
#: |sum - 1| allowed for float32 outputs of 10 logits (a few ulps of 1.0 = 1.19e-7).
SUM_TOL = 1e-6
#: max |y - exact| allowed for float32 outputs (probabilities in [0, 1]).
ABS_TOL = 1e-6


def _naive(a: np.ndarray) -> np.ndarray:
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _stable(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _exact(a: np.ndarray) -> np.ndarray:
    """50-digit mpmath softmax of each row (float64 inputs are exact binary numbers)."""
    import mpmath

    out = np.empty(a.shape, dtype=np.float64)
    with mpmath.workdps(50):
        for r, row in enumerate(np.asarray(a, dtype=np.float64)):
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
            s = mpmath.fsum(e)
            out[r] = [float(v / s) for v in e]
    return out


def _first_overflow(a: np.ndarray, dt: type) -> float:
    """The smallest max input (to float precision, by bisection on the shift c) at which the naive form of
    softmax(a + c) in dtype ``dt`` is no longer finite."""
    lo, hi = 0.0, 4000.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if np.isfinite(_naive((a + mid).astype(dt))).all():
                lo = mid
            else:
                hi = mid
    return float(np.max((a + hi).astype(dt)))


def measure(ctx: Context) -> Evidence:
    n_vec = ctx.pick(200, 2000, 20)
    g = torch.Generator().manual_seed(0)
    sm = actlab.functional.softmax
    # -- distribution and order on random vectors ------------------------------------------------
    per_scale: dict[str, Any] = {}
    for s in SCALES:
        x = (torch.randn(n_vec, 10, generator=g, dtype=torch.float64) * s).to(torch.float32)
        y = sm(x, dim=-1)
        exact = _exact(x.double().numpy())
        xi, xj = x.unsqueeze(2), x.unsqueeze(1)
        yi, yj = y.unsqueeze(2), y.unsqueeze(1)
        greater = xi > xj
        per_scale[str(s)] = {
            "min": float(y.min()), "max": float(y.max()),
            "max_abs_sum_minus_1": float((y.double().sum(-1) - 1).abs().max()),
            "inversions": int((greater & (yi < yj)).sum()),
            "ties": int((greater & (yi == yj)).sum()),
            "ordered_pairs": int(greater.sum()),
            "max_abs_err_vs_exact": float(np.abs(y.double().numpy() - exact).max()),
            "all_finite": bool(torch.isfinite(y).all()),
        }
    # -- the tutorial's example --------------------------------------------------------------------
    ex = np.array(EXAMPLE)
    ex_cat = sm(torch.tensor(ex), dim=-1).numpy()
    ex_naive = _naive(ex)
    # -- overflow of the naive form vs the stable forms, shifting the example by c -----------------
    shifts = np.concatenate([-np.geomspace(2000, 1, 60), [0.0], np.geomspace(1, 2000, 240)])
    curves: dict[str, np.ndarray] = {}
    first_bad: dict[str, float | None] = {}
    last_bad_neg: dict[str, float | None] = {}
    stable_ok: dict[str, bool] = {}
    stable_err: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the naive form's overflow is the point
        for dt in (np.float32, np.float64):
            a = (ex[None] + shifts[:, None]).astype(dt)
            name = np.dtype(dt).name
            naive = _naive(a)
            stable = _stable(a)
            cat = sm(torch.from_numpy(a), dim=-1).numpy()
            bad = ~np.isfinite(naive).all(axis=1)
            neg = bad & (shifts < 0)
            first_bad[name] = _first_overflow(ex, dt)
            last_bad_neg[name] = float(shifts[neg].max() + ex.max()) if neg.any() else None
            # the shifted inputs are rounded to dt, so compare with the exact softmax of the rounded rows
            ref_rows = _exact(a.astype(np.float64))
            stable_ok[name] = bool(np.isfinite(stable).all() and np.isfinite(cat).all())
            stable_err[name] = float(max(np.abs(stable - ref_rows).max(), np.abs(cat - ref_rows).max()))
            finite = np.isfinite(naive).all(1)
            curves[f"naive {name}"] = np.where(finite, np.abs(naive - ref_rows).max(1), np.nan)
            curves[f"catalog {name}"] = np.abs(cat - ref_rows).max(1)
    numbers: dict[str, Any] = {
        "per_scale": per_scale,
        "example": {"input": EXAMPLE, "stated": EXAMPLE_OUT, "catalog": ex_cat.tolist(),
                    "naive": ex_naive.tolist(),
                    "max_abs_diff_stated": float(np.abs(ex_cat - np.array(EXAMPLE_OUT)).max())},
        "naive_first_overflow_max_input": first_bad,
        "naive_last_underflow_max_input": last_bad_neg,
        "predicted_overflow": {"float32": math.log(float(np.finfo(np.float32).max)),
                               "float64": math.log(float(np.finfo(np.float64).max))},
        "stable_all_finite": stable_ok,
        "stable_max_abs_err": stable_err,
        "sum_tol": SUM_TOL, "abs_tol": ABS_TOL,
    }

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.2), gridspec_kw={"width_ratios": [1.6, 1]})
    xs = shifts + ex.max()
    for (label, c), style in zip(curves.items(), ("C3-", "C0--", "C1-", "C2--")):
        c = np.where(np.isfinite(c), np.maximum(c, 1e-18), np.nan)
        a.plot(xs, c, style, label=label, lw=1.3)
    for name, col in (("float32", "C3"), ("float64", "C1")):
        v = numbers["predicted_overflow"][name]
        a.axvline(v, color=col, ls=":", lw=0.8)
        a.annotate(f"ln max\n{name}\n{v:.2f}", (v * 1.1, 1e-4), fontsize=6, color=col)
    a.set_yscale("log")
    a.set_xscale("symlog", linthresh=1.0)
    a.set(xlabel="largest input max(a)", ylabel="max |softmax - exact|",
          title="naive form: NaN (line ends) once exp overflows", ylim=(1e-19, 1))
    a.legend(fontsize=7, loc="lower left")
    w = 0.38
    idx = np.arange(3)
    b.bar(idx - w / 2, ex / ex.sum(), w, label="input / sum (not softmax)", color="lightgrey")
    b.bar(idx + w / 2, ex_cat, w, label="softmax", color="C0")
    for i, v in enumerate(ex_cat):
        b.annotate(f"{v:.8f}", (i + w / 2, v), fontsize=6, ha="center", va="bottom")
    b.set(xticks=idx, xticklabels=[str(v) for v in EXAMPLE], xlabel="input a",
          title=f"example: sum = {ex_cat.sum():.15f}", ylim=(0, 0.85))
    b.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: the tutorial's example shifted so that its largest input runs from "
                             "-2000 to 2000. The naive form's error line stops (NaN) beyond ln(largest "
                             "float) - 88.72 in float32, 709.78 in float64 - and for very negative inputs "
                             "(0/0); the catalog's max-subtracted softmax stays at rounding level "
                             "everywhere. Right: the tutorial's example; the outputs keep the inputs' order "
                             "and sum to 1.")
    rows = [[s, f"{d['min']:.3g}", f"{d['max']:.3g}", f"{d['max_abs_sum_minus_1']:.2g}", d["inversions"],
             d["ties"], d["ordered_pairs"], f"{d['max_abs_err_vs_exact']:.2g}"] for s, d in per_scale.items()]
    table = Table(["logit scale", "min y", "max y", "max |sum - 1|", "order inversions",
                   "ties (rounded to equal)", "ordered pairs", "max |y - exact|"], rows,
                  f"Catalog softmax, float32, {n_vec} random vectors of 10 logits per scale.")
    return Evidence(numbers, {"vectors_per_scale": n_vec, "logits": 10, "scales": list(SCALES),
                              "shifts": "example + c, c in [-2000, 2000] (300 values, geometric); "
                                        "overflow onset by bisection",
                              "reference": "mpmath, 50 digits"}, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Every part must hold: distribution (range, sum), no order inversion, the tutorial's example, the
    naive form non-finite from (about) ln(largest float) on, the stable forms finite and accurate."""
    ps = numbers["per_scale"].values()
    parts = {
        "outputs in [0, 1]": all(d["min"] >= 0.0 and d["max"] <= 1.0 for d in ps),
        "sums to 1": all(d["max_abs_sum_minus_1"] <= numbers["sum_tol"] for d in ps),
        "keeps the order": all(d["inversions"] == 0 for d in ps),
        "accurate": all(d["max_abs_err_vs_exact"] <= numbers["abs_tol"] for d in ps),
        "tutorial example": numbers["example"]["max_abs_diff_stated"] <= 5e-9,
        "naive overflows at ln(max float)": all(
            abs(numbers["naive_first_overflow_max_input"][k] - numbers["predicted_overflow"][k]) <= 1e-3
            for k in ("float32", "float64")),
        "subtracting the max fixes it": all(numbers["stable_all_finite"].values())
        and max(numbers["stable_max_abs_err"].values()) <= numbers["abs_tol"],
    }
    failed = [k for k, v in parts.items() if not v]
    of = numbers["naive_first_overflow_max_input"]
    ties = sum(d["ties"] for d in ps)
    if not failed:
        worst = max(d["max_abs_sum_minus_1"] for d in ps)
        return Verdict(CONFIRMED, f"Outputs in [0, 1] summing to 1 within {worst:.1g}, no order inversion "
                                  f"({ties} pairs tie after rounding); naive form NaN from max input "
                                  f"{of['float32']:.4g} (float32) / {of['float64']:.4g} (float64), as "
                                  f"ln(max float) predicts; max-subtracted softmax finite, error "
                                  f"{max(numbers['stable_max_abs_err'].values()):.1g}.")
    return Verdict(REFUTED, "Fails: " + ", ".join(failed) + f" (naive form non-finite from max input {of}, "
                            f"predicted {numbers['predicted_overflow']}).")


CLAIM = Claim(
    id="C20",
    title="softmax: distribution, order, overflow",
    rule="Catalog softmax on random float32 logits (scales 1..1000) and the tutorial's example shifted by "
         "c in [-2000, 2000]: confirmed if outputs lie in [0, 1], sum to 1 within 1e-6, never invert the "
         "inputs' order, match a 50-digit reference within 1e-6 and the tutorial's printed example, the "
         "naive exp(a)/sum overflows to NaN once max(a) passes ln(largest float) (88.72 float32, 709.78 "
         "float64), and the max-subtracted forms stay finite and accurate; refuted if any part fails.",
    measure=measure,
    decide=decide,
)
