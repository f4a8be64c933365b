r"""C21 - fixed points of hard-sigmoid, sigmoid, hard-tanh and tanh, and whether they attract.

Tutorial 002 (a translation of Gulcehre et al., *Noisy Activation Functions*, ICML 2016, section 2)
says: hard-sigmoid :math:`\max(0, \min(1, x/4 + 1/2))` has the fixed point :math:`x = 2/3`,
sigmoid "about 0.69", every point of :math:`[-1, 1]` is a fixed point of hard-tanh, tanh's only
fixed point is 0, and tanh's and sigmoid's fixed points are attracting.

Measured exactly, with two independent methods: the catalog's ``spec(name).fixed_points``, and
sign changes of :math:`g(x) = f(x) - x` on a dense float64 grid refined by bisection (with
NumPy formulas written here, not the catalog's). A fixed point :math:`x^*` attracts when the
iteration :math:`x_{n+1} = f(x_n)` converges to it from nearby starts; :math:`|f'(x^*)| < 1` is
sufficient (geometric convergence), :math:`|f'(x^*)| = 1` (tanh at 0) needs the iteration itself:
it counts as attracting when, from starts :math:`x^* \pm 0.5, \pm 3`, the iterates move monotonically
towards :math:`x^*` without crossing it (a monotone bounded sequence converges, and its limit is a fixed
point, here the only one) and end within 5% of the nearest start's distance (tanh's error after n
steps is about :math:`\sqrt{3/2n}`, 0.0087 after 20000).
A stated decimal ("about 0.69") holds when it equals the true value rounded to its decimals, i.e.
within half a unit of its last digit (0.005).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

import actlab
from actlab.catalog.measure import bisect_root
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

#: The tutorial's stated values.
STATED = {"hard_sigmoid": 2.0 / 3.0, "sigmoid": 0.69, "tanh": 0.0}
#: "about 0.69": two decimals stated, so half a unit of the second decimal.
STATED_TOL = 0.005

_NUMPY_FNS = {
    "hard_sigmoid": lambda x: np.clip(0.25 * x + 0.5, 0.0, 1.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "tanh": np.tanh,
}
NAMES = tuple(_NUMPY_FNS)


def _roots(f: Any, lo: float = -10.0, hi: float = 10.0, n: int = 200_001) -> tuple[list[float], float]:
    """Isolated roots of f(x) - x (sign changes refined by bisection) and the measure of the set
    where f(x) == x exactly on the grid (an interval of fixed points shows as a positive length)."""
    x = np.linspace(lo, hi, n)
    g = f(x) - x
    exact = g == 0.0
    roots = []
    s = np.sign(g)
    for i in np.nonzero((s[:-1] * s[1:]) < 0)[0]:
        roots.append(bisect_root(lambda t: float(f(np.float64(t)) - t), float(x[i]), float(x[i + 1])))
    for i in np.nonzero(exact)[0]:
        if not exact[max(i - 1, 0)] and not exact[min(i + 1, n - 1)]:  # isolated exact zero
            roots.append(float(x[i]))  # (the ends of a run of exact zeros are not isolated roots)
    step = (hi - lo) / (n - 1)
    return sorted(set(roots)), float(exact.sum() * step)


def _iterate(f: Any, x0: np.ndarray, n: int) -> np.ndarray:
    """Iterates x <- f(x) from every start in ``x0`` at once: shape (n + 1, len(x0))."""
    out = np.empty((n + 1, len(x0)))
    out[0] = x0
    for i in range(n):
        out[i + 1] = f(out[i])
    return out


def _converges_monotonically(traj: np.ndarray, xs: float, tol: float = 1e-12) -> bool:
    """True when, from every start, the iterates approach ``xs`` monotonically without crossing it
    (to within ``tol``). Such a sequence is monotone and bounded, so it converges, and the limit of a
    convergent iteration of a continuous f is a fixed point; when ``xs`` is the only fixed point
    between the start and ``xs`` the limit is ``xs`` - this decides even tanh's neutral fixed point
    (f'(0) = 1), whose error after n steps is still about sqrt(3 / 2n)."""
    side = np.sign(traj[0] - xs)  # +1 above, -1 below
    d = (traj - xs) * side  # distance on the start's side; must stay >= 0 and shrink
    return bool(np.all(d >= -tol) and np.all(np.diff(d, axis=0) <= tol))


def measure(ctx: Context) -> Evidence:
    n_iter = ctx.pick(20_000, 200_000, 5_000)
    numbers: dict[str, Any] = {"stated": dict(STATED), "stated_tol": STATED_TOL}
    rows = []
    traj: dict[str, np.ndarray] = {}
    for name in NAMES:
        spec = actlab.spec(name)
        f = _NUMPY_FNS[name]
        catalog = [list(iv) for iv in spec.properties().fixed_points]
        roots, exact_len = _roots(f)
        # the interval of hard-tanh's fixed points: where f(x) == x exactly, and its ends
        grid = np.linspace(-1.0, 1.0, 200_001)
        all_fixed_in_unit = bool(np.all(f(grid) == grid))
        outside = np.concatenate([np.linspace(-10, -1, 10_001)[:-1], np.linspace(1, 10, 10_001)[1:]])
        none_outside = bool(np.all(f(outside) != outside))
        entry: dict[str, Any] = {"catalog_fixed_points": catalog, "roots": roots,
                                 "exact_fixed_length": exact_len,
                                 "all_of_unit_interval_fixed": all_fixed_in_unit,
                                 "no_fixed_point_outside_unit": none_outside}
        if roots:
            xs = roots[0]
            d = float(spec.derivative(torch.tensor([xs], dtype=torch.float64))[0])
            # iterate from starts on both sides of x*, all at once
            starts = np.array([xs - 3.0, xs - 0.5, xs + 0.5, xs + 3.0])
            run = _iterate(f, starts, n_iter)
            err = np.abs(run - xs)
            traj[name] = err[:, 2]
            entry.update({"fixed_point": xs, "derivative_at_fixed_point": d,
                          "iteration_error_after_n": float(err[-1].max()),
                          "iteration_error_after_n_over_100": float(err[n_iter // 100].max()),
                          "monotone_towards_fixed_point": _converges_monotonically(run, xs),
                          "agrees_with_catalog": any(abs(xs - iv[0]) < 1e-9 and iv[0] == iv[1]
                                                     for iv in catalog)})
            # attracting: every start approaches monotonically (so converges, see
            # _converges_monotonically), x* is the only fixed point, and the error has fallen below 5%
            # of the nearest start's distance 0.5
            entry["attracting"] = bool(entry["monotone_towards_fixed_point"] and len(roots) == 1
                                       and entry["iteration_error_after_n"] < 0.05 * 0.5)
        else:
            entry["agrees_with_catalog"] = catalog == [[-1.0, 1.0]] and exact_len > 1.99
        numbers[name] = entry
        found = ", ".join(f"{r:.12g}" for r in roots) or f"[-1, 1] ({exact_len:.3f})"
        rows.append([name, str(catalog), found,
                     f"{entry.get('derivative_at_fixed_point', 1.0):.4g}",
                     f"{entry.get('iteration_error_after_n', math.nan):.2e}"])
    numbers["n_iter"] = n_iter
    sig = numbers["sigmoid"]["fixed_point"]
    numbers["parts"] = {
        "hard_sigmoid_is_2_3": abs(numbers["hard_sigmoid"]["fixed_point"] - 2 / 3) < 1e-12
        and len(numbers["hard_sigmoid"]["roots"]) == 1,
        "sigmoid_about_0_69": abs(sig - STATED["sigmoid"]) <= STATED_TOL
        and len(numbers["sigmoid"]["roots"]) == 1,
        "hard_tanh_all_of_unit_interval": bool(numbers["hard_tanh"]["all_of_unit_interval_fixed"]
                                               and numbers["hard_tanh"]["no_fixed_point_outside_unit"]),
        "tanh_only_0": numbers["tanh"]["roots"] == [0.0],
        "sigmoid_attracts": bool(numbers["sigmoid"]["attracting"]),
        "tanh_attracts": bool(numbers["tanh"]["attracting"]),
        "catalog_agrees": all(numbers[n]["agrees_with_catalog"] for n in NAMES),
    }
    # other hard-sigmoid conventions, for the notes: Keras' old 0.2x + 0.5 and PyTorch's x/6 + 1/2
    numbers["hard_sigmoid_other_slopes"] = {
        str(s): list(actlab.spec("hard_sigmoid").properties(slope=s).fixed_points[0]) for s in (0.2, 1 / 6)}

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7, 3.2))
    x = np.linspace(-2.5, 2.5, 1001)
    colors = {"hard_sigmoid": "C0", "sigmoid": "C1", "hard_tanh": "C2", "tanh": "C3"}
    for name in NAMES:
        a.plot(x, _NUMPY_FNS[name](x), color=colors[name], label=name, lw=1.4)
    a.plot(x, x, "k--", lw=0.8, label="y = x")
    a.plot([-1, 1], [-1, 1], color="C2", lw=4, alpha=0.35)
    for name in ("hard_sigmoid", "sigmoid", "tanh"):
        xs = numbers[name]["fixed_point"]
        a.plot([xs], [xs], "o", color=colors[name], ms=5)
    a.axvline(0.69, color="C1", ls=":", lw=1)
    a.annotate(f"stated 0.69\ntrue {sig:.4f}", (0.69, 0.2), fontsize=7, color="C1")
    a.set(xlabel="x", ylabel="f(x)", title="f(x) = x where a curve crosses y = x", ylim=(-1.3, 1.3))
    a.legend(fontsize=7, loc="upper left")
    n = np.arange(len(traj["sigmoid"]))
    for name in ("hard_sigmoid", "sigmoid", "tanh"):
        err = np.where(traj[name] > 0, traj[name], np.nan)
        b.loglog(n[1:], err[1:], color=colors[name], label=name)
    b.loglog(n[1:], np.sqrt(1.5 / n[1:]), "k:", lw=0.8, label="sqrt(3 / 2n)")
    b.set(xlabel="iteration n", ylabel="|x_n - x*|", title="iterating x <- f(x) from x* + 0.5")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, f"Left: each activation against y = x; dots mark the fixed points. sigmoid "
                             f"crosses at {sig:.6f}, not at the stated 0.69 (dotted); hard-tanh lies on "
                             "y = x over all of [-1, 1] (thick band). Right: distance to the fixed point "
                             "while iterating; sigmoid and hard-sigmoid converge geometrically, tanh "
                             "(f'(0) = 1) only like sqrt(3/2n), but it does converge.")
    table = Table(["function", "catalog fixed points", "root finding", "f'(x*)", "error after iterating"],
                  rows, "Fixed points by the catalog and by independent root finding of f(x) - x.")
    return Evidence(numbers, {"grid": "[-10, 10], 200001 float64 points, bisection", "iterations": n_iter,
                              "starts": "x* +- 0.5, x* +- 3"}, [figure], [table],
                    notes=f"Other hard-sigmoid conventions: slope 0.2 (old Keras) has its fixed point at "
                          f"{numbers['hard_sigmoid_other_slopes']['0.2'][0]:.6g}, slope 1/6 (PyTorch "
                          f"hardsigmoid) at {numbers['hard_sigmoid_other_slopes'][str(1 / 6)][0]:.6g}; the "
                          "paper's 2/3 is for slope 1/4.")


