r"""C13 - a small positive bias initialisation (0.1) is good practice for ReLU layers.

Tutorial 001 ("tips for using ReLU"): "the bias is an input with a fixed value that shifts the
activation; traditionally it is set to 1.0. When using ReLU in a network, the bias can be set to a small
value such as 0.1." The usual reasoning: a positive bias makes more units active (output > 0) at the
start, so fewer are inactive for every input and more gradient flows.

Measured through the sweep engine (``ctx.train``): ReLU MLPs (width 64, He-normal weights) on digits,
biases initialised to 0 or to 0.1 - everything else equal, so the same seed gives the same weights and
batch order and the comparison is paired - in three settings: 2 hidden layers at SGD lr 0.1, 6 hidden
layers at lr 0.1, and 2 hidden layers at lr 1.0 (where units die, see C11). Per setting, the paired
difference of the final test accuracy (bias 0.1 - bias 0) counts when it is at least 2 points and beyond
t standard errors, and is an established tie when the difference plus t' standard errors stays below
2 points (t, t': Student's two- and one-sided 95% values for the seeds). Also shown: the fraction of
hidden units active on a training image at initialisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

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
from actlab.report.claims._stats import final_accuracy as _acc
from actlab.sweep import TrialConfig

BIASES = (0.0, 0.1)
#: (label, depth, lr)
SETTINGS = (("2 layers, lr 0.1", 2, 0.1), ("6 layers, lr 0.1", 6, 0.1), ("2 layers, lr 1.0", 2, 1.0))
MARGIN = 0.02


@torch.no_grad()
def _active_at_init(c: TrialConfig) -> float:
    """Fraction of (hidden unit, training image) pairs with output > 0 at initialisation."""
    import actlab
    from actlab.sweep.trial import build_model, dataset_for, streams

    ds = dataset_for(c)
    net = build_model(c, ds, streams(c)[0])
    h, act, n = ds.x_train, 0, 0
    for m in net:
        h = m(h)
        if isinstance(m, actlab.Activation):
            act += int((h > 0).sum())
            n += h.numel()
    return act / n


def measure(ctx: Context) -> Evidence:
    width = ctx.pick(64, 64, 16)
    epochs = ctx.pick(5, 10, 1)
    seeds = ctx.seeds(3, 6, 2)
    configs = [TrialConfig(dataset="digits", act="relu", depth=d, width=width, init="kaiming_normal",
                           bias_init=b, optimizer="sgd", lr=lr, epochs=epochs, seed=s)
               for _, d, lr in SETTINGS for b in BIASES for s in seeds]
    results = ctx.train(configs)
    acc: dict[tuple[int, float, float], list[float]] = {}
    diverged: dict[str, int] = {}
    for c, r in zip(configs, results):
        acc.setdefault((c.depth, c.lr, c.bias_init), []).append(_acc(r))  # type: ignore[arg-type]
        if r.status != "ok":
            key = f"{c.depth}/{c.lr:g}/{c.bias_init:g}"
            diverged[key] = diverged.get(key, 0) + 1
    per: dict[str, Any] = {}
    for label, d, lr in SETTINGS:
        a0, a1 = acc[(d, lr, 0.0)], acc[(d, lr, 0.1)]
        per[label] = {"bias_0": {"acc": a0, "mean": float(np.mean(a0)), "std": float(np.std(a0, ddof=1))},
                      "bias_0.1": {"acc": a1, "mean": float(np.mean(a1)), "std": float(np.std(a1, ddof=1))},
                      "diff": compare(a1, a0, MARGIN),
                      "active_at_init": {str(b): _active_at_init(TrialConfig(
                          dataset="digits", act="relu", depth=d, width=width, init="kaiming_normal",
                          bias_init=b, seed=0)) for b in BIASES}}
    numbers = {"settings": [s[0] for s in SETTINGS], "per_setting": per, "margin": MARGIN,
               "seeds": len(seeds), "epochs": epochs, "diverged": diverged}

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.3))
    x = np.arange(len(SETTINGS))
    for k, (b, col) in enumerate(zip(("bias_0", "bias_0.1"), ("C0", "C1"))):
        m = [per[s[0]][b]["mean"] for s in SETTINGS]
        sd = [per[s[0]][b]["std"] for s in SETTINGS]
        ax.bar(x + (k - 0.5) * 0.38, m, 0.38, yerr=sd, capsize=3, color=col, label=b.replace("_", " "))
        for xi, s in zip(x, SETTINGS):
            pts = per[s[0]][b]["acc"]
            ax.plot([xi + (k - 0.5) * 0.38] * len(pts), pts, "k.", ms=3)
    for xi, s in zip(x, SETTINGS):
        dd = per[s[0]]["diff"]
        ax.annotate(f"Δ {dd['diff']:+.3f}\n± {dd['se']:.3f}", (xi, 0.12), ha="center", fontsize=7)
    ax.set(xticks=x, xticklabels=[s[0] for s in SETTINGS], ylabel="test accuracy", ylim=(0, 1.18),
           title=f"ReLU MLP on digits, He weights, {epochs} epochs")
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    fig.tight_layout()
    figure = ctx.figure(fig, "Test accuracy with biases initialised to 0 (blue) or 0.1 (orange), mean ± std "
                             "over seeds (dots); Δ: the paired difference (0.1 - 0) ± its standard error. "
                             "Equal "
                             "bars mean the bias init makes no difference here.")
    rows = [[s[0], f"{per[s[0]]['bias_0']['mean']:.3f} ± {per[s[0]]['bias_0']['std']:.3f}",
             f"{per[s[0]]['bias_0.1']['mean']:.3f} ± {per[s[0]]['bias_0.1']['std']:.3f}",
             f"{per[s[0]]['diff']['diff']:+.3f} ± {per[s[0]]['diff']['se']:.3f}",
             f"{per[s[0]]['active_at_init']['0.0']:.3f} / {per[s[0]]['active_at_init']['0.1']:.3f}"]
            for s in SETTINGS]
    table = Table(["setting", "bias 0", "bias 0.1", "paired diff", "active fraction at init (0 / 0.1)"], rows,
                  f"Final test accuracy, {len(seeds)} seeds, SGD, width {width}.")
    setup = {"dataset": "digits", "act": "relu", "width": width, "init": "kaiming_normal weights",
             "settings": [list(s) for s in SETTINGS], "biases": list(BIASES), "epochs": epochs,
             "seeds": seeds}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Per setting: +1 (0.1 better), -1 (worse), 0 (established tie), None (within noise). Confirmed if
    better everywhere; depends if better somewhere and not everywhere; refuted if nowhere better and
    every setting decided (ties or worse); inconclusive if nowhere better and a setting is undetermined
    (neither a difference nor an established tie: no evidence either way)."""
    per = numbers["per_setting"]
    out = {s: per[s]["diff"]["outcome"] for s in numbers["settings"]}
    txt = "; ".join(f"{s}: bias 0.1 {per[s]['bias_0.1']['mean']:.3f} vs 0 {per[s]['bias_0']['mean']:.3f} "
                    f"(paired {per[s]['diff']['diff']:+.3f} ± {per[s]['diff']['se']:.3f})" for s in out)
    better = [s for s, o in out.items() if o == 1]
    if better and len(better) == len(out):
        return Verdict(CONFIRMED, f"Bias 0.1 is better in every setting. {txt}.")
    if better:
        return Verdict(DEPENDS, f"On the setting: bias 0.1 helps in {', '.join(better)} only. {txt}.")
    if any(o is None for o in out.values()):
        return Verdict(INCONCLUSIVE, f"No setting shows a benefit and some differences are within noise. "
                                     f"{txt}.")
    worse = [s for s, o in out.items() if o == -1]
    if worse:
        return Verdict(REFUTED, f"Bias 0.1 is worse in {', '.join(worse)} and better nowhere. {txt}.")
    return Verdict(REFUTED, f"No measurable benefit of a 0.1 bias in any setting (2-point margin). {txt}.")


CLAIM = Claim(
    id="C13",
    title="Bias init 0.1 for ReLU",
    rule="ReLU MLPs (He weights) on digits with biases 0 vs 0.1 in three settings (2 layers lr 0.1, 6 "
         "layers lr 0.1, "
         "2 layers lr 1.0), paired over seeds; a test-accuracy difference counts when >= 2 points and > t "
         "SE, is a tie when |diff| + t' SE < 2 points (t, t': Student's 95% two- and one-sided values). "
         "Confirmed if 0.1 is better in every setting; depends if in some; refuted if in none and every "
         "setting is decided (ties or worse); inconclusive if in none and a difference is undetermined.",
    measure=measure,
    decide=decide,
)
