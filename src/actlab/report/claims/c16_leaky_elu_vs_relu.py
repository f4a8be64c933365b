r"""C16 - Leaky ReLU and ELU are not reliably better than ReLU in practice.

Tutorial 000 (sections 4 and 5): "in theory Leaky ReLU has all of ReLU's advantages and avoids the dead
ReLU problem, but in practice it has not been fully shown that Leaky ReLU is always better than ReLU";
"ELU is in theory better than ReLU, but in practice there is currently no good evidence that ELU is always
better than ReLU". Tutorial 001: "in general ReLU works better, but you can try Leaky ReLU or PReLU to see
whether they give the best result on your problem".

Measured through the sweep engine (``ctx.train``): MLPs of width 64 (He-normal init, which for Leaky ReLU
uses its slope in the gain), SGD with momentum 0.9, in three settings - digits with 2 and with 6 hidden
layers, breast_cancer with 2 - with ReLU, Leaky ReLU (slope 0.01) and ELU (alpha 1), each at its better
of two learning rates; same seeds for all three (same data split and batch order: a paired design). For
each variant and setting, the paired final-test-accuracy difference variant - ReLU counts as better or
worse when it is at least 1 point and beyond t standard errors, and as an established tie when the
difference plus t' standard errors stays below 1 point (t, t': Student's two- and one-sided 95%
values for the seeds).

"Not reliably better" is read as: no variant is better than ReLU in every setting. A variant that is
better in some settings but not in others makes the verdict depend on the setting.
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
from actlab.report.claims._stats import chance_accuracy, compare
from actlab.report.claims._stats import final_accuracy as _acc
from actlab.sweep import TrialConfig

ACTS = ("relu", "leaky_relu", "elu")
VARIANTS = ACTS[1:]
#: (label, dataset, depth)
SETTINGS = (("digits, 2 layers", "digits", 2), ("digits, 6 layers", "digits", 6),
            ("breast_cancer, 2 layers", "breast_cancer", 2))
LRS = (0.01, 0.05)
MARGIN = 0.01


def measure(ctx: Context) -> Evidence:
    width = ctx.pick(64, 64, 16)
    epochs = ctx.pick(5, 10, 1)
    seeds = ctx.seeds(4, 8, 2)
    configs = [TrialConfig(dataset=ds, act=a, depth=d, width=width, init="kaiming_normal",
                           optimizer="momentum", lr=lr, epochs=epochs, seed=s)
               for _, ds, d in SETTINGS for a in ACTS for lr in LRS for s in seeds]
    results = ctx.train(configs)
    chance = {ds: chance_accuracy(ds) for ds in {c.dataset for c in configs}}
    acc: dict[tuple[str, int, str, float], list[float]] = {}
    for c, r in zip(configs, results):
        acc.setdefault((c.dataset, c.depth, c.act, c.lr), []).append(_acc(r, chance[c.dataset]))
    per: dict[str, Any] = {}
    for label, ds, d in SETTINGS:
        best = {}
        for a in ACTS:
            lr = max(LRS, key=lambda x, a=a: float(np.mean(acc[(ds, d, a, x)])))
            v = acc[(ds, d, a, lr)]
            best[a] = {"lr": lr, "acc": v, "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))}
        per[label] = {**best, **{f"{v}_minus_relu": compare(best[v]["acc"], best["relu"]["acc"], MARGIN)
                                 for v in VARIANTS}}
    numbers = {"settings": [s[0] for s in SETTINGS], "variants": list(VARIANTS), "per_setting": per,
               "margin": MARGIN, "seeds": len(seeds), "epochs": epochs, "lrs": list(LRS)}

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.3))
    x = np.arange(len(SETTINGS))
    for k, a in enumerate(VARIANTS):
        m = [per[s[0]][f"{a}_minus_relu"]["diff"] for s in SETTINGS]
        se = [c["t"] * c["se"] for c in (per[s[0]][f"{a}_minus_relu"] for s in SETTINGS)]
        ax.errorbar(x + (k - 0.5) * 0.2, m, yerr=se, fmt="os"[k], capsize=4, color=f"C{k + 1}",
                    label=f"{a} - relu (± t SE)")
        for xi, s in zip(x, SETTINGS):
            d = np.array(per[s[0]][a]["acc"]) - np.array(per[s[0]]["relu"]["acc"])
            ax.plot([xi + (k - 0.5) * 0.2 + 0.06] * len(d), d, ".", color=f"C{k + 1}", ms=3, alpha=0.7)
    ax.axhline(0, color="k", lw=0.8)
    ax.axhspan(-MARGIN, MARGIN, color="grey", alpha=0.15, lw=0, label=f"tie band ± {MARGIN}")
    ax.set(xticks=x, xticklabels=[s[0] for s in SETTINGS], ylabel="test accuracy difference to ReLU",
           title=f"paired over {len(seeds)} seeds, each activation at its best lr")
    ax.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Test-accuracy difference of Leaky ReLU and ELU to ReLU, seed by seed (dots) "
                             "and mean ± t standard errors (t: Student's 95% value for the seeds); above 0: "
                             "better than ReLU. A bar clear of 0 and reaching beyond the grey band is a real "
                             "difference; one inside it is a tie.")
    rows = []
    for s in SETTINGS:
        p = per[s[0]]
        rows.append([s[0]] + [f"{p[a]['mean']:.3f} ± {p[a]['std']:.3f} (lr {p[a]['lr']:g})" for a in ACTS]
                    + [f"{p[f'{v}_minus_relu']['diff']:+.3f} ± {p[f'{v}_minus_relu']['se']:.3f}"
                       for v in VARIANTS])
    table = Table(["setting", *ACTS, *(f"{v} - relu" for v in VARIANTS)], rows,
                  f"Final test accuracy (mean ± std over {len(seeds)} seeds) at each activation's best lr of "
                  f"{list(LRS)}; paired differences ± standard error.")
    setup = {"settings": [list(s) for s in SETTINGS], "acts": list(ACTS), "width": width,
             "init": "kaiming_normal", "optimizer": "momentum 0.9", "lrs": list(LRS), "epochs": epochs,
             "seeds": seeds}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Per variant and setting: +1 better than ReLU, -1 worse, 0 established tie, None within noise.
    Refuted if a variant is better in every setting (reliably better); depends if a variant is better in
    some settings and tied or worse in others; confirmed if no variant is better anywhere and every
    comparison is decided; inconclusive in quick mode when nothing is better but a comparison is within
    noise (full mode: those count as not better)."""
    per, settings = numbers["per_setting"], numbers["settings"]
    out = {v: {s: per[s][f"{v}_minus_relu"]["outcome"] for s in settings} for v in numbers["variants"]}
    txt = "; ".join(f"{v}: " + ", ".join(f"{s} {per[s][f'{v}_minus_relu']['diff']:+.3f} ± "
                                          f"{per[s][f'{v}_minus_relu']['se']:.3f}" for s in settings)
                    for v in out)
    reliably = [v for v, o in out.items() if all(x == 1 for x in o.values())]
    if reliably:
        return Verdict(REFUTED, f"{', '.join(reliably)} beat ReLU in every setting. Differences to ReLU: "
                                f"{txt}.")
    some = {v: [s for s, x in o.items() if x == 1] for v, o in out.items()}
    some = {v: s for v, s in some.items() if s}
    if some:
        return Verdict(DEPENDS, "On the setting: " + "; ".join(f"{v} beats ReLU on {', '.join(s)} only"
                                                            for v, s in some.items())
                       + f". Differences to ReLU: {txt}.")
    if quick and any(x is None for o in out.values() for x in o.values()):
        return Verdict(INCONCLUSIVE, f"No variant beats ReLU anywhere, but some differences are within "
                                     "noise. "
                                     f"Differences to ReLU: {txt}.")
    # the claim is a negative one ("not reliably better"): no established advantage anywhere confirms it
    open_ = sorted({s for o in out.values() for s, x in o.items() if x is None})
    how = f"ties or worse; within noise: {', '.join(open_)}" if open_ else "ties or worse"
    return Verdict(CONFIRMED, f"Neither variant beats ReLU in any setting ({how}). Differences to ReLU: "
                              f"{txt}.")


CLAIM = Claim(
    id="C16",
    title="Leaky ReLU / ELU not reliably better",
    rule="MLPs (He init, SGD momentum, best of two lrs) on digits (2 and 6 layers) and breast_cancer (2), "
         "ReLU vs Leaky ReLU and ELU, paired over seeds; a test-accuracy difference counts when >= 1 point "
         "and > t SE, is a tie when |diff| + t' SE < 1 point. Refuted if a variant beats ReLU in every "
         "setting; depends if one beats it in some settings only; confirmed if none beats it anywhere (in "
         "quick mode: inconclusive while a difference is within noise).",
    measure=measure,
    decide=decide,
)
