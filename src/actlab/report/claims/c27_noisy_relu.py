r"""C27 - Noisy ReLU :math:`\max(0, x + N(0, \sigma(x)))` is a usable ReLU variant (used in vision).

Tutorial 004: "Noisy ReLUs: add Gaussian noise, :math:`f(x) = \max(0, x + N(0, \delta(x)))`, often used
in machine vision" (Nair & Hinton 2010, who used it in RBMs on images).

The catalog's ``noisy_relu`` takes the variance :math:`\delta(x) = \mathrm{sigmoid}(x)` (Nair & Hinton's
choice) in training and is plain ReLU in eval. Measured:

* **the formula** - 200 000 draws at :math:`x \in \{-2, 0, 1, 4\}` in train mode: the sample mean against
  :math:`E\max(0, x + s Z) = x\,\Phi(x/s) + s\,\varphi(x/s)`, :math:`s = \sqrt{\mathrm{sigmoid}(x)}`,
  within 5 standard errors; eval mode equal to ReLU bit for bit.
* **usability** - MLPs (2 hidden layers of 64) on digits (8x8 handwritten images), Adam lr 0.003, trained
  by the sweep engine with ``relu`` and ``noisy_relu`` (noise in training, none at test), same seeds;
  final and mid-training test accuracy, mean ± std over seeds. "Usable" means within 0.02 of ReLU's final
  test accuracy with the same budget.
"""

from __future__ import annotations

import math
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
from actlab.report.claims._stats import final_accuracy, sample_std
from actlab.sweep import TrialConfig

ACTS = ("relu", "noisy_relu")
MARGIN = 0.02
POINTS = (-2.0, 0.0, 1.0, 4.0)



def _formula(n: int) -> dict[str, Any]:
    m = actlab.get("noisy_relu").double()
    torch.manual_seed(0)  # the module draws from the global generator
    m.train()
    rows = {}
    ok = True
    for x in POINTS:
        xs = torch.full((n,), x, dtype=torch.float64)
        y = m(xs).detach().numpy()
        s = math.sqrt(1 / (1 + math.exp(-x)))
        z = x / s
        phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        expect = x * 0.5 * (1 + math.erf(z / math.sqrt(2))) + s * phi
        se = float(y.std() / math.sqrt(n))
        diff = float(y.mean()) - expect
        # at x = -2 nearly every draw is 0 (P(x + sZ > 0) ~ 3e-9): se can be 0, then compare to 1e-9
        rows[f"{x:g}"] = {"sample_mean": float(y.mean()), "expected_mean": expect, "standard_error": se,
                          "z_score": diff / se if se > 0 else 0.0}
        ok = ok and abs(diff) <= 5 * se + 1e-9
    m.eval()
    grid = torch.linspace(-5, 5, 10001, dtype=torch.float64)
    eval_is_relu = bool(torch.equal(m(grid), torch.relu(grid)))
    return {"points": rows, "samples": n, "train_mean_matches": ok, "eval_is_relu": eval_is_relu}


