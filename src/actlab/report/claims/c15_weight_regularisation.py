r"""C15 - ReLU outputs are unbounded, so weight regularisation helps; L1 increases sparsity.

Tutorial 001 ("tips for using ReLU"): "ReLU's output is unbounded in the positive domain, so in some
cases the output can keep growing. It may therefore be good to use some form of weight regularisation,
such as an L1 or L2 vector norm. This is good both for improving the sparse representation of the model
(e.g. with L1 regularisation) and for reducing the generalisation error."

Measured on ReLU MLPs (2 hidden layers of 64, PyTorch default init) on digits, SGD with momentum 0.9 at
lr 0.05, trained with no penalty, with L2 weight decay 0.01 (``TrialConfig.weight_decay``) and with an L1
penalty of 0.001 times the sum of absolute weights (``TrialConfig.l1``), several seeds; the trainings run
the sweep engine's own pieces (:func:`actlab.report.claims._training.train_keep_model`, identical to
``run_trial``) because the sparsity needs the trained weights and activations, which the store does not
keep. Parts, each penalty vs none, paired over seeds:

* **bounded**: the largest hidden activation on the training set is smaller (the growth the tutorial
  warns of is held back);
* **generalisation**: the final test accuracy is higher (a difference counts when >= 1 point and > t
  standard errors; a tie when the difference plus t' standard errors stays below 1 point; t, t':
  Student's two- and one-sided 95% values for the seeds);
* **L1 sparsity of the weights**: the fraction of weights with :math:`|w| < 10^{-3}` is higher with L1;
* **L1 sparsity of the representation**: the fraction of hidden activations that are exactly 0 is higher
  with L1 (the tutorial's "sparse representation").
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
from actlab.report.claims._stats import compare
from actlab.report.claims._training import train_keep_model
from actlab.sweep import TrialConfig

PENALTIES = {"none": {}, "L2 0.01": {"weight_decay": 0.01}, "L1 0.001": {"l1": 0.001}}
SMALL_W = 1e-3
ACC_MARGIN = 0.01
#: bounded / sparsity effects count when they exceed t SE (Student, 95%) and this relative size (10%)
REL_EFFECT = 0.10


@torch.no_grad()
def _probe(model: torch.nn.Module, x: torch.Tensor) -> dict[str, Any]:
    zeros, maxes, h = [], [], x
    for m in model:
        h = m(h)
        if isinstance(m, actlab.Activation):
            zeros.append(float((h == 0).float().mean()))
            maxes.append(float(h.max()))
    w = torch.cat([m.weight.detach().flatten() for m in model if isinstance(m, torch.nn.Linear)])
    return {"zero_activations": float(np.mean(zeros)), "zero_by_layer": zeros, "max_activation": max(maxes),
            "small_weights": float((w.abs() < SMALL_W).float().mean()), "weight_l1": float(w.abs().sum()),
            "weights_sample": w[torch.randperm(w.numel(), generator=torch.Generator().manual_seed(0))[:4000]]
            .abs().tolist()}


def measure(ctx: Context) -> Evidence:
    torch.set_num_threads(1)
    seeds = ctx.seeds(3, 5, 2)
    epochs = ctx.pick(6, 12, 1)
    width = ctx.pick(64, 64, 16)
    runs: dict[str, dict[str, Any]] = {}
    for name, pen in PENALTIES.items():
        rows = []
        for s in seeds:
            c = TrialConfig(dataset="digits", act="relu", depth=2, width=width, optimizer="momentum", lr=0.05,
                            epochs=epochs, seed=s, **pen)
            model, ds, ok = train_keep_model(c)
            if not ok:
                raise RuntimeError(f"C15: training diverged for {c.label()}; the setup needs a smaller lr")
            model.eval()
            with torch.no_grad():
                te = float((model(ds.x_test).argmax(1) == ds.y_test).float().mean())
                tr = float((model(ds.x_train).argmax(1) == ds.y_train).float().mean())
            rows.append({"test_acc": te, "train_acc": tr, **_probe(model, ds.x_train)})
        runs[name] = {k: [r[k] for r in rows] for k in rows[0] if k != "weights_sample"}
        runs[name]["weights_sample"] = rows[0]["weights_sample"]
    base = runs["none"]
    cmp: dict[str, Any] = {}
    for name in PENALTIES:
        if name == "none":
            continue
        r = runs[name]
        cmp[name] = {
            "max_activation": compare(r["max_activation"], base["max_activation"],
                                      REL_EFFECT * float(np.mean(base["max_activation"]))),
            "test_acc": compare(r["test_acc"], base["test_acc"], ACC_MARGIN),
            "small_weights": compare(r["small_weights"], base["small_weights"],
                                     max(REL_EFFECT * float(np.mean(base["small_weights"])), 0.01)),
            "zero_activations": compare(r["zero_activations"], base["zero_activations"],
                                        REL_EFFECT * float(np.mean(base["zero_activations"]))),
        }
    summary = {n: {k: float(np.mean(v)) for k, v in r.items() if k not in ("weights_sample", "zero_by_layer")}
               for n, r in runs.items()}
    numbers = {"penalties": list(PENALTIES), "summary": summary, "compare": cmp, "seeds": len(seeds),
               "epochs": epochs, "small_w": SMALL_W, "acc_margin": ACC_MARGIN, "rel_effect": REL_EFFECT,
               "runs": {n: {k: v for k, v in r.items() if k != "weights_sample"} for n, r in runs.items()}}

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.3))
    bins = np.logspace(-6, 0.5, 60)
    for (name, r), col in zip(runs.items(), ("C0", "C1", "C2")):
        a.hist(np.maximum(r["weights_sample"], 1.1e-6), bins=bins, histtype="step", color=col, lw=1.3,
               label=f"{name}: {100 * summary[name]['small_weights']:.0f}% below 1e-3")
    a.axvline(SMALL_W, color="k", ls=":", lw=0.8)
    a.set(xscale="log", xlabel="|weight| (seed 0, a sample of 4000)", ylabel="count",
          title="L1 drives many weights to ~0")
    a.legend(fontsize=7)
    names = list(PENALTIES)
    x = np.arange(len(names))
    bars = (("zero_activations", "exactly-0 activations"), ("test_acc", "test accuracy"))
    for k, (key, lab) in enumerate(bars):
        m = [summary[n][key] for n in names]
        sd = [float(np.std(runs[n][key], ddof=1)) for n in names]
        b.bar(x + (k - 0.5) * 0.38, m, 0.38, yerr=sd, capsize=3, label=lab, color=f"C{k + 3}")
    for xi, n in zip(x, names):
        b.annotate(f"max act\n{summary[n]['max_activation']:.1f}", (xi, 0.05), ha="center", fontsize=7)
    b.set(xticks=x, xticklabels=names, ylim=(0, 1.05), ylabel="fraction (mean ± std over seeds)",
          title="representation and accuracy (mean ± std)")
    b.legend(fontsize=7, loc="center right")
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: distribution of |weight| after training; L1 piles weights up near 0 "
                             "(left of "
                             "the dotted 1e-3), L2 only shrinks them. Right: the fraction of hidden "
                             "activations "
                             "that are exactly 0 (the 'sparse representation'), the test accuracy, and the "
                             "largest hidden activation, without and with each penalty.")
    rows = [[n, f"{summary[n]['test_acc']:.3f}", f"{summary[n]['train_acc']:.3f}",
             f"{summary[n]['max_activation']:.2f}", f"{summary[n]['zero_activations']:.3f}",
             f"{summary[n]['small_weights']:.3f}", f"{summary[n]['weight_l1']:.0f}"] for n in names]
    table = Table(["penalty", "test acc", "train acc", "max hidden activation", "exactly-0 activations",
                   f"|w| < {SMALL_W:g}", "sum |w|"], rows,
                  f"Means over {len(seeds)} seeds; ReLU MLP 2 x {width} on digits, {epochs} epochs.")
    setup = {"dataset": "digits", "model": f"MLP 2 x {width}, relu, default init",
             "optimizer": "momentum 0.9", "lr": 0.05, "epochs": epochs, "seeds": seeds,
             "penalties": PENALTIES}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Parts: bounded (some penalty lowers the largest activation), generalisation (some penalty raises
    test accuracy), L1 sparsifies weights, L1 sparsifies the representation. All hold: confirmed. Some
    hold and some are definitely contradicted or tied: depends (the reason says which). None holds:
    refuted. Otherwise (undetermined parts in quick mode): inconclusive."""
    cmp = numbers["compare"]
    su = numbers["summary"]
    # bounded: a smaller largest activation (outcome -1 of penalty - none) is the claimed direction
    mx = [c["max_activation"]["outcome"] for c in cmp.values()]
    parts = {
        "bounded": 1 if -1 in mx else (None if None in mx else 0),
        "generalisation": _best([c["test_acc"]["outcome"] for c in cmp.values()]),
        "L1 sparsifies weights": cmp["L1 0.001"]["small_weights"]["outcome"],
        "L1 sparsifies activations": cmp["L1 0.001"]["zero_activations"]["outcome"],
    }
    txt = (f"max hidden activation none {su['none']['max_activation']:.1f}, L2 "
           f"{su['L2 0.01']['max_activation']:.1f}, "
           f"L1 {su['L1 0.001']['max_activation']:.1f}; test acc none {su['none']['test_acc']:.3f}, L2 "
           f"{su['L2 0.01']['test_acc']:.3f}, L1 {su['L1 0.001']['test_acc']:.3f}; weights below "
           f"{numbers['small_w']:g}: none {100 * su['none']['small_weights']:.1f}%, L1 "
           f"{100 * su['L1 0.001']['small_weights']:.1f}%; exactly-0 activations none "
           f"{100 * su['none']['zero_activations']:.1f}%, L1 {100 * su['L1 0.001']['zero_activations']:.1f}%")
    holds = [k for k, v in parts.items() if v == 1]
    fails = [k for k, v in parts.items() if v in (0, -1)]
    if len(holds) == len(parts):
        return Verdict(CONFIRMED, f"All parts hold: {txt}.")
    unsure = [k for k, v in parts.items() if v is None]
    gen = "; ".join(f"{n} test acc {c['test_acc']['diff']:+.3f} ± {c['test_acc']['se']:.3f}"
                    for n, c in cmp.items())
    if holds and fails:
        extra = f"; within noise or below the margin: {', '.join(unsure)}" if unsure else ""
        return Verdict(DEPENDS, f"Holds: {', '.join(holds)}; does not: {', '.join(fails)}{extra} ({gen}). "
                                f"{txt}.")
    if not holds and not any(v is None for v in parts.values()):
        return Verdict(REFUTED, f"No part holds: {txt}.")
    if quick:
        return Verdict(INCONCLUSIVE, f"Undetermined: {', '.join(k for k, v in parts.items() if v is None)}. "
                                     f"{txt}.")
    if holds:
        return Verdict(DEPENDS, f"Holds: {', '.join(holds)}; not measurable: "
                                f"{', '.join(k for k, v in parts.items() if v is None)}. {txt}.")
    # nothing holds, and what does not fail is undetermined: no evidence either way
    return Verdict(INCONCLUSIVE, f"No part holds; undetermined: "
                                 f"{', '.join(k for k, v in parts.items() if v is None)}. {txt}.")


def _best(outcomes: list[int | None]) -> int | None:
    """+1 if any is +1; else None if any undetermined; else the largest (0 or -1)."""
    if any(o == 1 for o in outcomes):
        return 1
    if any(o is None for o in outcomes):
        return None
    return max(o for o in outcomes if o is not None)


CLAIM = Claim(
    id="C15",
    title="Weight regularisation and L1 sparsity for ReLU",
    rule="ReLU MLP 2x64 on digits, no penalty vs L2 weight decay 0.01 vs L1 0.001, paired over seeds. Parts: "
         "a penalty lowers the largest hidden activation (>= 10% and > t SE); a penalty raises test accuracy "
         "(>= 1 point and > t SE; tie if |diff| + t' SE < 1 point); L1 raises the fraction of weights below "
         "1e-3; L1 raises the fraction of exactly-0 activations (>= 10% relative, > t SE). Confirmed if all "
         "hold; depends if some hold and others are tied or reversed; refuted if none holds and none is "
         "undetermined; inconclusive in quick mode otherwise, and in full mode when none holds and some "
         "are undetermined.",
    measure=measure,
    decide=decide,
)
