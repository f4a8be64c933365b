r"""T1 - mean-field signal propagation in random tanh nets (issue 7, item 3a).

Prediction (Poole et al. 2016; Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Sec. 3-5): in a
deep random net :math:`h^{l+1} = W^{l+1}\phi(h^l) + b^{l+1}`, :math:`W_{ij} \sim N(0, \sigma_w^2/N)`,
:math:`b_i \sim N(0, \sigma_b^2)`, the mean squared pre-activation :math:`q^l` follows the length
map :math:`q \mapsto \sigma_w^2 E[\phi(\sqrt q z)^2] + \sigma_b^2` to its fixed point :math:`q^*`,
and going back one layer multiplies the squared gradient norm by
:math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*} z)^2]`, so the measured per-layer ratio
:math:`\|\delta^{l+1}\|^2/\|\delta^l\|^2` is :math:`1/\chi_1` (> 1 in the ordered phase: gradients
vanish towards the input; < 1 in the chaotic phase: they explode).

Measured with :func:`actlab.theory.propagation` (float64, Gaussian weights, 4 inputs, a random
linear read-out) at one ordered, the critical and one chaotic :math:`\sigma_w^2` for
:math:`\sigma_b^2 = 0.05`: the mean of :math:`q^l` and the geometric mean of the gradient ratio
over the layers after the first 10 (the transient from :math:`q^1 = 1`), each averaged over seeds,
against :math:`q^*` and :math:`1/\chi_1` from :mod:`actlab.theory.meanfield` (quadrature). Finite
width N adds :math:`O(1/\sqrt N)` noise per layer; the stated tolerances are several times the
seed-to-seed spread at width 300 (quick mode; full mode: width 1000 and depth 60, as in the
issue).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from actlab import theory
from actlab.report.claim import CONFIRMED, INCONCLUSIVE, REFUTED, Claim, Context, Evidence, Table, Verdict

ACT = "tanh"
SIGMA_B2 = 0.05
#: (label, sigma_w^2): ordered (the issue's check: q* = 0.194, 1/chi_1 = 1.318), critical, chaotic.
ORDERED_SW2, CHAOTIC_SW2 = 1.0, 2.5
#: Relative tolerances of the measured mean q^l against q* and of the measured per-layer gradient
#: ratio against 1/chi_1.
TOL_Q = 0.05
TOL_RATIO = 0.02
#: Layers skipped as the transient of q^l before averaging.
SKIP = 10


def _cases() -> list[tuple[str, float]]:
    crit = theory.critical_sigma_w2(ACT, sigma_b2=SIGMA_B2)
    return [("ordered", ORDERED_SW2), ("critical", crit), ("chaotic", CHAOTIC_SW2)]


def _mean_std(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def measure(ctx: Context) -> Evidence:
    width = ctx.pick(300, 1000, 48)
    depth = ctx.pick(60, 60, 16)
    seeds = ctx.seeds(2, 2, 1)
    skip = min(SKIP, depth // 3)
    cases: list[dict[str, Any]] = []
    checks: dict[str, list[theory.PropagationCheck]] = {}
    for phase, sw in _cases():
        runs = [theory.propagation(ACT, sw, SIGMA_B2, width=width, depth=depth, seed=s) for s in seeds]
        checks[phase] = runs
        mf = theory.analyze(ACT, sw, SIGMA_B2)
        q_m = [r.mean_q(skip)[0] for r in runs]
        g_m = [r.mean_ratio(skip)[0] for r in runs]
        qm, qs = _mean_std(q_m)
        gm, gs = _mean_std(g_m)
        cases.append({
            "phase": phase, "predicted_phase": mf.phase, "sigma_w2": sw,
            "q_star": mf.q_star, "q_measured": qm, "q_measured_std": qs,
            "inv_chi1": mf.gradient_ratio, "ratio_measured": gm, "ratio_measured_std": gs,
            "q_last_measured": _mean_std([float(r.q_measured[-1]) for r in runs])[0],
            "q_last_predicted": float(runs[0].q_predicted[-1]),
            "gradient_factor_measured": float(np.mean([float(r.ratio_measured[skip:].log().sum().exp())
                                                       for r in runs])),
            "gradient_factor_predicted": mf.gradient_ratio ** (depth - 1 - skip),
        })
    numbers = {"cases": cases, "n_seeds": len(seeds), "width": width, "depth": depth, "skip": skip,
               "tol_q": TOL_Q, "tol_ratio": TOL_RATIO}

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    colours = {"ordered": "tab:blue", "critical": "tab:green", "chaotic": "tab:red"}
    layers = np.arange(1, depth + 1)
    for c in cases:
        runs, col = checks[c["phase"]], colours[c["phase"]]
        lab = f"{c['phase']} σw²={c['sigma_w2']:.3g}"
        r0 = runs[0]
        axes[0].plot(layers, r0.q_measured.numpy(), "o", ms=2.5, color=col, alpha=0.7)
        axes[0].plot(layers, r0.q_predicted.numpy(), "-", color=col, lw=1.2, label=lab)
        axes[1].plot(layers[:-1], r0.ratio_measured.numpy(), "o", ms=2.5, color=col, alpha=0.7)
        axes[1].axhline(c["inv_chi1"], color=col, lw=1.2, ls="--", label=f"{lab}: 1/χ1 = {c['inv_chi1']:.4g}")
        cum = np.concatenate([[1.0], np.cumprod(r0.ratio_measured.numpy())])
        axes[2].semilogy(layers, cum, "o", ms=2.5, color=col, alpha=0.7)
        axes[2].semilogy(layers, np.concatenate([[1.0], np.cumprod(r0.ratio_predicted.numpy())]), "-",
                         color=col, lw=1.2, label=lab)
    axes[1].axvline(skip + 0.5, color="k", lw=0.5, ls=":")
    axes[0].set(xlabel="layer l", ylabel=r"$q^l$ (mean squared pre-activation)",
                title="length map: dots measured, lines theory")
    axes[1].set(xlabel="layer l", ylabel=r"$\|\delta^{l+1}\|^2 / \|\delta^l\|^2$",
                title="per-layer gradient ratio vs 1/χ1 (dashed)")
    axes[2].set(xlabel="layer l", ylabel=r"$\|\delta^l\|^2 / \|\delta^1\|^2$",
                title="cumulative: dots measured, lines theory")
    for a in axes:
        a.legend(fontsize=7)
    fig.suptitle(f"{ACT}, σb² = {SIGMA_B2}, width {width}, depth {depth} (seed 0 shown)", fontsize=10)
    fig.tight_layout()
    figure = ctx.figure(fig, "Random tanh nets in the ordered, critical and chaotic phase. Left: "
                             "the measured q^l (dots) follows the length map (lines) to q*. Middle: the "
                             "per-layer ratio of squared gradient norms scatters around 1/χ1 (dashed) once "
                             "q^l has settled (after the dotted line): above 1 in the ordered phase "
                             "(gradients vanish towards the input), 1 at criticality, below 1 in the chaotic "
                             "phase. Right: the product over layers, on a log scale.")
    rows = [[c["phase"], f"{c['sigma_w2']:.4g}", f"{c['q_measured']:.4f} ± {c['q_measured_std']:.4f}",
             f"{c['q_star']:.4f}", f"{c['ratio_measured']:.4f} ± {c['ratio_measured_std']:.4f}",
             f"{c['inv_chi1']:.4f}", f"{c['q_last_measured']:.4f}"] for c in cases]
    table = Table(["phase", "σw²", f"mean q^l, l>{skip}", "q*", "gradient ratio (geo. mean)", "1/χ1",
                   f"q^{depth}"], rows,
                  f"Measured (mean ± std over {len(seeds)} seeds) vs mean-field theory.")
    return Evidence(numbers, {"activation": ACT, "sigma_b2": SIGMA_B2, "width": width, "depth": depth,
                              "seeds": seeds, "inputs": 4, "weights": "gaussian", "q0": 1.0,
                              "skip_layers": skip, "dtype": "float64"}, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Each case's relative error |measured - predicted| / predicted within its tolerance ->
    confirmed. An error beyond tolerance that stays beyond it after moving the measurement two
    standard errors towards the prediction -> refuted; beyond tolerance but within the seed noise ->
    inconclusive in quick mode, refuted in full mode."""
    n = max(int(numbers["n_seeds"]), 1)
    tol = {"q": float(numbers["tol_q"]), "ratio": float(numbers["tol_ratio"])}
    bad_resolved, bad_noisy, pairs = [], [], []
    for c in numbers["cases"]:
        for key, m, s, p in (("q", c["q_measured"], c["q_measured_std"], c["q_star"]),
                             ("ratio", c["ratio_measured"], c["ratio_measured_std"], c["inv_chi1"])):
            err = abs(m - p) / abs(p)
            sem = s / math.sqrt(n)
            pairs.append(f"{c['phase']} {key} {m:.4f} vs {p:.4f}")
            if err > tol[key]:
                what = "mean q" if key == "q" else "gradient ratio"
                text = (f"{c['phase']} (σw²={c['sigma_w2']:.3g}) {what} {m:.4f} vs {p:.4f} "
                        f"({100 * err:.1f}% > {100 * tol[key]:g}%)")
                if abs(m - p) - 2 * sem > tol[key] * abs(p):
                    bad_resolved.append(text)
                else:
                    bad_noisy.append(text)
    summary = "; ".join(pairs)
    if bad_resolved:
        return Verdict(REFUTED, "Beyond tolerance: " + "; ".join(bad_resolved) + ".")
    if bad_noisy:
        if quick:
            return Verdict(INCONCLUSIVE, "Beyond tolerance but within 2 standard errors of it: "
                           + "; ".join(bad_noisy) + ".")
        return Verdict(REFUTED, "Beyond tolerance: " + "; ".join(bad_noisy) + ".")
    return Verdict(CONFIRMED, f"All within tolerance (q {100 * tol['q']:g}%, ratio {100 * tol['ratio']:g}%): "
                              f"{summary}.")


CLAIM = Claim(
    id="T1",
    title="Mean field predicts random tanh nets: q^l → q*, per-layer squared-gradient ratio = 1/χ1",
    rule=f"In random tanh nets (σb² = {SIGMA_B2}; σw² = {ORDERED_SW2} ordered, critical, {CHAOTIC_SW2} "
         f"chaotic) average q^l and the per-layer ratio ‖δ^(l+1)‖²/‖δ^l‖² over layers > 10 and over seeds. "
         f"Confirmed if every mean q^l is within {100 * TOL_Q:g}% of q* and every ratio within "
         f"{100 * TOL_RATIO:g}% of 1/χ1; refuted if one misses by more than that, even after moving it two "
         "standard errors towards the prediction (in full mode: if it misses at all); otherwise "
         "inconclusive in quick mode.",
    measure=measure,
    decide=decide,
)
