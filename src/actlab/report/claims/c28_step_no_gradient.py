r"""C28 - the step function's derivative is 0 almost everywhere, so gradient descent cannot learn
through it.

Tutorial 003 (section 2.1): the step :math:`h(x) = 1` for :math:`x > 0`, else 0, "is discontinuous at
0, which makes gradient descent unable to learn effectively".

Measured in two ways:

* **exactly** - the derivative by autograd through the catalog's ``step`` module and by its analytic
  form, on the float64 dyadic grid :math:`k \cdot 2^{-10}`, :math:`|x| \le 8` (0 included): it is 0
  at every point; the jump at 0 (a Dirac delta in the distributional sense) carries no gradient either.
* **by training** - MLPs with 2 hidden layers of step units and, as a control, sigmoid units, trained
  by the sweep engine on digits (same seeds, init, optimizer), with ``watch`` recording each layer's
  weight-gradient norm every epoch. "Through it" means the layers *below* a step unit: their weight
  gradients must be exactly 0 in every epoch and seed, while the sigmoid control's are not. The output
  layer above the last step still learns - a linear classifier on fixed random binary features - and
  its accuracy is reported next to the control's, not as evidence against the claim.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, INCONCLUSIVE, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.report.claims._stats import final_accuracy, sample_std
from actlab.sweep import TrialConfig

ACTS = ("step", "sigmoid")
DEPTH = 2



def _configs(ctx: Context) -> list[TrialConfig]:
    epochs = ctx.pick(6, 12, 1)
    width = ctx.pick(32, 64, 16)
    return [TrialConfig(dataset="digits", act=act, depth=DEPTH, width=width, optimizer="adam", lr=0.01,
                        epochs=epochs, seed=s, watch=True)
            for act in ACTS for s in ctx.seeds(3, 5, 1)]


def _below_step_grads(result: Any) -> list[list[float]]:
    """Per evaluated epoch >= 1: the weight-gradient norms of the Linear layers below the last
    activation (all but the head)."""
    out = []
    for ep in result.epochs:
        if ep.get("epoch", 0) < 1 or "layers" not in ep:
            continue
        lin = [lay for lay in ep["layers"] if lay.get("kind") == "linear"]
        out.append([lay["weight_grad_norm"] for lay in lin[:-1]])
    return out


def measure(ctx: Context) -> Evidence:
    # exact derivative
    x = torch.arange(-8 * 1024, 8 * 1024 + 1, dtype=torch.float64) / 1024
    xg = x.clone().requires_grad_(True)
    y = actlab.get("step")(xg)
    (g,) = torch.autograd.grad(y.sum(), xg)
    analytic = actlab.spec("step").derivative(x)
    tiny = torch.tensor([-5e-324, 0.0, 5e-324], dtype=torch.float64)
    jump = actlab.functional.step(tiny).tolist()
    numbers: dict[str, Any] = {
        "grid_points": len(x),
        "autograd_nonzero": int((g != 0).sum()),
        "analytic_nonzero": int((analytic != 0).sum()),
        "values_around_0": jump,  # step(-min, 0, +min): the jump sits between 0 and the next float
    }
    # training
    configs = _configs(ctx)
    results = ctx.train(configs)
    per: dict[str, dict[str, Any]] = {}
    for act in ACTS:
        rs = [r for r, c in zip(results, configs, strict=True) if c.act == act]
        grads = [_below_step_grads(r) for r in rs]
        flat = [v for gs in grads for ep in gs for v in ep]
        head = [r.epochs[-1]["layers"][-1]["weight_grad_norm"] for r in rs]
        acc = [final_accuracy(r) for r in rs]
        acc0 = [float(r.epochs[0]["test_acc"]) for r in rs]
        per[act] = {
            "statuses": [r.status for r in rs],
            "below_weight_grad_max": float(max(flat)) if flat else float("nan"),
            "below_weight_grad_all_zero": bool(flat) and all(v == 0.0 for v in flat),
            "below_weight_grad_values": len(flat),
            "head_weight_grad_last": [float(v) for v in head],
            "test_acc": acc, "test_acc_mean": float(np.mean(acc)), "test_acc_std": sample_std(acc),
            "test_acc_init_mean": float(np.mean(acc0)),
            "curves": [[float(e["test_acc"]) for e in r.epochs] for r in rs],
        }
    numbers["training"] = per

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    xs = np.linspace(-2, 2, 801)
    a.plot(xs, (xs > 0).astype(float), "C0", label="step(x)")
    a.plot(x.numpy()[::64], g.numpy()[::64], "C3.", ms=2, label="autograd step'(x)")
    a.set(xlabel="x", title="step and its gradient (0 everywhere)", xlim=(-2, 2), ylim=(-0.1, 1.15))
    a.legend(fontsize=7)
    for act, c in zip(ACTS, ("C0", "C1"), strict=True):
        for i, cur in enumerate(per[act]["curves"]):
            b.plot(range(len(cur)), cur, color=c, alpha=0.7, label=act if i == 0 else None)
    b.axhline(0.1, color="gray", ls=":", lw=0.8)
    b.set(xlabel="epoch", ylabel="test accuracy", title=f"digits, {DEPTH} hidden layers")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: the step's autograd gradient is 0 at every grid point. Right: test "
                             "accuracy per seed; the step net improves only through its output layer (its "
                             f"hidden layers' weight gradients stay exactly 0, max "
                             f"{per['step']['below_weight_grad_max']:g}), the sigmoid control trains "
                             "all layers (dotted: chance).")
    rows = [[act, f"{per[act]['below_weight_grad_max']:.3g}",
             f"{np.mean(per[act]['head_weight_grad_last']):.3g}", f"{per[act]['test_acc_init_mean']:.3f}",
             f"{per[act]['test_acc_mean']:.3f} ± {per[act]['test_acc_std']:.3f}"] for act in ACTS]
    table = Table(["activation", "max weight-grad norm below the last activation", "head weight-grad norm",
                   "test acc at init", "final test acc (mean ± std)"], rows,
                  "Per-epoch weight-gradient norms recorded by watch (median over the last steps of each "
                  "epoch).")
    c0 = configs[0]
    setup = {"dataset": "digits", "depth": DEPTH, "width": c0.width, "optimizer": c0.optimizer, "lr": c0.lr,
             "epochs": c0.epochs, "seeds": len(ctx.seeds(3, 5, 1)), "grid": "k * 2^-10, |x| <= 8, float64"}
    return Evidence(numbers, setup, [figure], [table],
                    notes="The step net's accuracy comes from its output layer alone: a linear classifier on "
                          "the fixed random binary features of the untrained hidden layers.")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed when the step's derivative is 0 at every grid point and, in training, every layer
    below a step unit gets exactly zero weight gradient while the sigmoid control's do not."""
    step, sig = numbers["training"]["step"], numbers["training"]["sigmoid"]
    exact = numbers["autograd_nonzero"] == 0 and numbers["analytic_nonzero"] == 0
    control = sig["below_weight_grad_max"] > 0
    acc = (f"step net {step['test_acc_mean']:.3f} ± {step['test_acc_std']:.3f} test accuracy from its output "
           f"layer alone vs sigmoid {sig['test_acc_mean']:.3f} ± {sig['test_acc_std']:.3f}")
    if not control:
        return Verdict(INCONCLUSIVE if quick else REFUTED,
                       "the sigmoid control's hidden weight gradients were 0 too, so the measurement cannot "
                       "tell a step apart")
    if exact and step["below_weight_grad_all_zero"]:
        return Verdict(CONFIRMED, f"step' = 0 at all {numbers['grid_points']} grid points and every layer "
                                  "below a step got exactly 0 weight gradient in every epoch and seed "
                                  f"(sigmoid control: up to {sig['below_weight_grad_max']:.3g}); {acc}.")
    what = []
    if not exact:
        what.append(f"{numbers['autograd_nonzero']} grid points with a nonzero autograd derivative")
    if not step["below_weight_grad_all_zero"]:
        what.append(f"layers below a step got weight gradient up to {step['below_weight_grad_max']:.3g}")
    return Verdict(REFUTED, "; ".join(what) + f"; {acc}.")


CLAIM = Claim(
    id="C28",
    title="The step function passes no gradient",
    rule="Confirmed if the step's derivative (autograd and analytic) is 0 at every point of a float64 grid "
         "including 0, and in training (digits, 2 hidden layers, all seeds, every epoch) the weight gradient "
         "of every layer below a step unit is exactly 0 while a sigmoid control's is not; refuted if either "
         "fails (inconclusive in quick mode if the control shows no gradient either).",
    measure=measure,
    decide=decide,
)
