r"""C30 - ReLU is usually unsuitable for recurrent networks; LSTMs use tanh and sigmoid.

Tutorial 001: "traditionally LSTMs use tanh for the cell state and sigmoid for the gates, and ReLU is
usually not suitable for RNN-type networks". Tutorial 002 (Gulcehre et al. 2016) says the opposite for
gated nets: "we show that piecewise-linear activations can be used in gated recurrent networks such as
LSTMs and GRUs" (and cites ReLU in simple RNNs, Hannun et al. 2014, Le et al. 2015).

Measured with the sweep engine's gated recurrent models (:func:`actlab.nets.recurrent`: the catalog
LSTM/GRU layers of :mod:`actlab.noisy.recurrent`, sigmoid gates): each digits image read as a sequence of
8 rows of 8 pixels, one layer of 32 units, Adam lr 0.01; the candidate (and LSTM cell) activation tanh -
the convention - or ReLU. Final test accuracy, mean ± std over seeds, and whether any run diverged.
Plain (ungated) RNNs, where ReLU's unbounded recurrence can explode, are not among the sweep engine's
models; the verdict covers LSTM and GRU.

Per model, ReLU is "unsuitable" if a ReLU run diverged or tanh beats it by more than 0.10 (it does not
train comparably); "suitable" if ReLU ends within 0.02 of tanh (or above); "trails" if the gap is in
between with the seeds' mean ± std intervals apart (it trains, but slower at this budget); otherwise
unclear.
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
from actlab.report.claims._stats import final_accuracy, sample_std
from actlab.sweep import TrialConfig

MODELS = ("lstm", "gru")
ACTS = ("tanh", "relu")
MARGIN = 0.02
#: A gap this large (or a diverged run) makes ReLU unsuitable rather than merely slower.
FAR = 0.10



def _models(ctx: Context) -> tuple[str, ...]:
    """LSTM only in quick mode (the tutorial's example; recurrent trials are the slowest), both in full."""
    return ctx.pick(("lstm",), MODELS, MODELS)


def _configs(ctx: Context) -> list[TrialConfig]:
    base = TrialConfig(dataset="digits", depth=1, width=ctx.pick(32, 32, 8), optimizer="adam", lr=0.01,
                       epochs=ctx.pick(4, 6, 1))
    return [base.replace(model=m, act=a, seed=s) for m in _models(ctx) for a in ACTS
            for s in ctx.seeds(3, 3, 1)]


def _state(d: dict[str, Any], margin: float, far: float) -> str:
    t, r = d["tanh"], d["relu"]
    gap = t["mean"] - r["mean"]
    if r["diverged"] or gap > far:
        return "unsuitable"
    if gap <= margin:
        return "suitable"
    if t["mean"] - t["std"] > r["mean"] + r["std"]:
        return "trails"
    return "unclear"


def measure(ctx: Context) -> Evidence:
    configs = _configs(ctx)
    results = ctx.train(configs)
    per: dict[str, dict[str, Any]] = {}
    models = _models(ctx)
    for m in models:
        per[m] = {}
        for a in ACTS:
            rs = [r for r, c in zip(results, configs, strict=True) if c.model == m and c.act == a]
            acc = [final_accuracy(r) for r in rs]
            per[m][a] = {"values": acc, "mean": float(np.mean(acc)), "std": sample_std(acc),
                         "diverged": sum(r.status != "ok" or "diverged_epoch" in r.final for r in rs),
                         "statuses": [r.status for r in rs],
                         "curves": [[float(e["test_acc"]) for e in r.epochs] for r in rs]}
        per[m]["gap_tanh_minus_relu"] = per[m]["tanh"]["mean"] - per[m]["relu"]["mean"]
        per[m]["relu_state"] = _state(per[m], MARGIN, FAR)
    numbers: dict[str, Any] = {"models": per, "margin": MARGIN, "far": FAR}

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(3.9 * len(models), 3.2), sharey=True)
    for ax, m in zip(np.atleast_1d(axes), models, strict=True):
        for a, col in zip(ACTS, ("C0", "C3"), strict=True):
            arr = np.array(per[m][a]["curves"])
            mu, sd = arr.mean(0), arr.std(0)
            ep = np.arange(len(mu))
            ax.plot(ep, mu, color=col, label=f"{a} (gates sigmoid)")
            ax.fill_between(ep, mu - sd, mu + sd, color=col, alpha=0.15)
        ax.set(xlabel="epoch", title=f"{m.upper()}, digits as 8 rows")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy")
    fig.tight_layout()
    desc = "; ".join(f"{m.upper()} tanh {per[m]['tanh']['mean']:.3f} vs ReLU {per[m]['relu']['mean']:.3f}"
                     for m in models)
    figure = ctx.figure(fig, "Test accuracy (mean ± std over seeds) of gated recurrent nets whose "
                             f"candidate activation is tanh (blue) or ReLU (red): {desc}.")
    rows = [[m.upper(), a, f"{per[m][a]['mean']:.3f} ± {per[m][a]['std']:.3f}", per[m][a]["diverged"]]
            for m in models for a in ACTS]
    table = Table(["model", "candidate activation", "final test accuracy (mean ± std)", "diverged runs"],
                  rows, "Digits read row by row (8 steps of 8 pixels); one layer; Adam lr 0.01.")
    c0 = configs[0]
    setup = {"dataset": "digits as 8 steps x 8 pixels", "models": list(models), "width": c0.width,
             "optimizer": "adam", "lr": c0.lr, "epochs": c0.epochs,
             "seeds": len(per[models[0]]["tanh"]["values"]), "gates": "sigmoid"}
    return Evidence(numbers, setup, [figure], [table],
                    notes="Ungated RNNs are not among the sweep engine's models; the verdict covers the "
                          f"gated models run here ({', '.join(m.upper() for m in models)}; quick mode runs "
                          "LSTM only).")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed if ReLU is unsuitable in every model, refuted if suitable in every model; a model where
    ReLU trails (or a mix) makes it depend; unclear models make it inconclusive in quick mode."""
    per = numbers["models"]
    states = {m: d["relu_state"] for m, d in per.items()}
    desc = "; ".join(f"{m.upper()} tanh {d['tanh']['mean']:.3f} ± {d['tanh']['std']:.3f} vs ReLU "
                     f"{d['relu']['mean']:.3f} ± {d['relu']['std']:.3f} ({d['relu']['diverged']} diverged)"
                     for m, d in per.items())
    vals = set(states.values())
    if vals == {"unsuitable"}:
        return Verdict(CONFIRMED, f"ReLU diverges or trails tanh by more than {numbers['far']} in every "
                                  f"gated model run: {desc}.")
    if vals == {"suitable"}:
        return Verdict(REFUTED, f"with sigmoid gates, ReLU candidates train within {numbers['margin']} of "
                                f"tanh (or better), none diverged: {desc}.")
    if "unclear" in vals and quick:
        return Verdict(INCONCLUSIVE, f"a gap between {numbers['margin']} and {numbers['far']} within the "
                                     f"seeds' spread: {desc}.")
    if vals <= {"trails", "suitable", "unclear"}:
        return Verdict(DEPENDS, f"trains but trails: ReLU trains without diverging but trails tanh by "
                                f"{numbers['margin']}..{numbers['far']} in "
                                + ", ".join(m.upper() for m, s in states.items() if s != "suitable")
                                + f" at this budget (the budget is not varied; the full run trains "
                                  f"longer); {desc}.")
    return Verdict(DEPENDS, "on the model: " + ", ".join(f"ReLU {s} in {m.upper()}"
                                                        for m, s in states.items()) + f"; {desc}.")


CLAIM = Claim(
    id="C30",
    title="ReLU is unsuitable for recurrent nets",
    rule="Digits as sequences, LSTM (quick mode) and GRU (full mode too) with sigmoid gates, candidate tanh "
         "vs ReLU (same seeds). Per model, ReLU is unsuitable if a run diverged or tanh leads by more than "
         "0.10, suitable if ReLU is within 0.02 of tanh or above, trails if in between with mean ± std "
         "intervals apart, else unclear. Confirmed if unsuitable in every model, refuted if suitable in "
         "every model; unclear: inconclusive in quick mode; trails (or a mix): depends (trains but trails "
         "at this budget; on the model when some model is unsuitable).",
    measure=measure,
    decide=decide,
)
