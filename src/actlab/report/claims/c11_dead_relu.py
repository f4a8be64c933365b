r"""C11 - dead ReLU: a too-large learning rate (or a bad init) drives units to output 0 for every input,
permanently; Leaky ReLU, PReLU and ELU avoid it; a smaller learning rate or an adaptive optimiser
(Adagrad) reduces it.

Tutorials 000 (D, D.1, D.2), 001 ("ReLU's drawbacks": once a unit outputs 0 it stays 0; causes: an
unlucky init - rare - or a too-high learning rate; fixes: a smaller learning rate or an optimiser that
adapts it, such as Adagrad; Leaky ReLU / PReLU / ELU were proposed against it) and 003 (a dead unit gets
no gradient and never updates).

**Dead unit**: a hidden unit through which no gradient flows for any training example: its activation's
derivative :math:`f'(z)` is at most :math:`10^{-6}` at the unit's pre-activation :math:`z` of every one
of the 1347 training images. For ReLU that is :math:`z \le 0` everywhere, i.e. the unit outputs exactly 0
for every input; for Leaky ReLU it never happens (:math:`f' \ge 0.01`); for ELU it needs
:math:`z < -13.8` everywhere; for PReLU it happens if the learned slope reaches 0. :math:`f'` is taken by
autograd through the trained network's own activation modules. We also count *off* units (:math:`z \le 0`
for every input), which for the ReLU variants still pass gradient.

Experiment: 2-hidden-layer MLPs (width 64, PyTorch default init) on digits, 2 epochs (quick; 4 in full
mode), several seeds; ReLU with SGD at learning rates 0.1 and 1.5 and with Adagrad at 0.01 (its usual
rate), 0.1, 1; the variants with Adagrad at lr 1 (large, but unlike SGD at such rates no run diverges);
and a bad init (He weights, every bias -3), trained with SGD at lr 0.1. The sweep store
keeps metrics but not weights, and dead units need the trained weights, so these trainings run here with
the sweep engine's own pieces (``actlab.sweep.trial``: the same data split, initialisation and
batch-order streams, optimiser and loss as ``run_trial``). "Permanently": the units dead after epoch 1
that are alive at the end (revived), as a fraction of them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

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
from actlab.report.claims._stats import t_critical
from actlab.report.claims._training import train_keep_model
from actlab.sweep import TrialConfig

DEAD_GRAD = 1e-6
SGD_LRS = (0.1, 1.5)
ADAGRAD_LRS = (0.01, 0.1, 1.0)
#: the variants are compared with ReLU under Adagrad at this rate (large, but no run diverges)
VARIANT_LR = 1.0
VARIANTS = ("leaky_relu", "prelu", "elu")
BAD_BIAS = -3.0
#: an effect counts when it is at least this large and beyond t standard errors of the seeds
MIN_EFFECT = 0.05
#: "permanently": under this fraction of the units dead after epoch 1 may be alive at the end
MAX_REVIVED = 0.1


def unit_masks(model: nn.Module, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per hidden activation layer: (dead, off) boolean masks over its units. dead: f'(z) <= 1e-6 for
    every row of ``x``; off: z <= 0 for every row."""
    out = []
    h = x.detach()
    for m in model:
        if isinstance(m, actlab.Activation):
            z = h.detach().requires_grad_(True)
            with torch.enable_grad():
                (d,) = torch.autograd.grad(m(z).sum(), z)
            out.append(((d.abs() <= DEAD_GRAD).all(0), (z.detach() <= 0).all(0)))
        with torch.no_grad():
            h = m(h)
    return out


