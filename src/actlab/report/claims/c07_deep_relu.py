r"""C07 - ReLU's gradient is 1 for x > 0, so deep ReLU networks do not suffer vanishing gradients and train.

Tutorials 000, 001, 004: "when x > 0 ReLU's gradient is always 1, so it does not shrink as it is
multiplied through the layers"; "networks trained with it almost completely avoid vanishing gradients";
"ReLU made it possible to train deep networks".

Exact part: the catalog's relu derivative on a dyadic float64 grid is exactly 1 for x > 0 and exactly 0
for x < 0 - so the back-propagated gradient passes through the active half of the units only, still
multiplied by the weights.

Measured on digits with 10-hidden-layer relu MLPs of width 64 under PyTorch's default init
(:math:`\mathrm{Var}\,w = 1/(3 n_{in})`), Xavier-normal and He-normal (Kaiming, :math:`2/n_{in}`), with
the training set-up of C04 (SGD with momentum 0.9, lr 0.02, no pre-training): the first/last
hidden-layer gradient ratio at init (weight gradient and back-propagated :math:`\partial L/\partial h`,
the smaller; vanishing = below 1/100) and the test accuracy reached (trains = mean >= 0.8).
Mean-field theory predicts the back-propagated gradient shrinks by :math:`\sigma_w^2/2` per layer
(:func:`actlab.theory.chi1`): 1/6 for the default init, 1/2 for Xavier (square layers), 1 for He.
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
from actlab.report.claims._layer_grads import init_gradients
from actlab.report.claims._stats import chance_accuracy, final_accuracy, mean_curve, sample_std
from actlab.sweep import TrialConfig

DEPTH, WIDTH = 10, 64
VANISH = 1e-2
TRAINS = 0.8
INITS = ("default", "xavier_normal", "kaiming_normal")
SIGMA_W2 = {"default": 1.0 / 3.0, "xavier_normal": 1.0, "kaiming_normal": 2.0}  # square hidden layers


def measure(ctx: Context) -> Evidence:
    x = torch.arange(-8 * 2**12, 8 * 2**12 + 1, dtype=torch.float64) / 2**12
    d = actlab.spec("relu").derivative(x)
    numbers: dict[str, Any] = {
        "derivative_pos_all_one": bool((d[x > 0] == 1.0).all()),
        "derivative_neg_all_zero": bool((d[x < 0] == 0.0).all()),
        "derivative_at_0": float(d[x == 0][0]),
        "vanish": VANISH, "trains": TRAINS,
    }
    seeds = ctx.seeds(2, 4, 1)
    epochs = ctx.pick(4, 8, 1)
    depth = ctx.pick(DEPTH, DEPTH, 3)
    configs = [TrialConfig(dataset="digits", act="relu", depth=depth, width=WIDTH, init=i,
                           optimizer="momentum",
                           lr=0.02, epochs=epochs, batch_size=64, seed=s) for i in INITS for s in seeds]
    results = ctx.train(configs)
    cases: dict[str, dict[str, Any]] = {}
    chance = chance_accuracy("digits")  # a diverged run counts at chance
    for k, init in enumerate(INITS):
        cfgs = configs[k * len(seeds):(k + 1) * len(seeds)]
        rs = results[k * len(seeds):(k + 1) * len(seeds)]
        g = init_gradients(cfgs)
        acc = [final_accuracy(r, chance) for r in rs]
        chi = float(actlab.theory.chi1("relu", SIGMA_W2[init], 0.0))
        cases[init] = {"grad_ratio": min(g["weight_ratio"], g["backprop_ratio"]),
                       "weight_ratio": g["weight_ratio"],
                       "backprop_ratio": g["backprop_ratio"], "profile": g["backprop_profile"],
                       "theory_backprop_ratio": float(chi ** ((depth - 1) / 2)), "chi1": chi,
                       "test_acc": float(np.mean(acc)), "test_acc_std": sample_std(acc),
                       "test_acc_runs": acc,
                       "curve": mean_curve([[e["test_acc"] for e in r.epochs] for r in rs], chance),
                       "statuses": [r.status for r in rs]}
    numbers.update({"cases": cases, "depth": depth, "epochs": epochs})

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    layers = np.arange(1, depth + 1)
    for k, (init, c) in enumerate(cases.items()):
        a.semilogy(layers, c["profile"], "o-", ms=3, color=f"C{k}", label=f"{init} (sigma_w2 = "
                                                                          f"{SIGMA_W2[init]:.2g})")
        a.semilogy(layers, c["chi1"] ** ((depth - layers) / 2), ":", color=f"C{k}", lw=1)
        b.plot(np.arange(len(c["curve"])), c["curve"], "o-", ms=3, color=f"C{k}", label=f"{init}: "
                                                                                        f"{c['test_acc']:.2f}")
    a.axhline(VANISH, color="k", ls="--", lw=0.6)
    a.set(xlabel="hidden layer (1 = next to the input)", ylabel="|dL/dh_l| / |dL/dh_last|",
          title="back-propagated gradient at init")
    a.legend(fontsize=7)
    b.axhline(TRAINS, color="k", ls="--", lw=0.6)
    b.set(xlabel="epoch", ylabel="test accuracy", title=f"{depth}-layer relu MLPs on digits")
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: the gradient reaching each hidden layer of a deep relu MLP at init, "
                             "relative to the last one (dots: mean-field prediction (sigma_w2/2)^(n/2)). "
                             "relu' = 1 on active units does not stop the weights from shrinking the "
                             "gradient: only He init keeps it level. Right: test accuracy while training; "
                             "the dashed line is the 'trains' threshold.")
    rows = [[i, f"{c['weight_ratio']:.2e}", f"{c['backprop_ratio']:.2e}", f"{c['theory_backprop_ratio']:.2e}",
             f"{c['test_acc']:.3f} ± {c['test_acc_std']:.3f}"] for i, c in cases.items()]
    table = Table(["init", "first/last |dL/dW|", "first/last |dL/dh|", "mean-field |dL/dh|", "test accuracy"],
                  rows, f"digits, {depth} relu layers of {WIDTH}, SGD momentum 0.9 lr 0.02, {epochs} epochs, "
                        f"{len(seeds)} seed(s).")
    return Evidence(numbers, {"dataset": "digits", "config": configs[0].to_dict(), "inits": INITS,
                              "seeds": seeds},
                    [figure], [table],
                    notes="relu'(x) is exactly 1 for x > 0 and exactly 0 for x < 0 on the grid (relu'(0) = "
                          f"{numbers['derivative_at_0']:g}); about half the units pass no gradient at all.")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Per init: holds if the first/last gradient ratio is >= ``vanish`` and mean test accuracy >=
    ``trains``. All inits hold: confirmed; none: refuted; some: depends (on the init)."""
    if not (numbers["derivative_pos_all_one"] and numbers["derivative_neg_all_zero"]):
        return Verdict(REFUTED, "relu' is not exactly 1 for x > 0 (and 0 for x < 0) on the grid.")
    held, failed, mixed = [], [], []
    for init, c in numbers["cases"].items():
        runs = c["test_acc_runs"]
        if min(runs) < numbers["trains"] <= max(runs):
            mixed.append(init)
        desc = (f"{init} (|dL/dh| ratio {c['backprop_ratio']:.1e}, |dL/dW| ratio {c['weight_ratio']:.1e}, "
                f"acc {c['test_acc']:.2f} after {numbers.get('epochs', '?')} epochs)")
        holds = c["grad_ratio"] >= numbers["vanish"] and c["test_acc"] >= numbers["trains"]
        (held if holds else failed).append(desc)
    if mixed and quick:
        return Verdict(INCONCLUSIVE, f"Seeds disagree on whether {', '.join(mixed)} trains (accuracies on "
                                     f"both "
                                     f"sides of {numbers['trains']}); the full run decides.")
    if not failed:
        return Verdict(CONFIRMED, "relu' = 1 on x > 0, and deep relu nets keep their gradients and train "
                                  "with "
                                  "every tested init: " + "; ".join(held) + ".")
    if not held:
        return Verdict(REFUTED, "No tested init gives a deep relu net that keeps its gradient and trains: "
                                + "; ".join(failed) + ".")
    return Verdict(DEPENDS, "relu' = 1 on x > 0, but whether a deep relu net vanishes depends on the init. "
                            "Trains: " + "; ".join(held) + ". Vanishes or does not train: "
                            + "; ".join(failed) + ".")


CLAIM = Claim(
    id="C07",
    title="Deep relu nets do not vanish and train",
    rule=f"Exact: relu' on a float64 grid. Then {DEPTH}-layer relu MLPs on digits with PyTorch-default, "
         f"Xavier and "
         f"He init (SGD momentum, no pre-training). An init holds if the first/last hidden-layer gradient "
         f"ratio "
         f"at init (|dL/dW| or |dL/dh|, the smaller) is >= {VANISH:g} and mean test accuracy >= {TRAINS}. "
         "Confirmed if every init holds, refuted if none does (or relu' is not 1 on x > 0), depends (on the "
         f"init) otherwise; inconclusive in quick mode when seeds land on both sides of {TRAINS}.",
    measure=measure,
    decide=decide,
)
