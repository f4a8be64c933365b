r"""C04 - deep sigmoid/tanh networks suffer vanishing gradients and, without pre-training, fail to train.

Tutorials 000, 001 and 004: in deep sigmoid (and tanh) networks the back-propagated gradient is a
product of many factors below 1, "so the first layers' weights are not updated"; 004: "early multilayer
networks with sigmoid or tanh could not converge without pre-training because of the vanishing
gradient".

Measured on digits with 10-hidden-layer MLPs of width 64 (sigmoid, tanh; relu with He init as the
baseline that should train), under PyTorch's default init and Xavier-normal (Glorot & Bengio 2010, the
init designed for tanh):

* at initialisation, the Frobenius norm of the first hidden layer's weight gradient divided by the last
  hidden layer's, and the same ratio for the back-propagated gradient :math:`\partial L/\partial h_l`
  (one backward pass, 512 training digits, exactly the trained models' init); "orders of magnitude
  smaller" = the smaller ratio below 1/100 (with tanh and PyTorch's default init the forward signal
  shrinks too, so the weight-gradient ratio hides part of the back-propagated decay);
* training from that init without pre-training (sweep engine, SGD with momentum 0.9): test accuracy
  after 30 epochs; "fails to train" = mean test accuracy at most 0.5 (chance is 0.1). The budget is
  long on purpose: a net that is merely slow is not one that fails (tanh with PyTorch's default init
  is near chance for the first ~10 epochs and reaches ~0.93 by epoch 30).
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
from actlab.report.claims._layer_grads import init_gradients
from actlab.report.claims._stats import chance_accuracy, final_accuracy, mean_curve, sample_std
from actlab.sweep import TrialConfig

DEPTH, WIDTH = 10, 64
#: "orders of magnitude": the first hidden layer's gradient (weight gradient or back-propagated dL/dh, the
#: smaller ratio) below this fraction of the last hidden layer's.
VANISH = 1e-2
#: mean test accuracy at or below which a network "fails to train"; the baseline must reach TRAINS.
FAILS, TRAINS = 0.5, 0.8
#: Training budget, quick and full alike: long enough to tell a net that fails from one that is slow.
EPOCHS = 30
CASES = (("sigmoid", "default"), ("sigmoid", "xavier_normal"), ("tanh", "default"), ("tanh", "xavier_normal"),
         ("relu", "kaiming_normal"))


def case_name(act: str, init: str) -> str:
    return f"{act}/{init}"


def measure(ctx: Context) -> Evidence:
    seeds = ctx.seeds(2, 4, 1)
    epochs = ctx.pick(EPOCHS, EPOCHS, 1)
    depth = ctx.pick(DEPTH, DEPTH, 3)
    configs = [TrialConfig(dataset="digits", act=a, depth=depth, width=WIDTH, init=i, optimizer="momentum",
                           lr=0.02, epochs=epochs, batch_size=64, seed=s)
               for a, i in CASES for s in seeds]
    results = ctx.train(configs)
    cases: dict[str, dict[str, Any]] = {}
    chance = chance_accuracy("digits")  # a diverged run counts at chance
    for k, (a, i) in enumerate(CASES):
        cfgs = configs[k * len(seeds):(k + 1) * len(seeds)]
        rs = results[k * len(seeds):(k + 1) * len(seeds)]
        g = init_gradients(cfgs)
        acc = [final_accuracy(r, chance) for r in rs]
        cases[case_name(a, i)] = {
            "grad_ratio": min(g["weight_ratio"], g["backprop_ratio"]), "weight_ratio": g["weight_ratio"],
            "backprop_ratio": g["backprop_ratio"], "profile": g["weight_profile"],
            "backprop_profile": g["backprop_profile"],
            "test_acc": float(np.mean(acc)), "test_acc_std": sample_std(acc), "test_acc_runs": acc,
            "curve": mean_curve([[e["test_acc"] for e in r.epochs] for r in rs], chance),
            "statuses": [r.status for r in rs]}
    numbers: dict[str, Any] = {"cases": cases, "vanish": VANISH, "fails": FAILS, "trains": TRAINS,
                               "baseline": case_name("relu", "kaiming_normal"), "depth": depth,
                               "epochs": epochs}

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    for k, (name, c) in enumerate(cases.items()):
        ls = "-" if "default" in name else "--"
        a.semilogy(np.arange(1, depth + 1), c["profile"], ls, marker="o", ms=3, color=f"C{k}",
                   label=f"{name}: {c['grad_ratio']:.1e}")
        b.plot(np.arange(len(c["curve"])), c["curve"], ls, marker="o", ms=3, color=f"C{k}",
               label=f"{name}: {c['test_acc']:.2f}")
    a.axhline(VANISH, color="k", ls=":", lw=0.8)
    a.set(xlabel="hidden layer (1 = next to the input)", ylabel="|dL/dW_l| / |dL/dW_last|",
          title="weight gradients at init (legend: smaller ratio)")
    a.legend(fontsize=6)
    b.axhline(FAILS, color="k", ls=":", lw=0.8)
    b.set(xlabel="epoch", ylabel="test accuracy", title=f"training, {depth} hidden layers, no pre-training")
    b.legend(fontsize=6)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: each hidden layer's weight-gradient norm relative to the last hidden "
                             "layer's, at init (geometric mean over seeds); below the dotted 1e-2 line the "
                             "first layers get orders of magnitude less gradient (the legend gives the "
                             "smaller of this ratio and the back-propagated dL/dh ratio). Right: test "
                             "accuracy while training (mean over seeds); the dotted line is the 'fails to "
                             "train' threshold.")
    rows = [[n, f"{c['weight_ratio']:.2e}", f"{c['backprop_ratio']:.2e}",
             f"{c['test_acc']:.3f} ± {c['test_acc_std']:.3f}"] for n, c in cases.items()]
    table = Table(["activation/init", "first/last |dL/dW|", "first/last |dL/dh|", "test accuracy"], rows,
                  f"digits, {depth} hidden layers of {WIDTH}, SGD momentum 0.9 lr 0.02, batch 64, {epochs} "
                  f"epochs, {len(seeds)} seed(s).")
    return Evidence(numbers, {"dataset": "digits", "config": configs[0].to_dict(), "cases": CASES,
                              "seeds": seeds, "grad_batch": 512}, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Per sigmoid/tanh case: the claim holds if the gradient ratio is below ``vanish`` and the mean test
    accuracy at most ``fails``. All hold: confirmed; none: refuted; some: depends (on activation/init)."""
    cases, base = numbers["cases"], numbers["cases"][numbers["baseline"]]
    if base["test_acc"] < numbers["trains"]:
        return Verdict(INCONCLUSIVE, f"The relu/He baseline only reached {base['test_acc']:.3f} test "
                                     f"accuracy (< {numbers['trains']}): this budget trains nothing, so it "
                                     "cannot decide.")
    held, failed, mixed = [], [], []
    for name, c in cases.items():
        if name == numbers["baseline"]:
            continue
        runs = c["test_acc_runs"]
        if min(runs) <= numbers["fails"] < max(runs):
            mixed.append(name)
        desc = (f"{name} (|dL/dW| ratio {c['weight_ratio']:.1e}, |dL/dh| ratio {c['backprop_ratio']:.1e}, "
                f"acc {c['test_acc']:.2f} after {numbers.get('epochs', '?')} epochs)")
        holds = c["grad_ratio"] < numbers["vanish"] and c["test_acc"] <= numbers["fails"]
        (held if holds else failed).append(desc)
    if mixed and quick:
        return Verdict(INCONCLUSIVE, f"Seeds disagree on whether {', '.join(mixed)} trains (accuracies on "
                                     f"both sides of {numbers['fails']}); the full run decides.")
    tail = f" Baseline relu/He: {base['test_acc']:.2f}."
    if not failed:
        return Verdict(CONFIRMED, "Vanishing and failure to train in every sigmoid/tanh case: "
                                  + "; ".join(held) + "." + tail)
    if not held:
        return Verdict(REFUTED, "No sigmoid/tanh case both vanishes and fails: " + "; ".join(failed) + "."
                       + tail)
    return Verdict(DEPENDS, "Depends on the activation and init. Holds: " + "; ".join(held) + ". Does not: "
                            + "; ".join(failed) + "." + tail)


CLAIM = Claim(
    id="C04",
    title="Deep sigmoid/tanh nets: vanishing gradients, no training",
    rule=f"{DEPTH}-layer MLPs on digits, sigmoid and tanh with PyTorch-default and Xavier init (relu/He "
         "as baseline). A case holds if the first/last hidden-layer gradient ratio at init (|dL/dW| or "
         "|dL/dh|, the smaller) is < "
         f"{VANISH:g} and mean test accuracy after {EPOCHS} epochs of training (SGD momentum, no "
         f"pre-training) is <= {FAILS}. "
         "Confirmed if every case holds, refuted if none does, depends (on activation/init) otherwise; "
         f"inconclusive if the baseline stays < {TRAINS} or (quick mode) seeds land on both sides of "
         f"{FAILS}.",
    measure=measure,
    decide=decide,
)