def _fractions(model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(dead, off) fractions over all hidden units."""
    masks = unit_masks(model, x)
    n = sum(int(d.numel()) for d, _ in masks)
    return (sum(int(d.sum()) for d, _ in masks) / n, sum(int(o.sum()) for _, o in masks) / n)


def _cfg(ctx: Context, **kw: Any) -> TrialConfig:
    base = {"dataset": "digits", "depth": 2, "width": ctx.pick(64, 64, 16), "epochs": ctx.pick(2, 4, 1),
            "batch_size": 64}
    return TrialConfig(**{**base, **kw})


def _stats(vals: list[float]) -> dict[str, float]:
    a = np.array(vals, dtype=float)
    if a.size == 0:
        return {"mean": math.nan, "std": math.nan, "se": math.nan, "n": 0}
    sd = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return {"mean": float(a.mean()), "std": sd, "se": sd / math.sqrt(a.size), "n": int(a.size)}


def _run(ctx: Context, seeds: list[int], **kw: Any) -> dict[str, Any]:
    """Train one setting over seeds; dead/off fractions at the end, per epoch, and revivals per layer."""
    from actlab.sweep.trial import dataset_for

    dead, off, acc, dead_by_epoch = [], [], [], []
    revived: list[list[int]] = []  # per seed and layer: [revived, dead after epoch 1]
    diverged = 0
    for s in seeds:
        c = _cfg(ctx, seed=s, **kw)
        x = dataset_for(c).x_train
        hist: list[list[torch.Tensor]] = []

        def on_epoch(epoch: int, model: nn.Module, hist: list[list[torch.Tensor]] = hist,
                     x: torch.Tensor = x) -> None:
            hist.append([d for d, _ in unit_masks(model, x)])

        model, ds, ok = train_keep_model(c, on_epoch)
        if not ok:
            diverged += 1
            continue
        d, o = _fractions(model, x)
        dead.append(d)
        off.append(o)
        model.eval()
        with torch.no_grad():
            acc.append(float((model(ds.x_test).argmax(1) == ds.y_test).float().mean()))
        dead_by_epoch.append([float(torch.cat(h).float().mean()) for h in hist])
        if len(hist) > 2:
            revived.append([[int((d1 & ~de).sum()), int(d1.sum())] for d1, de in zip(hist[1], hist[-1])])
    per_layer = []
    for layer in range(len(revived[0]) if revived else 0):
        rv, tot = sum(r[layer][0] for r in revived), sum(r[layer][1] for r in revived)
        per_layer.append({"revived": rv, "dead_after_epoch_1": tot})
    return {"config": dict(kw), "dead": _stats(dead), "off": _stats(off), "test_acc": _stats(acc),
            "diverged": diverged, "dead_values": dead, "dead_by_epoch": dead_by_epoch,
            "revived_by_layer": per_layer}


def _init_dead(ctx: Context, seeds: list[int], bias: float) -> dict[str, float]:
    from actlab.sweep.trial import build_model, dataset_for, streams

    vals = []
    for s in seeds:
        c = _cfg(ctx, seed=s, act="relu", init="kaiming_normal", bias_init=bias)
        ds = dataset_for(c)
        vals.append(_fractions(build_model(c, ds, streams(c)[0]), ds.x_train)[0])
    return _stats(vals)


def measure(ctx: Context) -> Evidence:
    torch.set_num_threads(1)
    seeds = ctx.seeds(3, 5, 1)
    runs: dict[str, dict[str, Any]] = {}
    for lr in SGD_LRS:
        runs[f"sgd relu lr={lr:g}"] = _run(ctx, seeds, act="relu", lr=lr)
    for lr in ADAGRAD_LRS:
        runs[f"adagrad relu lr={lr:g}"] = _run(ctx, seeds, act="relu", lr=lr, optimizer="adagrad")
    for act in VARIANTS:
        runs[f"adagrad {act} lr={VARIANT_LR:g}"] = _run(ctx, seeds, act=act, lr=VARIANT_LR,
                                                        optimizer="adagrad")
    runs[f"he init, bias {BAD_BIAS:g}, sgd lr=0.1"] = _run(ctx, seeds, act="relu", lr=0.1,
                                                            init="kaiming_normal",
                                                            bias_init=BAD_BIAS)
    numbers: dict[str, Any] = {
        "runs": runs, "seeds": len(seeds), "sgd_lrs": list(SGD_LRS), "adagrad_lrs": list(ADAGRAD_LRS),
        "variants": list(VARIANTS), "variant_lr": VARIANT_LR, "bad_bias": BAD_BIAS, "min_effect": MIN_EFFECT,
        "max_revived": MAX_REVIVED,
        "dead_grad": DEAD_GRAD,
        "dead_at_init": {"bad": _init_dead(ctx, seeds, BAD_BIAS), "good": _init_dead(ctx, seeds, 0.0)},
    }
    setup = {"dataset": "digits (standardised)",
             "model": "MLP 2 hidden x 64, PyTorch default init unless stated",
             "epochs": _cfg(ctx).epochs, "seeds": seeds, "batch_size": 64,
             "dead": f"|f'(z)| <= {DEAD_GRAD} for every training input",
             "bad init": f"He-normal weights, every bias {BAD_BIAS:g}"}
    return Evidence(numbers, setup, [_figure(ctx, numbers)], [_table(numbers)])


def _figure(ctx: Context, numbers: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    runs = numbers["runs"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 3.5))

    def line(keys: list[str], xs: list[float], label: str, style: str) -> None:
        m = [runs[k]["dead"]["mean"] for k in keys]
        s = [runs[k]["dead"]["std"] for k in keys]
        a.errorbar(xs, m, yerr=s, fmt=style, capsize=3, label=label, ms=5)

    line([f"sgd relu lr={lr:g}" for lr in numbers["sgd_lrs"]], numbers["sgd_lrs"], "SGD relu", "o-")
    line([f"adagrad relu lr={lr:g}" for lr in numbers["adagrad_lrs"]], numbers["adagrad_lrs"], "Adagrad relu",
         "D-")
    vlr = numbers["variant_lr"]
    for i, (act, st) in enumerate(zip(numbers["variants"], ("s", "^", "v"))):
        line([f"adagrad {act} lr={vlr:g}"], [vlr * (1 + 0.08 * (i + 1))], f"Adagrad {act}", st)
    a.set(xscale="log", xlabel="learning rate", ylabel="fraction of dead hidden units",
          title="dead units after training (mean ± std)")
    a.legend(fontsize=7)
    bad = f"he init, bias {numbers['bad_bias']:g}, sgd lr=0.1"
    lrs = numbers["sgd_lrs"]
    last_ada = f"adagrad relu lr={numbers['adagrad_lrs'][-1]:g}"
    for k, col in ((f"sgd relu lr={lrs[-1]:g}", "C0"), (last_ada, "C1"), (bad, "k")):
        for i, h in enumerate(runs[k]["dead_by_epoch"]):
            b.plot(range(len(h)), h, color=col, lw=1, alpha=0.8, marker=".", label=k if i == 0 else None)
    b.set(xlabel="epoch", ylabel="fraction of dead units", title="dead units per epoch (a line per seed)")
    b.legend(fontsize=7)
    fig.tight_layout()
    return ctx.figure(fig, "Left: hidden units that pass no gradient for any training image, after training, "
                           "against the learning rate (diverged seeds left out; the table counts them); the "
                           "variants at Adagrad's largest rate, nudged right. Right: the dead fraction epoch "
                           "by epoch, one line per seed: units die early and mostly stay dead.")


def _table(numbers: dict[str, Any]) -> Table:
    rows = []
    for k, r in numbers["runs"].items():
        rev = ", ".join(f"{x['revived']}/{x['dead_after_epoch_1']}" for x in r["revived_by_layer"]) or "-"
        rows.append([k, f"{r['dead']['mean']:.3f} ± {r['dead']['std']:.3f}", f"{r['off']['mean']:.3f}",
                     f"{r['test_acc']['mean']:.3f}", r["diverged"], rev])
    return Table(["run", "dead fraction", "off fraction (z <= 0 always)", "test acc", "diverged seeds",
                  "revived / dead after epoch 1 (layer 1, 2)"], rows,
                 f"Means over {numbers['seeds']} seeds (diverged seeds excluded). Dead units at "
                 f"initialisation, He init with biases {numbers['bad_bias']:g}: "
                 f"{numbers['dead_at_init']['bad']['mean']:.3f}, "
                 f"biases 0: {numbers['dead_at_init']['good']['mean']:.3f}.")


def _sig(a: dict[str, float], b: dict[str, float], min_effect: float) -> int | None:
    """+1 if a's mean exceeds b's by min_effect and t standard errors, -1 if below likewise, 0 if an
    established tie (|diff| + t' SE < min_effect), None if undetermined or a side has no runs left (all
    diverged). t, t': Student's two- and one-sided 95% values for the smaller arm's seeds."""
    if not (a["n"] and b["n"]):
        return None
    diff = a["mean"] - b["mean"]
    se = math.sqrt(a["se"] ** 2 + b["se"] ** 2)
    t_diff, t_tie = t_critical(min(a["n"], b["n"]))
    if abs(diff) >= min_effect and abs(diff) > t_diff * se:
        return 1 if diff > 0 else -1
    if abs(diff) + t_tie * se < min_effect:
        return 0
    return None


def _either(outcomes: list[int | None]) -> int | None:
    """One outcome for "an effect in either setting": -1 if any is reversed, else +1 if any holds, else
    None if any is undetermined, else 0 (ties)."""
    for o in (-1, 1, None):
        if o in outcomes:
            return o
    return 0


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Core parts: (1) ReLU has more dead units at the largest rate than at the smallest, for SGD or for
    Adagrad (and fewer for neither); (2) the bad init (biases -3) starts with more dead units than biases 0;
    (3) each variant has fewer dead units than ReLU under Adagrad at lr 1. Side parts: (4) permanence - no
    first-layer unit dead after epoch 1 revives and under 10% of deeper ones do; (5) Adagrad has fewer dead
    units than SGD at equal rates, or at least at its usual rate 0.01 than SGD at the largest."""
    runs, eff = numbers["runs"], numbers["min_effect"]
    lrs, alrs, vlr = numbers["sgd_lrs"], numbers["adagrad_lrs"], numbers["variant_lr"]
    sgd = {lr: runs[f"sgd relu lr={lr:g}"]["dead"] for lr in lrs}
    ada = {lr: runs[f"adagrad relu lr={lr:g}"]["dead"] for lr in alrs}
    lr_effect = [_sig(sgd[lrs[-1]], sgd[lrs[0]], eff), _sig(ada[alrs[-1]], ada[alrs[0]], eff)]
    init = numbers["dead_at_init"]
    relu_v = ada[vlr]
    var = {a: runs[f"adagrad {a} lr={vlr:g}"]["dead"] for a in numbers["variants"]}
    core = {
        "large lr kills units": _either(lr_effect),
        "bad init kills units": _sig(init["bad"], init["good"], eff),
        **{f"{a} avoids it": _sig(relu_v, v, eff) for a, v in var.items()},
    }
    first = [r["revived_by_layer"][0] for r in runs.values() if r["revived_by_layer"]]
    deep = [x for r in runs.values() for x in r["revived_by_layer"][1:]]
    rev1, dead1 = sum(x["revived"] for x in first), sum(x["dead_after_epoch_1"] for x in first)
    rev_d, dead_d = sum(x["revived"] for x in deep), sum(x["dead_after_epoch_1"] for x in deep)
    deep_frac = rev_d / dead_d if dead_d else 0.0
    shared = [lr for lr in alrs if lr in lrs]
    ada_equal = [_sig(sgd[lr], ada[lr], eff) for lr in shared]
    ada_usual = _sig(sgd[lrs[-1]], ada[alrs[0]], eff)

    def pct(st: dict[str, float]) -> str:
        return f"{100 * st['mean']:.0f}%"

    facts = ("ReLU dead units: SGD " + ", ".join(f"{pct(sgd[lr])} (lr {lr:g})" for lr in lrs) + "; Adagrad "
             + ", ".join(f"{pct(ada[lr])} (lr {lr:g})" for lr in alrs)
             + f"; at Adagrad lr {vlr:g} " + ", ".join(f"{a} {pct(v)}" for a, v in var.items())
             + f"; biases {numbers['bad_bias']:g}: {pct(init['bad'])} dead at init (biases 0: "
             f"{pct(init['good'])})"
             + f"; revived: {rev1}/{dead1} first-layer, {rev_d}/{dead_d} deeper dead units")
    if any(v == -1 for v in core.values()):
        bad_parts = ", ".join(k for k, v in core.items() if v == -1)
        return Verdict(REFUTED, f"Contradicted: {bad_parts}. {facts}.")
    if any(v is None for v in core.values()):
        within = ", ".join(k for k, v in core.items() if v is None)
        return Verdict(INCONCLUSIVE, f"Within noise (neither an effect nor an established tie): {within}. "
                                     f"{facts}.")
    if any(v == 0 for v in core.values()):
        tied = ", ".join(k for k, v in core.items() if v == 0)
        if quick:
            return Verdict(INCONCLUSIVE, f"No effect beyond the margin, from quick mode's few seeds: {tied}. "
                                         f"{facts}.")
        return Verdict(REFUTED, f"No effect (an established tie within the margin): {tied}. {facts}.")
    permanent = rev1 == 0 and deep_frac < numbers["max_revived"]
    ada_ok = bool(ada_equal) and all(o == 1 for o in ada_equal)
    if permanent and ada_ok:
        return Verdict(CONFIRMED, f"All parts hold. {facts}.")
    if not ada_ok and ada_usual == -1:
        return Verdict(REFUTED, f"Adagrad does not reduce dead units at any rate compared. {facts}.")
    equal = "Core parts hold, but Adagrad has not measurably fewer dead units than SGD at equal rates"
    if not ada_ok and ada_usual is None:
        return Verdict(INCONCLUSIVE, f"{equal}, and its usual rate's advantage is within noise. {facts}.")
    if not ada_ok and ada_usual == 0:
        if quick:
            return Verdict(INCONCLUSIVE, f"{equal}, and its usual rate's advantage is below the margin "
                                         f"(quick mode's few seeds). {facts}.")
        return Verdict(REFUTED, f"Adagrad does not measurably reduce dead units. {facts}.")
    caveats = []
    if rev1:
        caveats.append("first-layer units revived, which no gradient step can do: check the measurement")
    elif not permanent:
        caveats.append(f"death is permanent in the first layer but {100 * deep_frac:.0f}% of deeper dead "
                       "units revive when the layers below change")
    if not ada_ok:
        caveats.append(f"Adagrad has fewer dead units only at its usual lr {alrs[0]:g} compared with SGD at "
                       f"lr {lrs[-1]:g}; at equal rates not measurably fewer")
    return Verdict(DEPENDS, "Learning rate, bad init and the variants hold; but " + "; ".join(caveats)
                   + f". {facts}.")


CLAIM = Claim(
    id="C11",
    title="Dead ReLU: learning rate, init, variants, Adagrad",
    rule="Dead unit: f'(z) <= 1e-6 for every training input. MLP 2x64 on digits over seeds; an effect counts "
         "when it is >= 0.05 and > t standard errors, a tie when |diff| + t' SE < 0.05 (t, t': Student's "
         "95% two- and one-sided values); diverged seeds are left out and counted. Core: more dead units at "
         "the largest than the smallest rate (SGD 0.1 vs 1.5 or Adagrad 0.01 vs 1, neither reversed); He "
         "init with biases -3 more than with 0 at init; Leaky ReLU, PReLU, ELU fewer than ReLU (Adagrad lr "
         "1). A core part contradicted: refuted; undetermined (or no seed left): inconclusive; tied: "
         "inconclusive in quick mode, refuted in full. Core holds: confirmed if no first-layer and < 10% "
         "of deeper dead units revive and Adagrad has fewer than SGD at equal rates; depends if either "
         "fails but Adagrad at lr 0.01 beats SGD at lr 1.5; refuted if it is worse there, inconclusive if "
         "undetermined, refuted (inconclusive in quick mode) if tied.",
    measure=measure,
    decide=decide,
)