#: Readable names of the parts, for the verdict's reason.
PART_LABELS = {
    "hard_sigmoid_is_2_3": "hard-sigmoid's fixed point is 2/3",
    "sigmoid_about_0_69": "sigmoid's is about 0.69",
    "hard_tanh_all_of_unit_interval": "hard-tanh fixes exactly [-1, 1]",
    "tanh_only_0": "tanh's only fixed point is 0",
    "sigmoid_attracts": "sigmoid's attracts",
    "tanh_attracts": "tanh's attracts",
    "catalog_agrees": "the catalog agrees",
}


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Every part must hold; a stated value is wrong when it misses the exact one by more than half a
    unit of its last stated digit."""
    parts = numbers["parts"]
    failed = [k for k, v in parts.items() if not v]
    sig = numbers["sigmoid"]["fixed_point"]
    if not failed:
        return Verdict(CONFIRMED, f"All parts hold: hard-sigmoid 2/3, sigmoid {sig:.6f} rounds to 0.69, "
                                  "hard-tanh fixes [-1, 1], tanh only 0, and the iterations converge.")
    detail = []
    if "sigmoid_about_0_69" in failed:
        detail.append(f"sigmoid's fixed point is {sig:.6f}, {abs(sig - 0.69):.4f} from the stated 0.69 "
                      f"(tolerance {numbers['stated_tol']})")
    detail += [f"not: {PART_LABELS.get(k, k)}" for k in failed if k != "sigmoid_about_0_69"]
    held = [PART_LABELS.get(k, k) for k, v in parts.items() if v]
    return Verdict(REFUTED, "Fails: " + "; ".join(detail) + ". Holds: " + ", ".join(held) + ".")


CLAIM = Claim(
    id="C21",
    title="Fixed points of hard/soft sigmoid and tanh",
    rule="Find the fixed points exactly (catalog and independent float64 root finding) and iterate "
         "x <- f(x). Confirmed only if every part holds: hard-sigmoid's is 2/3, sigmoid's rounds to 0.69 "
         "(within 0.005), every point of [-1, 1] and no other is fixed by hard-tanh, tanh's only one is 0, "
         "and iterating sigmoid and tanh converges to theirs; refuted if any part fails.",
    measure=measure,
    decide=decide,
)
