r"""C23 - noise where a hard-saturating unit saturates lets gradients flow, and annealing the noise to 0
helps optimise hard problems (Gulcehre et al., *Noisy Activation Functions*, ICML 2016).

Tutorial 002 (abstract, sections 1 and 3): hard-saturating units have exactly zero gradient when
saturated; "injecting noise that grows with the degree of saturation makes the gradient non-zero, so
SGD can keep exploring", and "annealing the noise from a lot to none makes optimising hard objectives
easier".

Measured with :mod:`actlab.noisy`:

* **gradient flow** (exact, float64): on saturated inputs :math:`1.5 \le |x| \le 5`, hard-tanh's autograd
  gradient is 0 everywhere; NAN hard-tanh (``nan_hard_tanh``: :math:`\alpha h + (1 - \alpha) u` plus noise
  :math:`c\,\sigma(x)\,\xi`, :math:`\alpha = 1.15`) has gradient :math:`1 - \alpha = -0.15` from its
  deterministic leak alone (:math:`c = 0`); the noise's own contribution is the difference between the
  train-mode gradient at :math:`c > 0` and at :math:`c = 0`, which must be nonzero at the saturated points.
* **optimisation of a hard problem**: the saturated-digits MLP of :mod:`actlab.noisy.demo` (2 hidden
  layers of 64, every hidden bias 2, so about 97% of first-layer pre-activations start beyond
  :math:`\pm 1`; SGD momentum 0.9, lr 0.05), trained with plain hard-tanh, tanh (soft), NAN hard-tanh with
  :math:`c` annealed exponentially 30 -> 0.5 over the run (the paper's range, ``NoiseAnnealer``), the
  same from 5 -> 0.5, NAN with a constant :math:`c = 30` (noise that is never annealed - the ablation
  that tests the annealing part of the claim) and NAN with :math:`c = 0` (the leak without noise - the
  ablation that separates the noise from the leak). The schedule ends at 0.5, not 0: an exponential
  schedule never reaches 0, and at 0.5 the noise is already small next to the unit's range. Final test
  accuracy (eval mode: noise replaced by its expectation), mean ± std over seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import (
    CONFIRMED,
    DEPENDS,
    INCONCLUSIVE,
    REFUTED,
    Claim,
    Context,
    Evidence,
    Table,
    Verdict,
)
from actlab.report.claims._stats import sample_std

BIAS = 2.0
WIDTH = 64
LR = 0.05
#: Variants: (label, config as actlab.noisy.demo's digits variants take it).
VARIANTS: dict[str, dict[str, Any]] = {
    "hard_tanh": {"act": "hard_tanh"},
    "tanh": {"act": "tanh"},
    "nan_anneal_30": {"act": "nan_hard_tanh", "params": {"c": 30.0}, "per_unit": True,
                      "anneal": {"kind": "exponential", "start": 30.0, "end": 0.5}},
    "nan_anneal_5": {"act": "nan_hard_tanh", "params": {"c": 5.0}, "per_unit": True,
                     "anneal": {"kind": "exponential", "start": 5.0, "end": 0.5}},
    "nan_const_30": {"act": "nan_hard_tanh", "params": {"c": 30.0}, "per_unit": True},
    "nan_c0": {"act": "nan_hard_tanh", "params": {"c": 0.0}, "per_unit": True},
}



def _gradient_flow() -> dict[str, Any]:
    x = torch.cat([torch.linspace(-5, -1.5, 2000), torch.linspace(1.5, 5, 2000)]).double()

    def grad(name: str, train: bool, **params: Any) -> torch.Tensor:
        m = actlab.get(name, **params).double()
        m.train(train)
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(xx).sum(), xx)
        return g.detach()

    torch.manual_seed(0)
    hard = grad("hard_tanh", True)
    leak = grad("nan_hard_tanh", True, c=0.0)
    out: dict[str, Any] = {"points": len(x), "hard_tanh_nonzero_fraction": float((hard != 0).double().mean()),
                           "nan_c0_gradient": [float(leak.min()), float(leak.max())]}
    for c in (1.0, 30.0):
        noise = grad("nan_hard_tanh", True, c=c) - leak
        ev = grad("nan_hard_tanh", False, c=c) - leak
        out[f"c={c:g}"] = {"noise_grad_nonzero_fraction": float((noise != 0).double().mean()),
                           "noise_grad_std": float(noise.std()),
                           "eval_noise_grad_max_abs": float(ev.abs().max())}
    return out


def _train(ctx: Context) -> tuple[dict[str, list[list[float]]], list[float], dict[str, Any]]:
    from actlab.noisy.demo import digits_run

    seeds = ctx.seeds(3, 4, 1)
    epochs = ctx.pick(5, 10, 1)
    threads = torch.get_num_threads()
    curves: dict[str, list[list[float]]] = {v: [] for v in VARIANTS}
    saturated: list[float] = []
    try:
        for v, cfg in VARIANTS.items():
            for s in seeds:
                _, accs, _, sat = digits_run((v, cfg, s, epochs, BIAS, WIDTH, LR))
                curves[v].append([float(a) for a in accs])
                if v == "hard_tanh":
                    saturated.append(float(sat))
    finally:
        torch.set_num_threads(threads)  # the demo's runner sets one thread
    setup = {"dataset": "digits (1347 train / 450 test)", "model": f"MLP 2 x {WIDTH}, hidden biases {BIAS:g}",
             "optimizer": f"SGD momentum 0.9, lr {LR:g}, batch 64", "epochs": epochs, "seeds": len(seeds),
             "variants": {k: {kk: vv for kk, vv in cfg.items()} for k, cfg in VARIANTS.items()},
             "annealing": "actlab.NoiseAnnealer, one step per optimiser step, over the whole run"}
    return curves, saturated, setup


def measure(ctx: Context) -> Evidence:
    numbers: dict[str, Any] = {"gradient_flow": _gradient_flow()}
    curves, saturated, setup = _train(ctx)
    final = {}
    for v, runs in curves.items():
        f = [r[-1] for r in runs]
        final[v] = {"mean": float(np.mean(f)), "std": sample_std(f), "values": f}
    numbers["final_test_acc"] = final
    numbers["curves"] = curves
    numbers["saturated_at_init"] = float(np.mean(saturated))

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7.8, 3.3))
    x = np.linspace(-4, 4, 801)
    xt = torch.tensor(x)
    torch.manual_seed(1)
    for c, col in ((0.0, "C2"), (1.0, "C1")):
        m = actlab.get("nan_hard_tanh", c=c).double().train()
        a.plot(x, m(xt).detach().numpy(), color=col, lw=0.8 if c else 1.5, alpha=0.8 if c else 1,
               label=f"NAN hard-tanh, train, c = {c:g}")
    a.plot(x, np.clip(x, -1, 1), "k", lw=1.5, label="hard-tanh")
    a.set(xlabel="x", ylabel="output", title="noise only where the unit saturates", ylim=(-1.6, 1.6))
    a.legend(fontsize=6.5, loc="upper left")
    colors = {"hard_tanh": "k", "tanh": "C0", "nan_anneal_30": "C1", "nan_anneal_5": "C3",
              "nan_const_30": "C4", "nan_c0": "C2"}
    for v, runs in curves.items():
        arr = np.array(runs)
        mu, sd = arr.mean(0), arr.std(0)
        ep = np.arange(len(mu))
        b.plot(ep, mu, color=colors[v], label=v)
        b.fill_between(ep, mu - sd, mu + sd, color=colors[v], alpha=0.15)
    b.set(xlabel="epoch", ylabel="test accuracy", title="saturated digits MLP (bias 2)")
    b.legend(fontsize=6.5)
    fig.tight_layout()
    fa = final["nan_anneal_30"]
    sat = 100 * numbers["saturated_at_init"]
    figure = ctx.figure(fig, "Left: NAN hard-tanh adds noise only beyond the thresholds (c = 1 in train "
                             "mode; c = 0 leaves the deterministic leak of slope 1 - alpha = -0.15). Right: "
                             f"test accuracy (mean ± std over seeds) with {sat:.0f}% "
                             f"of first-layer units saturated at init; NAN annealed 30 -> 0.5 ends at "
                             f"{fa['mean']:.3f}, plain hard-tanh at {final['hard_tanh']['mean']:.3f}.")
    rows = [[v, f"{final[v]['mean']:.3f} ± {final[v]['std']:.3f}"] for v in VARIANTS]
    gf = numbers["gradient_flow"]
    rows2 = [["hard_tanh", f"{gf['hard_tanh_nonzero_fraction']:.3f}", "-"]] + [
        [f"NAN {k}", f"{gf[k]['noise_grad_nonzero_fraction']:.3f}", f"{gf[k]['noise_grad_std']:.3g}"]
        for k in ("c=1", "c=30")]
    tables = [Table(["variant", "final test accuracy (mean ± std)"], rows,
                    f"{setup['epochs']} epochs, {setup['seeds']} seeds, eval mode."),
              Table(["unit", "nonzero (noise) gradient fraction at saturated x", "std of the noise gradient"],
                    rows2, "Saturated inputs 1.5 <= |x| <= 5, train mode; NAN's noise gradient is "
                           "grad(c) - grad(c = 0).")]
    return Evidence(numbers, setup, [figure], tables)


def _separated(a: dict[str, float], b: dict[str, float]) -> bool:
    """a's mean - std above b's mean + std."""
    return a["mean"] - a["std"] > b["mean"] + b["std"]


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Gradient part first (refuted if the noise adds no gradient at saturated points), then the
    training comparison of final test accuracy, mean ± std over seeds: the noise part (annealed NAN
    against plain hard-tanh and the noiseless leak), then the annealing part (annealed against constant
    noise)."""
    gf = numbers["gradient_flow"]
    f = numbers["final_test_acc"]
    flows = gf["hard_tanh_nonzero_fraction"] == 0 and all(
        gf[k]["noise_grad_nonzero_fraction"] > 0.99 for k in ("c=1", "c=30"))
    n30, n5, hard, c0 = f["nan_anneal_30"], f["nan_anneal_5"], f["hard_tanh"], f["nan_c0"]
    const = f["nan_const_30"]

    def ms(d: dict[str, float]) -> str:
        return f"{d['mean']:.3f} ± {d['std']:.3f}"

    accs = (f"final test accuracy: NAN annealed 30->0.5 {ms(n30)}, 5->0.5 {ms(n5)}, constant c = 30 "
            f"{ms(const)}, c = 0 {ms(c0)}, plain hard-tanh {ms(hard)}, tanh {ms(f['tanh'])}")
    if not flows:
        return Verdict(REFUTED, f"the noise added no gradient at some saturated points (nonzero fraction "
                                f"{gf['c=1']['noise_grad_nonzero_fraction']:.3f}); {accs}.")
    if not _separated(n30, hard):
        if n30["mean"] > hard["mean"]:
            return Verdict(INCONCLUSIVE, f"annealed noise is ahead of hard-tanh on average, but the seeds' "
                                         f"intervals overlap: {accs}.")
        return Verdict(REFUTED, f"annealed noise did no better than plain hard-tanh: {accs}.")
    if not _separated(n30, c0):
        return Verdict(DEPENDS, "the gain over hard-tanh is matched by the noiseless leak (c = 0), so it "
                                f"comes from the leak, not the noise: {accs}.")
    if _separated(const, n30):
        return Verdict(DEPENDS, "the noise part holds (saturated units get a gradient, and noisy units "
                                "beat hard-tanh and the noiseless leak), the annealing part does not: noise "
                                f"kept at c = 30 did better than noise annealed from 30: {accs}.")
    if not _separated(n30, const):
        return Verdict(INCONCLUSIVE, "the noise part holds (saturated units get a gradient, and noisy "
                                     "units beat hard-tanh and the noiseless leak), but annealed and "
                                     "constant noise are within the seeds' spread, so the annealing part is "
                                     f"undecided: {accs}.")
    if not _separated(n5, hard):
        return Verdict(DEPENDS, "on the noise scale: annealing from c = 30 helps, from c = 5 it does not "
                                "beat plain hard-tanh beyond the seeds' spread; noise gives saturated units "
                                f"a gradient (std {gf['c=30']['noise_grad_std']:.3g} at c = 30); {accs}.")
    return Verdict(CONFIRMED, "the noise gives saturated units a gradient (hard-tanh's is 0), helps "
                              "beyond the seeds' spread over hard-tanh and the noiseless leak, and annealing "
                              f"it beats constant noise: {accs}.")


CLAIM = Claim(
    id="C23",
    title="Noisy hard units with annealing optimise hard problems",
    rule="Refuted if, at saturated inputs, hard-tanh's gradient is not 0 or NAN's noise adds no gradient. "
         "Then on the saturated-digits MLP (final test accuracy, mean ± std over seeds; 'beats' = intervals "
         "do not overlap): if NAN annealed 30 -> 0.5 does not beat plain hard-tanh, inconclusive if it is "
         "ahead on average, refuted if not; if it does not beat the noiseless leak (c = 0), depends (the "
         "leak, not the noise); if constant noise (c = 30) beats it, depends (noise yes, annealing no); if "
         "neither beats the other, inconclusive (annealing undecided); if annealing from 5 does not beat "
         "hard-tanh, depends on the noise scale; else confirmed.",
    measure=measure,
    decide=decide,
)
