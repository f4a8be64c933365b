r"""C14 - standardising the inputs matters for training, with or without ReLU.

Tutorial 001 ("tips for using ReLU"): "it is good practice to scale the input data before using a
neural network - standardise each variable to zero mean and unit variance, or normalise it to [0, 1].
Without scaling, for many problems the network's weights can grow large, making it unstable and
increasing the generalisation error. This good practice applies whether or not ReLU is used." Tutorial
003 ties standardisation to dead ReLUs (inputs that are always negative for a unit).

Measured through the sweep engine (``ctx.train``, ``TrialConfig.standardize``): MLPs (2 hidden layers of
64, PyTorch default init, SGD with momentum 0.9, 5 epochs quick) with ReLU and with tanh, on the raw and on
the standardised (train-split z-scored) features of two real data sets: digits (64 pixel intensities, all
on the same 0..16 scale) and breast_cancer (30 features whose scales differ by about 5 orders of magnitude:
0.001 to 4000). Each setting is trained at six learning rates (1e-5 .. 1) and compared at its best
one, so that standardising is not credited with what is only a learning-rate rescaling. Per (data set,
activation), the paired (same seed) difference of the final test accuracy standardised - raw counts
when it is at least 2 points and beyond t standard errors; it is an established tie when the
difference plus t' standard errors stays below 2 points (t, t': Student's two- and one-sided 95%
values for the seeds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
from actlab.report.claims._stats import chance_accuracy, compare, sample_std
from actlab.report.claims._stats import final_accuracy as _acc
from actlab.sweep import TrialConfig

DATASETS = ("digits", "breast_cancer")
ACTS = ("relu", "tanh")
#: Wide enough that every setting's best rate lies inside it (raw breast_cancer features need ~1e-4).
LRS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MARGIN = 0.02


def _feature_scales(name: str) -> dict[str, float]:
    from actlab import data

    x = data.load(name, standardize=False, seed=0).x_train
    sd = x.std(0)
    sd = sd[sd > 0]
    return {"min_std": float(sd.min()), "max_std": float(sd.max()), "max_abs": float(x.abs().max())}


def measure(ctx: Context) -> Evidence:
    width = ctx.pick(64, 64, 16)
    epochs = ctx.pick(5, 10, 1)
    seeds = ctx.seeds(3, 5, 2)
    configs = [TrialConfig(dataset=ds, act=a, depth=2, width=width, standardize=st, optimizer="momentum",
                           lr=lr, epochs=epochs, seed=s)
               for ds in DATASETS for a in ACTS for st in (True, False) for lr in LRS for s in seeds]
    results = ctx.train(configs)
    chance = {ds: chance_accuracy(ds) for ds in DATASETS}
    acc: dict[tuple[str, str, bool, float], list[float]] = {}
    for c, r in zip(configs, results):
        acc.setdefault((c.dataset, c.act, c.standardize, c.lr), []).append(_acc(r, chance[c.dataset]))
    per: dict[str, Any] = {}
    for ds in DATASETS:
        for a in ACTS:
            best = {}
            for st in (True, False):
                lr = max(LRS, key=lambda x, st=st: float(np.mean(acc[(ds, a, st, x)])))
                v = acc[(ds, a, st, lr)]
                best["standardised" if st else "raw"] = {
                    "lr": lr, "acc": v, "mean": float(np.mean(v)), "std": sample_std(v),
                    "at_edge": lr in (LRS[0], LRS[-1]),
                    "by_lr": {str(x): float(np.mean(acc[(ds, a, st, x)])) for x in LRS}}
            diff = compare(best["standardised"]["acc"], best["raw"]["acc"], MARGIN)
            per[f"{ds} / {a}"] = {**best, "diff": diff}
    numbers = {"settings": list(per), "per_setting": per, "majority_class_acc": chance, "margin": MARGIN,
               "seeds": len(seeds), "epochs": epochs, "lrs": list(LRS),
               "feature_scales": {ds: _feature_scales(ds) for ds in DATASETS}}

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3), sharey=True)
    for ax, ds in zip(axes, DATASETS):
        for k, a in enumerate(ACTS):
            for st, style in (("standardised", "-"), ("raw", "--")):
                m = [per[f"{ds} / {a}"][st]["by_lr"][str(x)] for x in LRS]
                ax.plot(LRS, m, style, marker="o", ms=4, color=f"C{k}", label=f"{a}, {st}")
        sc = numbers["feature_scales"][ds]
        ax.set(xscale="log", xlabel="learning rate", title=f"{ds} (feature std {sc['min_std']:.2g} .. "
               f"{sc['max_std']:.3g})", ylim=(0, 1.02))
        ax.axhline(chance[ds], color="grey", ls=":", lw=0.8)
    axes[0].set_ylabel("mean test accuracy")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    gaps = "; ".join(f"{s}: {p['diff']['diff']:+.3f}" for s, p in per.items())
    figure = ctx.figure(fig, "Mean test accuracy against the learning rate, standardised (solid) vs raw "
                             "(dashed) inputs, ReLU (blue) and tanh (orange); dotted: always the majority "
                             "class. Compare each curve's best point, not the curves at one rate: raw inputs "
                             "on larger scales want a smaller rate. Best standardised minus best raw: "
                             f"{gaps}.")
    def best(p: dict[str, Any]) -> str:
        return f"{p['mean']:.3f} (lr {p['lr']:g}{', grid edge' if p['at_edge'] else ''})"

    rows = [[s, best(p["standardised"]), best(p["raw"]), f"{p['diff']['diff']:+.3f} ± {p['diff']['se']:.3f}"]
            for s, p in per.items()]
    table = Table(["data / activation", "standardised (best lr)", "raw (best lr)", "paired diff"], rows,
                  f"Final test accuracy at each setting's best lr of {list(LRS)}, {len(seeds)} seeds, "
                  f"{epochs} epochs.")
    setup = {"datasets": list(DATASETS), "acts": list(ACTS), "model": f"MLP 2 x {width}, default init",
             "optimizer": "momentum 0.9", "lrs": list(LRS), "epochs": epochs, "seeds": seeds}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Per (data set, activation): +1 standardising helps, 0 established tie, -1 hurts, None within noise.
    Confirmed if it helps everywhere; depends if it helps in some settings only (the reason names them,
    and the undetermined ones); refuted if it helps nowhere and every setting is decided; inconclusive
    if it helps nowhere and a setting is undetermined, and in quick mode while a setting is
    undetermined and the others do not already show a split. A best rate at the grid's edge is named."""
    per = numbers["per_setting"]
    out = {s: per[s]["diff"]["outcome"] for s in numbers["settings"]}
    txt = "; ".join(f"{s}: {per[s]['standardised']['mean']:.3f} standardised vs "
                    f"{per[s]['raw']['mean']:.3f} raw "
                    f"(paired {per[s]['diff']['diff']:+.3f} ± {per[s]['diff']['se']:.3f})" for s in out)
    helps = [s for s, o in out.items() if o == 1]
    not_helps = [s for s, o in out.items() if o in (0, -1)]
    open_ = [s for s, o in out.items() if o is None]
    edge = [f"{s} {k}" for s in out for k in ("standardised", "raw") if per[s][k].get("at_edge")]
    if edge:
        txt += f". Best learning rate at the grid's edge: {', '.join(edge)}"
    undecided = f"; undetermined: {', '.join(open_)}" if open_ else ""
    if len(helps) == len(out):
        return Verdict(CONFIRMED, f"Standardising helps in every setting. {txt}.")
    if helps and not_helps:
        return Verdict(DEPENDS, f"On the data: standardising helps for {', '.join(helps)}, not for "
                                f"{', '.join(not_helps)}{undecided} (at each setting's best learning rate). "
                                f"{txt}.")
    if open_ and (quick or not helps):
        return Verdict(INCONCLUSIVE, f"Some differences are within noise{undecided}. {txt}.")
    if helps:
        return Verdict(DEPENDS, f"Standardising helps for {', '.join(helps)}; elsewhere no measurable "
                                f"difference{undecided}. {txt}.")
    return Verdict(REFUTED, f"Standardising does not help in any setting (ties or worse). {txt}.")


CLAIM = Claim(
    id="C14",
    title="Standardised inputs matter",
    rule="MLPs with ReLU and tanh on digits and breast_cancer, raw vs standardised features, each at its "
         f"best of the learning rates {', '.join(f'{x:g}' for x in LRS)}, paired over seeds; a test-accuracy "
         "difference counts when >= 2 points and > t SE, is a tie when |diff| + t' SE < 2 points (t, t': "
         "Student's two- and one-sided 95% values). Confirmed if standardising helps in every setting; "
         "depends if in some but not others; refuted if in none and every setting is decided (ties or "
         "worse); inconclusive if nowhere helping and a difference is undetermined, or in quick mode while "
         "a difference is undetermined and no split is shown.",
    measure=measure,
    decide=decide,
)
