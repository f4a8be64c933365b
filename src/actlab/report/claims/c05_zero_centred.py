r"""C05 - sigmoid's output is not zero-centred, which makes weight updates zig-zag and slows convergence;
tanh is zero-centred but still vanishes.

Tutorial 000: "when the inputs of the next neurons are all positive, the gradients of their weights all
have the same sign, so during back-propagation the weights all move in the positive or all in the
negative direction; the convergence curve is not smooth (a 'bundling' effect), which slows convergence";
"tanh solves the zero-centred problem, but vanishing gradients ... remain". 001: "not zero-mean".

Three measurements:

* exact: a unit fed by sigmoid outputs :math:`h > 0` gets, for one example, the weight gradient
  :math:`\delta\, h` - every entry has the sign of :math:`\delta`. Counted on the second layer of a
  digits MLP: the fraction of (example, unit) weight-gradient rows that are single-signed, and the same
  per minibatch of 64 (where sums over examples can mix signs);
* isolating zero-centring: :math:`\sigma(x) - 1/2 = \tfrac12\tanh(x/2)` has exactly sigmoid's
  derivative, so a network with it differs from a sigmoid network only in the output offset (a
  sigmoid net is the same function class with shifted biases). Both are trained with plain SGD
  (no momentum, lr 0.5; 2 hidden layers of 64, PyTorch default init) on digits through the sweep
  engine; "slows convergence" = sigmoid's final training loss is higher with the seeds' mean ± std
  intervals apart; the curve's smoothness = the summed epoch-to-epoch increases of the training loss;
* tanh: the mean hidden output at init (zero-centred?) and, for 10 tanh layers, the first/last
  back-propagated gradient ratio at init with PyTorch's default and Xavier init (vanishes = < 1/100).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import actlab
from actlab import nets
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
from actlab.sweep.trial import load_data

CENTRED = "report_centred_sigmoid"
ACTS = ("sigmoid", CENTRED, "tanh")
VANISH = 1e-2
#: tanh counts as zero-centred when its mean hidden output is within this of 0 (sigmoid's is ~0.5)
CENTRED_TOL = 0.1


def _register() -> None:
    actlab.register(CENTRED, lambda x: torch.sigmoid(x) - 0.5,
                    lambda x: torch.sigmoid(x) * (1.0 - torch.sigmoid(x)), formula=r"\sigma(x) - 1/2",
                    doc="sigmoid shifted to zero mean (report claim C05)", replace=True)


def sign_coherence(act: str, x: torch.Tensor, y: torch.Tensor, batch: int = 64,
                   seed: int = 0) -> dict[str, float]:
    """Fractions of single-signed weight-gradient rows of the second layer (fed by ``act`` outputs):
    per example, and per minibatch of ``batch`` summed examples."""
    m = nets.mlp(x.shape[1], 10, 2, 64, act, seed=seed)
    h1 = m[1](m[0](x)).detach()
    h1.requires_grad_(False)
    a2 = m[2](h1).detach().requires_grad_(True)
    loss = F.cross_entropy(m[4](m[3](a2)), y, reduction="sum")  # Linear, act, [Linear, act, head]
    (delta,) = torch.autograd.grad(loss, a2)  # (n, units): dL/da_2 per example
    per_ex = delta[:, :, None] * h1[:, None, :]  # (n, units, inputs): each example's weight gradient
    single = ((per_ex > 0).all(2) | (per_ex < 0).all(2)).float().mean()
    nb = len(y) // batch
    g = per_ex[:nb * batch].reshape(nb, batch, *per_ex.shape[1:]).sum(1)
    single_b = ((g > 0).all(2) | (g < 0).all(2)).float().mean()
    return {"per_example": float(single), "per_batch": float(single_b),
            "mean_hidden_output": float(h1.mean())}


def measure(ctx: Context) -> Evidence:
    _register()
    try:
        return _measure(ctx)
    finally:
        actlab.catalog.registry.unregister(CENTRED)


def _measure(ctx: Context) -> Evidence:
    ds = load_data("digits", True, 0, 0.25)
    n = ctx.pick(1024, 1347, 256)
    coherence = {a: sign_coherence(a, ds.x_train[:n], ds.y_train[:n]) for a in ACTS}
    seeds = ctx.seeds(3, 6, 1)
    epochs = ctx.pick(5, 10, 1)
    configs = [TrialConfig(dataset="digits", act=a, depth=2, width=64, optimizer="sgd", lr=0.5, epochs=epochs,
                           batch_size=64, seed=s) for a in ACTS for s in seeds]
    results = ctx.train(configs, in_process=True)  # the registered CENTRED exists in this process only
    bad = [r for r in results if r.status == "failed"]
    if bad:
        raise RuntimeError(f"training {bad[0].config.label()} failed:\n{bad[0].error}")
    train: dict[str, dict[str, Any]] = {}
    chance = chance_accuracy("digits")  # a diverged run counts at chance
    for k, a in enumerate(ACTS):
        rs = results[k * len(seeds):(k + 1) * len(seeds)]
        curves = [[e["train_loss"] if e["train_loss"] is not None else np.inf for e in r.epochs] for r in rs]
        final = [c[-1] for c in curves]
        ups = [float(np.sum(np.clip(np.diff(c), 0, None))) for c in curves]
        train[a] = {"final_loss": float(np.mean(final)), "final_loss_std": sample_std(final),
                    "final_loss_runs": final, "loss_increase": float(np.mean(ups)),
                    "test_acc": float(np.mean([final_accuracy(r, chance) for r in rs])),
                    "curve": mean_curve(curves, np.inf), "statuses": [r.status for r in rs]}
    depth = ctx.pick(10, 10, 3)
    tanh_deep = {i: init_gradients([TrialConfig(act="tanh", depth=depth, width=64, init=i, seed=s)
                                    for s in seeds],
                                   n=256)["backprop_ratio"] for i in ("default", "xavier_normal")}
    numbers: dict[str, Any] = {"coherence": coherence, "train": train, "tanh_deep_backprop_ratio": tanh_deep,
                               "vanish": VANISH, "depth_tanh": depth, "epochs": epochs, "n_seeds": len(seeds)}

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.3))
    labels = {"sigmoid": "sigmoid", CENTRED: "sigmoid - 1/2", "tanh": "tanh"}
    for k, act in enumerate(ACTS):
        t = train[act]
        a.plot(np.arange(len(t["curve"])), t["curve"], "o-", ms=3, color=f"C{k}",
               label=f"{labels[act]}: {t['final_loss']:.3f} ± {t['final_loss_std']:.3f}")
    a.set(xlabel="epoch", ylabel="training loss (mean over seeds)", title="plain SGD, lr 0.5, 2 hidden "
                                                                          "layers")
    a.legend(fontsize=7)
    xs = np.arange(len(ACTS))
    b.bar(xs - 0.2, [coherence[x]["per_example"] for x in ACTS], 0.4, label="per example")
    b.bar(xs + 0.2, [coherence[x]["per_batch"] for x in ACTS], 0.4, label="per minibatch of 64")
    b.set_xticks(xs, [labels[x] for x in ACTS])
    b.set(ylabel="fraction of weight-gradient rows", title="all entries of one sign", ylim=(0, 1.05))
    b.legend(fontsize=7)
    fig.tight_layout()
    figure = ctx.figure(fig, "Left: training loss per epoch; sigmoid and sigmoid - 1/2 have the same "
                             "derivative and differ only in the output offset, so the gap between them is "
                             "the zero-centring effect (tanh also has 4x the slope). Right: how often a "
                             "unit's incoming weight gradient has one sign for all its inputs - always for "
                             "sigmoid inputs per example, far less once a minibatch is summed.")
    rows = [[labels[x], f"{coherence[x]['mean_hidden_output']:.3f}", f"{coherence[x]['per_example']:.3f}",
             f"{coherence[x]['per_batch']:.3f}", f"{train[x]['final_loss']:.3f} ± "
                                                 f"{train[x]['final_loss_std']:.3f}",
             f"{train[x]['loss_increase']:.3f}", f"{train[x]['test_acc']:.3f}"] for x in ACTS]
    table = Table(["activation", "mean hidden output", "single-signed rows (example)", "(minibatch)",
                   "final train loss", "summed loss increases", "test acc"], rows,
                  f"digits, 2 hidden layers of 64, default init, SGD lr 0.5, {epochs} epochs, {len(seeds)} "
                  f"seeds.")
    return Evidence(numbers, {"dataset": "digits", "config": configs[0].to_dict(), "acts": ACTS,
                              "seeds": seeds,
                              "coherence_examples": n}, [figure], [table],
                    notes=f"Deep tanh ({depth} layers) at init, first/last back-propagated gradient: "
                          f"{tanh_deep['default']:.2e} with PyTorch's default init, "
                          f"{tanh_deep['xavier_normal']:.2e} "
                          "with Xavier.")


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Zig-zag: sigmoid-fed rows must be single-signed per example. Slower: sigmoid's final loss above
    the centred sigmoid's with mean ± std intervals apart (overlap: inconclusive if sigmoid's loss is
    higher on average, refuted if not). tanh: zero-centred output, and vanishing (< ``vanish``) with
    every tested init, else depends; tanh not centred (|mean hidden output| >= ``CENTRED_TOL``): refuted."""
    co, tr, td = numbers["coherence"], numbers["train"], numbers["tanh_deep_backprop_ratio"]
    s, c = tr["sigmoid"], tr[CENTRED]
    if co["sigmoid"]["per_example"] < 1.0:
        return Verdict(REFUTED, f"Only {co['sigmoid']['per_example']:.3f} of sigmoid-fed weight-gradient "
                                f"rows are "
                                "single-signed per example (the argument says all).")
    gap = s["final_loss"] - c["final_loss"]
    apart = s["final_loss"] - s["final_loss_std"] > c["final_loss"] + c["final_loss_std"]
    loss = (f"final train loss sigmoid {s['final_loss']:.3f} ± {s['final_loss_std']:.3f} vs sigmoid - 1/2 "
            f"{c['final_loss']:.3f} ± {c['final_loss_std']:.3f} (summed loss increases "
            f"{s['loss_increase']:.2f} vs "
            f"{c['loss_increase']:.2f})")
    if not apart:
        if gap > 0:  # faster on average, but not beyond the seeds' spread: no evidence either way
            return Verdict(INCONCLUSIVE, f"Zig-zag rows: {co['sigmoid']['per_example']:.0%} per example; "
                                         f"{loss}: "
                                         "the seeds' intervals overlap.")
        return Verdict(REFUTED, f"Removing sigmoid's offset did not speed up training: {loss}.")
    vanish = {i: r < numbers["vanish"] for i, r in td.items()}
    tanh_mean = co["tanh"]["mean_hidden_output"]
    if abs(tanh_mean) >= CENTRED_TOL:
        return Verdict(REFUTED, f"tanh's mean hidden output is {tanh_mean:.3f}, not zero-centred (|mean| >= "
                                f"{CENTRED_TOL:g}); {loss}.")
    tanh = ", ".join(f"{i} {r:.1e}" for i, r in td.items())
    head = (f"Sigmoid-fed weight gradients are single-signed for {co['sigmoid']['per_example']:.0%} of rows "
            f"per "
            f"example ({co['sigmoid']['per_batch']:.0%} per minibatch); zero-centring speeds training up: "
            f"{loss}. "
            f"tanh's mean hidden output is {tanh_mean:.3f}")
    if all(vanish.values()):
        return Verdict(CONFIRMED, head + f" and its gradient vanishes through {numbers['depth_tanh']} layers "
                                         f"(first/last: {tanh}).")
    return Verdict(DEPENDS, head + f", but whether deep tanh vanishes depends on the init (first/last over "
                                   f"{numbers['depth_tanh']} layers: {tanh}).")


CLAIM = Claim(
    id="C05",
    title="sigmoid not zero-centred: zig-zag and slower; tanh still vanishes",
    rule="Exact: the share of single-signed weight-gradient rows fed by sigmoid outputs (must be 1 per "
         "example). "
         "Train sigmoid vs sigmoid - 1/2 (same derivative, zero mean) on digits with plain SGD: slower = "
         "sigmoid's final training loss higher with mean ± std intervals apart (overlap: inconclusive; "
         "centred not better on average: refuted). tanh: mean hidden output (|mean| >= "
         f"{CENTRED_TOL:g}: not zero-centred, refuted) and the first/last "
         f"back-propagated gradient over 10 tanh layers with default and Xavier init (< {VANISH:g}: "
         f"vanishes). "
         "Confirmed if all parts hold, depends if tanh vanishes only with some inits.",
    measure=measure,
    decide=decide,
)
