r"""C12 - He initialisation suits ReLU better than Xavier initialisation; Xavier-initialised deep ReLU
nets train badly.

Tutorial 001 ("tips for using ReLU"): "Kaiming He et al. showed that Xavier initialisation and other
schemes are not suitable for ReLU; a small modification of Xavier initialisation makes it suitable for
ReLU - He weight initialisation - which works better with ReLU."

Why (He et al. 2015): with :math:`\mathrm{Var}[w] = 1/n` (Xavier for square layers,
:math:`2/(n_{in}+n_{out})`) a ReLU layer halves the second moment of its input, so after :math:`L`
layers the signal's variance has shrunk by :math:`2^{-L}`; He's :math:`2/n_{in}` keeps it.

Measured: (1) at initialisation, the standard deviation of every hidden layer's activations of a deep
ReLU MLP on the digits images, He (``kaiming_normal``) vs Xavier (``xavier_normal``); (2) training on
digits through the sweep engine (``ctx.train``): ReLU MLPs of width 64 at a shallow and a deep depth,
SGD with momentum 0.9, 4 epochs (quick; 10 in full mode), each init at its better learning rate of a
small grid (so that neither loses to an unlucky rate), several seeds. The final test accuracy is
compared per depth: a difference counts when it is at least 3 points and beyond t standard errors of
the paired (same seed) differences; it is an established tie when the difference plus t' standard
errors stays below 3 points (t, t': Student's two- and one-sided 95% values for the seeds).
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

INITS = ("kaiming_normal", "xavier_normal")
LRS = (0.01, 0.05)
MARGIN = 0.03
#: "trains badly": Xavier's accuracy at the deepest depth is this far below He's
BAD_GAP = 0.10


@torch.no_grad()
def _init_stds(depth: int, width: int, seeds: list[int]) -> dict[str, list[float]]:
    from actlab import data, nets

    x = data.load("digits", standardize=True, seed=0).x_train.float()
    out = {}
    for init in INITS:
        per = []
        for s in seeds:
            net = nets.mlp(x.shape[1], 10, depth, width, "relu", init=init, seed=s)
            h, stds = x, []
            for m in net:
                h = m(h)
                if isinstance(m, torch.nn.ReLU) or type(m).__name__.lower().startswith("relu"):
                    stds.append(float(h.std()))
            per.append(stds)
        out[init] = np.exp(np.log(np.array(per)).mean(0)).tolist()  # geometric mean over nets
    return out


def measure(ctx: Context) -> Evidence:
    depths = ctx.pick((3, 12), (3, 12), (2, 4))
    width = ctx.pick(64, 64, 16)
    epochs = ctx.pick(4, 10, 1)
    seeds = ctx.seeds(3, 5, 2)
    configs = [TrialConfig(dataset="digits", act="relu", depth=d, width=width, init=i, optimizer="momentum",
                           lr=lr, epochs=epochs, seed=s)
               for d in depths for i in INITS for lr in LRS for s in seeds]
    results = ctx.train(configs)
    acc: dict[tuple[int, str, float], list[float]] = {}
    for c, r in zip(configs, results):
        acc.setdefault((c.depth, c.init, c.lr), []).append(_acc(r))
    per_depth: dict[str, Any] = {}
    for d in depths:
        best = {}
        for i in INITS:
            lr = max(LRS, key=lambda lr, i=i: float(np.mean(acc[(d, i, lr)])))
            v = acc[(d, i, lr)]
            best[i] = {"lr": lr, "acc": v, "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))
                       if len(v) > 1 else 0.0,
                       "by_lr": {str(x): float(np.mean(acc[(d, i, x)])) for x in LRS}}
        per_depth[str(d)] = {**best, "he_minus_xavier": compare(best["kaiming_normal"]["acc"],
                                                               best["xavier_normal"]["acc"], MARGIN)}
    stds = _init_stds(max(depths), width, seeds)
    numbers = {"depths": list(depths), "per_depth": per_depth, "init_std_by_layer": stds, "margin": MARGIN,
               "bad_gap": BAD_GAP, "seeds": len(seeds), "epochs": epochs, "lrs": list(LRS)}

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.3))
    layers = np.arange(1, max(depths) + 1)
    for i, col in zip(INITS, ("C0", "C3")):
        a.semilogy(layers, stds[i], "o-", color=col, ms=3, label=i)
    a.semilogy(layers, stds["xavier_normal"][0] * 2.0 ** (-(layers - 1) / 2), "k:", lw=0.8,
               label="halving the variance per layer")
    a.set(xlabel="hidden layer", ylabel="std of ReLU outputs", title="signal at initialisation (digits)")
    a.legend(fontsize=7)
    x = np.arange(len(depths))
    for k, (i, col) in enumerate(zip(INITS, ("C0", "C3"))):
        m = [per_depth[str(d)][i]["mean"] for d in depths]
        s = [per_depth[str(d)][i]["std"] for d in depths]
        b.bar(x + (k - 0.5) * 0.38, m, 0.38, yerr=s, capsize=3, color=col, label=i)
        for xi, d in zip(x, depths):
            pts = per_depth[str(d)][i]["acc"]
            b.plot([xi + (k - 0.5) * 0.38] * len(pts), pts, "k.", ms=3)
    b.axhline(0.1, color="grey", ls=":", lw=0.8)
    b.set(xticks=x, xticklabels=[f"depth {d}" for d in depths], ylabel="test accuracy", ylim=(0, 1),
          title=f"trained {epochs} epochs, best lr of {list(LRS)}")
    b.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: at initialisation Xavier's ReLU signal shrinks by about sqrt(2) per "
                             "layer (dotted: the 2^-L prediction), He's stays level. Right: test accuracy "
                             "after "
                             "training (mean ± std, dots = seeds, dotted = chance); compare the bars per "
                             "depth.")
    rows = []
    for d in depths:
        for i in INITS:
            r = per_depth[str(d)][i]
            rows.append([d, i, r["lr"], f"{r['mean']:.3f} ± {r['std']:.3f}",
                         ", ".join(f"{k}: {v:.3f}" for k, v in r["by_lr"].items())])
    table = Table(["depth", "init", "best lr", "test acc at best lr", "mean test acc by lr"], rows,
                  f"ReLU MLPs width {width} on digits, SGD momentum 0.9, {epochs} epochs, {len(seeds)} "
                  "seeds.")
    setup = {"dataset": "digits", "act": "relu", "width": width, "depths": list(depths), "inits": list(INITS),
             "optimizer": "momentum 0.9", "lrs": list(LRS), "epochs": epochs, "seeds": seeds}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Deepest depth: He must beat Xavier (paired, >= 3 points and > t SE) by at least 10 points for
    "Xavier trains badly". Then confirmed if He is also better at every other depth, depends (on depth)
    if it ties or loses there; refuted if at the deepest depth Xavier is as good (established tie) or
    better; inconclusive when the deepest comparison is undetermined (and in quick mode when any is)."""
    depths = numbers["depths"]
    pd = {d: numbers["per_depth"][str(d)] for d in depths}
    deep = max(depths)
    cmp_deep = pd[deep]["he_minus_xavier"]
    txt = "; ".join(f"depth {d}: He {pd[d]['kaiming_normal']['mean']:.3f} vs Xavier "
                    f"{pd[d]['xavier_normal']['mean']:.3f} (paired diff "
                    f"{pd[d]['he_minus_xavier']['diff']:+.3f} ± "
                    f"{pd[d]['he_minus_xavier']['se']:.3f})" for d in depths)
    undetermined = any(pd[d]["he_minus_xavier"]["outcome"] is None for d in depths)
    if undetermined and quick:
        return Verdict(INCONCLUSIVE, f"A difference is within noise. {txt}.")
    if cmp_deep["outcome"] in (0, -1):
        return Verdict(REFUTED, f"Xavier trains as well as or better than He at depth {deep}. {txt}.")
    if cmp_deep["outcome"] is None:  # neither a difference nor an established tie
        return Verdict(INCONCLUSIVE, f"He's advantage at depth {deep} is within noise. {txt}.")
    bad = cmp_deep["diff"] >= numbers["bad_gap"]
    shallow = {d: pd[d]["he_minus_xavier"]["outcome"] for d in depths if d != deep}
    if bad and all(o == 1 for o in shallow.values()):
        return Verdict(CONFIRMED, f"He beats Xavier at every depth, by {cmp_deep['diff']:.2f} at depth "
                                  f"{deep}. "
                                  f"{txt}.")
    if bad:
        words = {0: "tie", -1: "Xavier better", None: "no measurable difference", 1: "He better"}
        at = ", ".join(f"depth {d}: {words[o]}" for d, o in shallow.items())
        return Verdict(DEPENDS, f"On depth: at depth {deep} Xavier trains badly ({cmp_deep['diff']:.2f} "
                                "below He), "
                                f"but not in shallow nets ({at}). {txt}.")
    return Verdict(DEPENDS, f"He is better at depth {deep}, but by under {numbers['bad_gap']:.2f}: Xavier "
                            "does "
                            f"not train badly. {txt}.")


CLAIM = Claim(
    id="C12",
    title="He vs Xavier init for deep ReLU nets",
    rule="ReLU MLPs on digits at a shallow and a deep depth, each init at its better lr of a grid, seeds; "
         "paired test-accuracy difference He - Xavier counts when >= 3 points and > t SE, is a tie when "
         "|diff| + t' SE < 3 points. Confirmed if He wins at every depth and by >= 10 points at the deepest; "
         "depends if it wins by >= 10 points at the deepest only (or by less); refuted if Xavier ties or "
         "wins "
         "at the deepest; inconclusive when the deepest comparison is undetermined (neither > t SE nor a "
         "tie), and in quick mode when any is. t, t': Student's 95% two- and one-sided values.",
    measure=measure,
    decide=decide,
)