def measure(ctx: Context) -> Evidence:
    numbers: dict[str, Any] = {"formula": _formula(ctx.pick(200_000, 1_000_000, 20_000)), "margin": MARGIN}
    epochs = ctx.pick(8, 20, 1)
    base = TrialConfig(dataset="digits", depth=2, width=ctx.pick(64, 64, 16), optimizer="adam", lr=0.003,
                       epochs=epochs)
    seeds = ctx.seeds(3, 5, 1)
    configs = [base.replace(act=a, seed=s) for a in ACTS for s in seeds]
    results = ctx.train(configs)
    per: dict[str, dict[str, Any]] = {}
    mid = max(1, epochs // 2)
    for act in ACTS:
        rs = [r for r, c in zip(results, configs, strict=True) if c.act == act]
        fin = [final_accuracy(r) for r in rs]
        half = [float(r.epochs[min(mid, len(r.epochs) - 1)]["test_acc"]) for r in rs]
        per[act] = {"final": fin, "final_mean": float(np.mean(fin)), "final_std": sample_std(fin),
                    "mid": half, "mid_mean": float(np.mean(half)), "mid_epoch": mid,
                    "curves": [[float(e["test_acc"]) for e in r.epochs] for r in rs],
                    "statuses": [r.status for r in rs]}
    numbers["test_acc"] = per
    numbers["gap"] = per["relu"]["final_mean"] - per["noisy_relu"]["final_mean"]

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    torch.manual_seed(1)
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    m = actlab.get("noisy_relu").double().train()
    a.plot(x.numpy(), m(x).detach().numpy(), "C1.", ms=1.5, label="noisy_relu, train (one draw per x)")
    a.plot(x.numpy(), torch.relu(x).numpy(), "k", lw=1.2, label="relu = noisy_relu in eval")
    a.set(xlabel="x", ylabel="f(x)", title="max(0, x + N(0, sigmoid(x)))")
    a.legend(fontsize=7, loc="upper left")
    for act, col in zip(ACTS, ("k", "C1"), strict=True):
        arr = np.array(per[act]["curves"])
        mu, sd = arr.mean(0), arr.std(0)
        ep = np.arange(len(mu))
        b.plot(ep, mu, color=col, label=act)
        b.fill_between(ep, mu - sd, mu + sd, color=col, alpha=0.15)
    b.set(xlabel="epoch", ylabel="test accuracy", title="digits MLP 2 x 64, Adam")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: one noisy draw per input in train mode; eval mode is exactly ReLU. "
                             "Right: test accuracy (mean ± std over seeds): noisy ReLU vs ReLU "
                             f"{per['noisy_relu']['mid_mean']:.3f} vs {per['relu']['mid_mean']:.3f} at epoch "
                             f"{mid}, {per['noisy_relu']['final_mean']:.3f} vs "
                             f"{per['relu']['final_mean']:.3f} at the end.")
    rows = [[act, f"{per[act]['mid_mean']:.3f}",
             f"{per[act]['final_mean']:.3f} ± {per[act]['final_std']:.3f}"] for act in ACTS]
    table = Table(["activation", f"test accuracy at epoch {mid}", f"final (epoch {epochs}, mean ± std)"],
                  rows, "Same MLP, optimizer, data and seeds; noise only in training.")
    fr = numbers["formula"]["points"]
    rows2 = [[k, f"{v['sample_mean']:.4f}", f"{v['expected_mean']:.4f}", f"{v['z_score']:.2f}"]
             for k, v in fr.items()]
    table2 = Table(["x", "sample mean of f(x)", "E max(0, x + sZ)", "z"], rows2,
                   "Train-mode draws against the formula with variance sigmoid(x).")
    setup = {"dataset": "digits", "model": "mlp 2 x 64", "optimizer": "adam", "lr": 0.003, "epochs": epochs,
             "seeds": len(seeds), "noise": "variance sigmoid(x), training only"}
    return Evidence(numbers, setup, [figure], [table, table2])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Usable: within ``margin`` of ReLU's final test accuracy. A larger gap: depends (usable but weaker
    at this budget; inconclusive in quick mode while the seeds' intervals overlap)."""
    f = numbers["formula"]
    t = numbers["test_acc"]
    r, n = t["relu"], t["noisy_relu"]
    gap, margin = numbers["gap"], numbers["margin"]
    acc = (f"final test accuracy noisy ReLU {n['final_mean']:.3f} ± {n['final_std']:.3f} vs ReLU "
           f"{r['final_mean']:.3f} ± {r['final_std']:.3f} (gap {gap:+.3f}; at epoch {n['mid_epoch']}: "
           f"{n['mid_mean']:.3f} vs {r['mid_mean']:.3f})")
    if not (f["train_mean_matches"] and f["eval_is_relu"]):
        return Verdict(INCONCLUSIVE if quick else REFUTED,
                       "the catalog's noisy_relu does not match max(0, x + N(0, sigmoid(x))) / relu in eval, "
                       f"so the experiment does not test the stated unit; {acc}.")
    if n["final_mean"] < 0.5:
        return Verdict(REFUTED, f"noisy ReLU did not train: {acc}.")
    if gap <= margin:
        return Verdict(CONFIRMED, f"noisy ReLU trains to within {margin} of ReLU: {acc}.")
    overlap = n["final_mean"] + n["final_std"] >= r["final_mean"] - r["final_std"]
    if quick and overlap:
        return Verdict(INCONCLUSIVE, f"gap above {margin} but within the seeds' spread: {acc}.")
    return Verdict(DEPENDS, f"usable but weaker: noisy ReLU trains, yet lags ReLU by more than {margin} at "
                            f"this budget (whether more training closes the gap is not tested): {acc}.")


CLAIM = Claim(
    id="C27",
    title="Noisy ReLU is a usable variant",
    rule="Check the catalog's noisy_relu against max(0, x + N(0, sigmoid(x))) (train-mode means within 5 "
         "standard errors, eval = relu). On a digits MLP (same budget and seeds): confirmed if noisy ReLU's "
         "final test accuracy is within 0.02 of ReLU's; refuted if it stays below 0.5; otherwise depends "
         "(usable but weaker at this budget; inconclusive in quick mode while the seeds' mean ± std "
         "intervals overlap).",
    measure=measure,
    decide=decide,
)
