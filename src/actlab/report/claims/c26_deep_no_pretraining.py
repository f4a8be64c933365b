r"""C26 - with ReLU, deep networks need no unsupervised pre-training; sigmoid/tanh networks do.

Tutorial 004: "using the rectifier as the nonlinearity lets deep networks learn without pre-training";
"ReLU with and without pre-training works about the same, while the other activations are much worse
without pre-training"; "early multi-layer networks with sigmoid or tanh, without pre-training, failed
to converge because of vanishing gradients". Tutorial 001 says the same of ReLU.

Measured without any pre-training: MLPs with 8 hidden layers of 64 units on digits, trained by the
sweep engine from the standard random init of each activation (He/Kaiming normal for ReLU, Glorot/
Xavier normal for sigmoid and tanh), SGD with momentum 0.9, lr 0.02, batch 64; final test accuracy,
mean ± std over seeds. A 2-hidden-layer sigmoid net with the same set-up shows that the failure is one
of depth, not of sigmoid as such. "Trains" means a mean - std of at least 0.8 test accuracy (chance is
0.1); "fails" means a mean + std of at most 0.2. Pre-training itself is not run: the claim that
sigmoid/tanh networks *need* it is tested as "they fail without it".
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

DEPTH = 8
INITS = {"relu": "kaiming_normal", "sigmoid": "xavier_normal", "tanh": "xavier_normal"}
TRAINS = 0.8
FAILS = 0.2



def _configs(ctx: Context) -> list[tuple[str, TrialConfig]]:
    base = TrialConfig(dataset="digits", width=ctx.pick(64, 64, 16), optimizer="momentum", lr=0.02,
                       epochs=ctx.pick(8, 20, 1))
    out = []
    for s in ctx.seeds(3, 5, 1):
        for act, init in INITS.items():
            depth = ctx.pick(DEPTH, DEPTH, 3)
            out.append((f"{act} x{DEPTH}", base.replace(act=act, init=init, depth=depth, seed=s)))
        out.append(("sigmoid x2", base.replace(act="sigmoid", init="xavier_normal", depth=2, seed=s)))
    return out


def measure(ctx: Context) -> Evidence:
    labelled = _configs(ctx)
    results = ctx.train([c for _, c in labelled])
    per: dict[str, dict[str, Any]] = {}
    for (label, _), r in zip(labelled, results, strict=True):
        d = per.setdefault(label, {"values": [], "curves": [], "statuses": []})
        d["values"].append(final_accuracy(r))
        d["curves"].append([float(e["test_acc"]) for e in r.epochs])
        d["statuses"].append(r.status)
    for d in per.values():
        d["mean"], d["std"] = float(np.mean(d["values"])), sample_std(d["values"])
    numbers: dict[str, Any] = {"test_acc": per, "trains_at": TRAINS, "fails_at": FAILS, "depth": DEPTH}

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    colors = {f"relu x{DEPTH}": "C0", f"sigmoid x{DEPTH}": "C1", f"tanh x{DEPTH}": "C3", "sigmoid x2": "C1"}
    for label, d in per.items():
        arr = np.array(d["curves"])
        mu, sd = arr.mean(0), arr.std(0)
        ep = np.arange(len(mu))
        ls = "--" if label == "sigmoid x2" else "-"
        ax.plot(ep, mu, ls, color=colors.get(label, "k"), label=label)
        ax.fill_between(ep, mu - sd, mu + sd, color=colors.get(label, "k"), alpha=0.15)
    ax.axhline(0.1, color="gray", ls=":", lw=0.8)
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"digits, {DEPTH} hidden layers, no pre-training")
    ax.legend(fontsize=7)
    fig.tight_layout()
    final = ", ".join(f"{label} {d['mean']:.3f}" for label, d in per.items())
    figure = ctx.figure(fig, f"Test accuracy (mean ± std over seeds) of {DEPTH}-hidden-layer nets trained "
                             "from random init without pre-training (dashed: a 2-layer sigmoid net; dotted: "
                             f"chance). Final: {final}.")
    rows = [[label, f"{d['mean']:.3f} ± {d['std']:.3f}"] for label, d in per.items()]
    table = Table(["net", "final test accuracy (mean ± std)"], rows,
                  "No pre-training; SGD momentum 0.9, lr 0.02.")
    c0 = labelled[0][1]
    setup = {"dataset": "digits", "width": c0.width, "depth": c0.depth, "inits": INITS,
             "optimizer": "momentum 0.9", "lr": c0.lr, "epochs": c0.epochs,
             "seeds": len(per[f"relu x{DEPTH}"]["values"]), "pre_training": "none"}
    return Evidence(numbers, setup, [figure], [table],
                    notes="Pre-training is not run; 'sigmoid/tanh need it' is tested as 'they fail without "
                          "it'.")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """ReLU must train; each of sigmoid and tanh must fail for a confirmation; one that trains makes the
    claim depend on the activation; results between the two bands are inconclusive in quick mode."""
    acc = numbers["test_acc"]
    depth, hi, lo = numbers["depth"], numbers["trains_at"], numbers["fails_at"]

    def state(label: str) -> str:
        d = acc[label]
        if d["mean"] - d["std"] >= hi:
            return "trains"
        if d["mean"] + d["std"] <= lo:
            return "fails"
        return "unclear"

    def ms(label: str) -> str:
        return f"{label} {acc[label]['mean']:.3f} ± {acc[label]['std']:.3f}"

    relu, sig, tanh = (state(f"{a} x{depth}") for a in ("relu", "sigmoid", "tanh"))
    nums = ", ".join(ms(k) for k in acc)
    if relu == "fails" or (relu == "unclear" and not quick):
        return Verdict(REFUTED, f"the deep ReLU net did not train without pre-training: {nums}.")
    if quick and "unclear" in (relu, sig, tanh):
        return Verdict(INCONCLUSIVE, f"some nets are between the bands (>= {hi} trains, <= {lo} fails): "
                                     f"{nums}.")
    trained = [a for a, s in (("sigmoid", sig), ("tanh", tanh)) if s == "trains"]
    if trained:
        return Verdict(DEPENDS, f"on the activation: ReLU trains without pre-training, but so does "
                                f"{' and '.join(trained)} (with Glorot init and momentum), so it does not "
                                f"need it; {nums}.")
    if sig == "fails" and tanh == "fails":
        return Verdict(CONFIRMED, f"ReLU trains at depth {depth} without pre-training, sigmoid and tanh "
                                  f"stay at chance: {nums}.")
    return Verdict(DEPENDS, f"on the activation: ReLU trains, sigmoid {sig}, tanh {tanh} (unclear: "
                            f"neither at chance nor trained): {nums}.")


CLAIM = Claim(
    id="C26",
    title="Deep ReLU nets need no pre-training; sigmoid/tanh nets do",
    rule=f"Without pre-training, {DEPTH}-hidden-layer MLPs on digits (He init for ReLU, Glorot for "
         "sigmoid/tanh, SGD momentum): a net 'trains' if mean - std of the final test accuracy >= 0.8, "
         "'fails' if mean + std <= 0.2. Refuted if ReLU fails (or, in full mode, does not train); confirmed "
         "if ReLU trains and both sigmoid and tanh fail; depends (on the activation) if ReLU trains and "
         "sigmoid or tanh trains too, or one lies between the bands in full mode; inconclusive in quick "
         "mode when a net lies between the bands.",
    measure=measure,
    decide=decide,
)
