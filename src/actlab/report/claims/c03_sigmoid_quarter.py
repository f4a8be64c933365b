r"""C03 - sigmoid' is at most 1/4, so n sigmoid layers shrink the gradient by at least 4^-n; sigmoid' is
close to 0 outside about [-5, 5] / [-4, 4].

Tutorial 000: "sigmoid's derivative is at most 0.25, so the derivative is compressed to at most 1/4 at
every layer, 1/16 after two layers, 1/4^n after n layers - taking the largest derivative as the
example"; and "outside [-5, +5] the derivative is close to 0" (later "outside [-4, +4]"). 004 gives
:math:`\sigma' = \sigma(1 - \sigma)`, "a product of two numbers in (0, 1), so it becomes small".

Exact parts: :math:`\sigma'(x) = \sigma(x)(1 - \sigma(x)) \le 1/4` (AM-GM, equality only at 0) is
checked with the catalog's derivative on a dense float64 grid; where :math:`\sigma'` falls below
10 %, 5 % and 1 % of its peak is solved by bisection. "Close to 0" is read as "below 1/10 of the
peak" (an order of magnitude less gradient than at 0); the other thresholds are shown.

The per-layer shrink: back-propagating through layer :math:`l`,
:math:`g_{l-1} = W_l^\top \mathrm{diag}(\sigma'(a_l))\, g_l`, so
:math:`\lVert g_{l-1}\rVert \le \tfrac14 \lVert W_l \rVert_2 \lVert g_l \rVert`. The tutorial leaves the
weights out: the 1/4 per layer is guaranteed only when :math:`\lVert W_l \rVert_2 \le 1`. Measured on
10-layer width-64 sigmoid MLPs on digits (one backward pass, per example): the bound itself, and the
per-layer shrink factor (geometric mean over layers of :math:`\lVert g_l\rVert / \lVert g_{l-1}\rVert`)
for weights scaled to :math:`\lVert W \rVert_2 = 1` ("small"), PyTorch's default, Xavier-normal,
He-normal and large (:math:`\sigma_w^2 = 16`) initialisations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

import actlab
from actlab import nets
from actlab.catalog.measure import bisect_root
from actlab.report.claim import CONFIRMED, DEPENDS, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.report.claims._layer_grads import layer_grads, linears
from actlab.report.claims._stats import sample_std
from actlab.sweep.trial import load_data

#: "close to 0": below this fraction of sigmoid's peak derivative 1/4.
NEAR_ZERO = 0.10
FRACTIONS = (0.10, 0.05, 0.01)
STATED_EDGES = (4.0, 5.0)
DEPTH, WIDTH = 10, 64
INITS: dict[str, dict[str, Any]] = {
    "small (||W||2 = 1)": {"init": "xavier_normal", "spectral": 1.0},
    "default (PyTorch)": {"init": "default"},
    "xavier_normal": {"init": "xavier_normal"},
    "kaiming_normal (He)": {"init": "kaiming_normal"},
    "large (sigma_w2 = 16)": {"init": "sigma", "sigma_w2": 16.0},
}


def d_sigmoid(x: float) -> float:
    return float(actlab.spec("sigmoid").derivative(torch.tensor([x], dtype=torch.float64))[0])


def _model(name: str, seed: int) -> nn.Sequential:
    kw = dict(INITS[name])
    spectral = kw.pop("spectral", None)
    m = nets.mlp(64, 10, DEPTH, WIDTH, "sigmoid", seed=seed, **kw)
    if spectral is not None:
        with torch.no_grad():
            for lin in linears(m)[1:-1]:  # the hidden-to-hidden layers the gradient passes through
                lin.weight.mul_(spectral / torch.linalg.matrix_norm(lin.weight, 2))
    return m


def measure(ctx: Context) -> Evidence:
    x = torch.arange(-40 * 2**14, 40 * 2**14 + 1, dtype=torch.float64) / 2**14  # dyadic: 0 is a grid point
    d = actlab.spec("sigmoid").derivative(x)
    i = int(d.argmax())
    numbers: dict[str, Any] = {"max_derivative": float(d.max()), "argmax": float(x[i]),
                               "exceeds_quarter": bool((d > 0.25).any()), "near_zero": NEAR_ZERO}
    edges = {}
    for f in FRACTIONS:
        edges[str(f)] = bisect_root(lambda t, f=f: d_sigmoid(t) - f * 0.25, 0.0, 40.0)
    numbers["edge_for_fraction"] = edges
    numbers["derivative_at"] = {str(e): d_sigmoid(e) for e in STATED_EDGES}
    numbers["fraction_of_peak_at"] = {str(e): d_sigmoid(e) / 0.25 for e in STATED_EDGES}

    ds = load_data("digits", True, 0, 0.25)
    n = ctx.pick(256, 1024, 64)
    xb, yb = ds.x_train[:n], ds.y_train[:n]
    seeds = ctx.seeds(2, 5, 1)
    shrink: dict[str, dict[str, float]] = {}
    profiles: dict[str, list[float]] = {}
    worst_bound = 0.0
    for name in INITS:
        per_seed, prof = [], []
        for s in seeds:
            m = _model(name, s)
            r = layer_grads(m, xb, yb)
            g = np.array(r["out_grad"])
            prof.append(g / g[-1])
            per_seed.append(float((g[-1] / g[0]) ** (1.0 / (len(g) - 1))))
            # the exact bound per example and layer: |g_{l-1}| <= 1/4 ||W_l||_2 |g_l|
            norms = [float(torch.linalg.matrix_norm(lin.weight.detach(), 2)) for lin in linears(m)[1:-1]]
            for k, ratio in enumerate(r["ratios"]):
                worst_bound = max(worst_bound, max(ratio) / (0.25 * norms[k]))
        shrink[name] = {"mean": float(np.mean(per_seed)), "std": sample_std(per_seed),
                        "min": min(per_seed), "runs": per_seed}
        profiles[name] = np.mean(prof, 0).tolist()
    numbers.update({"per_layer_shrink": shrink, "bound_worst_ratio": worst_bound, "depth": DEPTH})

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    xs = np.linspace(-8, 8, 1601)
    a.plot(xs, actlab.spec("sigmoid").derivative(torch.tensor(xs)).numpy(), "C1", label="sigmoid'(x)")
    a.axhline(0.25, color="k", ls=":", lw=0.8)
    a.axhline(NEAR_ZERO * 0.25, color="C3", ls="--", lw=0.8, label=f"{NEAR_ZERO:.0%} of the peak")
    for e, c in zip(STATED_EDGES, ("C2", "C4"), strict=True):
        a.axvspan(-8, -e, color=c, alpha=0.08)
        a.axvspan(e, 8, color=c, alpha=0.08)
        a.axvline(e, color=c, lw=0.8, label=f"|x| = {e:g}: {d_sigmoid(e):.4f}")
    a.set(xlabel="x", ylabel="sigmoid'(x)", title="max 1/4 at x = 0")
    a.legend(fontsize=7)
    layers = np.arange(1, DEPTH + 1)
    for k, name in enumerate(INITS):
        b.semilogy(layers, profiles[name], "o-", ms=3, color=f"C{k}",
                   label=f"{name}: /{shrink[name]['mean']:.2f} per layer")
    b.semilogy(layers, 4.0 ** (layers - DEPTH), "k:", label="4^-n")
    b.set(xlabel="hidden layer (1 = next to the input)", ylabel="|dL/dh_l| / |dL/dh_10|",
          title="gradient reaching each layer")
    b.legend(fontsize=6)
    fig.tight_layout()
    fp = numbers["fraction_of_peak_at"]
    figure = ctx.figure(fig, f"Left: sigmoid' peaks at exactly 1/4; at |x| = 4 and 5 it is "
                             f"{fp['4.0']:.1%} and {fp['5.0']:.1%} of the peak (shaded: outside the "
                             "stated intervals). Right: the gradient reaching each layer of a 10-layer "
                             "sigmoid MLP, relative to the last layer, at init. Only lines at or below "
                             "the dotted 4^-n shrink by at least 4 per layer: small weights do, He-init "
                             "and large weights shrink less.")
    rows = [[k, f"{v['mean']:.2f} ± {v['std']:.2f}"] for k, v in shrink.items()]
    table = Table(["weights", "per-layer gradient shrink (x)"], rows,
                  f"{DEPTH} sigmoid layers of width {WIDTH}, digits batch of {n}, {len(seeds)} seed(s); the "
                  "tutorial's 'at least 4' needs ||W||2 <= 1.")
    return Evidence(numbers, {"grid": "[-40, 40], step 2^-14, float64", "depth": DEPTH, "width": WIDTH,
                              "batch": n, "seeds": seeds, "inits": INITS}, [figure], [table],
                    notes=f"sigmoid' falls below 10 % / 5 % / 1 % of its peak at |x| = "
                          f"{edges['0.1']:.3f} / {edges['0.05']:.3f} / {edges['0.01']:.3f}. Bound check: the "
                          f"largest measured |g_(l-1)| / (1/4 ||W_l||2 |g_l|) is {worst_bound:.4f} (<= 1).")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Exact parts must hold (max 1/4 at 0, the 1/4 ||W|| bound, the edges below ``near_zero`` of the
    peak); the 4^-n statement holds without conditions only if every tested init shrinks >= 4."""
    mx, am = numbers["max_derivative"], numbers["argmax"]
    frac = numbers["fraction_of_peak_at"]
    shrink = numbers["per_layer_shrink"]
    problems = []
    if abs(mx - 0.25) > 1e-12 or numbers["exceeds_quarter"] or abs(am) > 1e-6:
        problems.append(f"max sigmoid' is {mx:.6g} at x = {am:.3g}, not 1/4 at 0")
    if numbers["bound_worst_ratio"] > 1.0 + 1e-6:
        problems.append(f"the 1/4 ||W|| bound is exceeded (ratio {numbers['bound_worst_ratio']:.4f})")
    far = [e for e, v in frac.items() if v > numbers["near_zero"]]
    if far:
        problems.append("at |x| = " + ", ".join(f"{e} sigmoid' is {frac[e]:.1%} of the peak" for e in far)
                        + f", not below {numbers['near_zero']:.0%}")
    small = next(k for k in shrink if k.startswith("small"))
    if shrink[small]["min"] < 4.0 - 1e-9:
        problems.append(f"with ||W||2 = 1 the gradient shrinks only {shrink[small]['min']:.3f}x per layer")
    if problems:
        return Verdict(REFUTED, "; ".join(problems) + ".")
    fmt = ", ".join(f"{k} {v['mean']:.2f}x" for k, v in shrink.items())
    weaker = [k for k, v in shrink.items() if v["mean"] < 4.0]
    exact = (f"max sigmoid' = {mx:.6g} at 0; sigmoid'(4), sigmoid'(5) are {frac['4.0']:.1%}, "
             f"{frac['5.0']:.1%} of the peak")
    if weaker:
        return Verdict(DEPENDS, f"Exact parts hold ({exact}), but the 4^-n shrink depends on the weights: "
                                f"per-layer shrink {fmt}; {', '.join(weaker)} shrink less than 4x per layer "
                                "(the bound is 1/4 ||W||2, so it needs ||W||2 <= 1).")
    return Verdict(CONFIRMED, f"{exact}; every tested init shrinks the gradient >= 4x per layer ({fmt}).")


CLAIM = Claim(
    id="C03",
    title="sigmoid' <= 1/4 and the 4^-n gradient shrink",
    rule=f"Exact: max sigmoid' on a float64 grid, where it drops below {NEAR_ZERO:.0%} of the peak "
         f"('close to 0'), and the bound |g_(l-1)| <= 1/4 ||W_l||2 |g_l| measured per example in "
         f"{DEPTH}-layer sigmoid MLPs. Refuted if the max is not 1/4 at 0, the bound fails, sigmoid'(4) "
         f"or sigmoid'(5) is above {NEAR_ZERO:.0%} of the peak, or small weights (||W||2 = 1) shrink "
         "less than 4x per layer; depends (on the weight scale) if a standard or large init shrinks less "
         "than 4x per layer; confirmed otherwise.",
    measure=measure,
    decide=decide,
)

