r"""C24 - PReLU learns its negative slope (so it can become ReLU or Leaky ReLU); RReLU draws a random
slope in training and uses a fixed one at test time.

Tutorial 001: PReLU :math:`f(x) = \max(0, x) + a \min(0, x)` "introduces a parameter :math:`a` learned
by back-propagation (unlike Leaky ReLU's, which we set) - this gives neurons the ability to choose the
best slope in the negative region, so they can become pure ReLU or Leaky ReLU: :math:`a = 0` is ReLU, a
small fixed :math:`a` (0.01) is Leaky ReLU". RReLU: "the slope is no longer fixed but drawn at random
from a given range, while prediction uses a fixed value" (Xu et al. 2015: :math:`a \sim U(l, u)` in
training, :math:`(l + u)/2` at test time).

Measured:

* **exact** - the catalog's ``prelu`` with :math:`a = 0` equals ``relu`` and with :math:`a = 0.01`
  equals ``leaky_relu(0.01)`` bit for bit on a float32 grid.
* **training** - MLPs (digits, 2 hidden layers, one slope per unit initialised at PyTorch's 0.25) trained
  by the sweep engine; the learned slopes (``final["learned"]``) against their init, per seed. "Learns"
  means the slopes move by a mean :math:`|\Delta a| \ge 0.05` in every seed (a real change, 20% of the
  init; any nonzero gradient moves them a little). Where the learned slopes end up (near 0 = ReLU-like,
  small positive = leaky, negative) is reported. ReLU and RReLU nets with the same set-up give context.
* **RReLU** - ``actlab.get("rrelu")`` on :math:`10^5` negative inputs: in ``train()`` the slopes
  :math:`-f(x)/|x|` lie in :math:`[l, u]`, pass a Kolmogorov-Smirnov test against :math:`U(l, u)` and
  differ between two calls; in ``eval()`` every slope is :math:`(l + u)/2` and two calls agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab.report.claim import CONFIRMED, INCONCLUSIVE, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.report.claims._stats import final_accuracy, sample_std
from actlab.sweep import TrialConfig

INIT = 0.25
#: Mean |learned - init| per seed that counts as "learned" (20% of the init).
MIN_MOVE = 0.05
#: |a| below this: ReLU-like.
RELU_LIKE = 0.05
KS_MIN_P = 1e-3



def _configs(ctx: Context) -> list[TrialConfig]:
    width = ctx.pick(32, 64, 16)
    base = TrialConfig(dataset="digits", depth=2, width=width, optimizer="adam", lr=0.01,
                       epochs=ctx.pick(6, 20, 1))
    seeds = ctx.seeds(3, 5, 1)
    out = [base.replace(act="prelu", act_params={"num_parameters": width, "init": INIT}, seed=s)
           for s in seeds]
    out += [base.replace(act=a, seed=s) for a in ("relu", "rrelu") for s in seeds]
    return out


def _exact_special_cases() -> dict[str, Any]:
    x = torch.arange(-4096, 4097, dtype=torch.float32) / 512
    F = actlab.functional
    p0 = actlab.get("prelu", init=0.0)(x).detach()
    p1 = actlab.get("prelu", init=0.01)(x).detach()
    return {"prelu_0_equals_relu": bool(torch.equal(p0, F.relu(x))),
            "prelu_001_equals_leaky_relu": bool(torch.equal(p1, F.leaky_relu(x, negative_slope=0.01))),
            "grid_points": len(x)}


def _rrelu(n: int) -> tuple[dict[str, Any], np.ndarray]:
    from scipy.stats import kstest

    spec = actlab.spec("rrelu")
    lo, hi = float(spec.defaults["lower"]), float(spec.defaults["upper"])
    m = actlab.get("rrelu")
    torch.manual_seed(0)
    x = -torch.rand(n, dtype=torch.float64) * 4 - 0.01  # negative inputs
    pos = torch.rand(1000, dtype=torch.float64) + 0.01
    m.train()
    s1 = (m(x) / x).detach().numpy()
    s2 = (m(x) / x).detach().numpy()
    pos_train = bool(torch.equal(m(pos), pos))
    m.eval()
    e1 = (m(x) / x).detach().numpy()
    e2 = (m(x) / x).detach().numpy()
    mid = (lo + hi) / 2
    return {
        "lower": lo, "upper": hi,
        "train_slope_min": float(s1.min()), "train_slope_max": float(s1.max()),
        "train_slope_mean": float(s1.mean()), "uniform_mean": mid,
        "train_ks_p": float(kstest(s1, "uniform", args=(lo, hi - lo)).pvalue),
        "train_calls_equal_fraction": float(np.mean(s1 == s2)),
        "train_positive_unchanged": pos_train,
        "eval_max_abs_slope_minus_mid": float(np.abs(e1 - mid).max()),
        "eval_calls_identical": bool(np.array_equal(e1, e2)),
    }, s1


def measure(ctx: Context) -> Evidence:
    numbers: dict[str, Any] = {"exact": _exact_special_cases()}
    rr, train_slopes = _rrelu(ctx.pick(100_000, 1_000_000, 10_000))
    numbers["rrelu"] = rr
    configs = _configs(ctx)
    results = ctx.train(configs)
    slopes_by_seed, moves = [], []
    for r, c in zip(results, configs, strict=True):
        if c.act != "prelu":
            continue
        learned = r.final["learned"].values()
        vals = np.concatenate([np.atleast_1d(np.asarray(v, dtype=float)) for v in learned])
        slopes_by_seed.append(vals.tolist())
        moves.append(float(np.mean(np.abs(vals - INIT))))
    pooled = np.concatenate([np.asarray(s) for s in slopes_by_seed])
    acc: dict[str, dict[str, Any]] = {}
    for act in ("prelu", "relu", "rrelu"):
        a = [final_accuracy(r) for r, c in zip(results, configs, strict=True) if c.act == act]
        acc[act] = {"values": a, "mean": float(np.mean(a)), "std": sample_std(a)}
    numbers["prelu"] = {
        "init": INIT, "mean_abs_move_per_seed": moves, "min_move": MIN_MOVE,
        "learned_mean": float(pooled.mean()), "learned_std": float(pooled.std()),
        "learned_range": [float(pooled.min()), float(pooled.max())],
        "fraction_relu_like": float(np.mean(np.abs(pooled) < RELU_LIKE)),
        "fraction_negative": float(np.mean(pooled <= -RELU_LIKE)),
        "fraction_leaky_like": float(np.mean((pooled >= RELU_LIKE) & (pooled < INIT))),
        "fraction_above_init": float(np.mean(pooled > INIT)),
        "units": len(pooled),
        "slopes_by_seed": slopes_by_seed,
    }
    numbers["test_acc"] = acc

    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    a.hist(pooled, bins=40, color="C0")
    a.axvline(INIT, color="k", ls="--", lw=1, label=f"init {INIT:g}")
    a.axvspan(-RELU_LIKE, RELU_LIKE, color="C2", alpha=0.2, label="ReLU-like (|a| < 0.05)")
    a.set(xlabel="learned negative slope a", ylabel="units", title="PReLU slopes after training")
    a.legend(fontsize=7)
    b.hist(train_slopes, bins=50, color="C1", density=True, label="train(): drawn slopes")
    b.axvline(rr["uniform_mean"], color="k", lw=1.5, label=f"eval(): fixed {rr['uniform_mean']:.4f}")
    b.axhline(1 / (rr["upper"] - rr["lower"]), color="gray", ls=":", lw=1, label="U(l, u) density")
    b.set(xlabel="slope on negative inputs", ylabel="density", title="RReLU")
    b.legend(fontsize=7, loc="lower center")
    fig.tight_layout()
    pn = numbers["prelu"]
    figure = ctx.figure(fig, "Left: PReLU's per-unit slopes after training (all seeds and layers), all "
                             f"started at {INIT:g} (dashed); they spread over "
                             f"[{pn['learned_range'][0]:.2f}, {pn['learned_range'][1]:.2f}], "
                             f"{100 * pn['fraction_above_init']:.0f}% above the init, "
                             f"{100 * pn['fraction_relu_like']:.0f}% ReLU-like (green). Right: RReLU's "
                             "slopes are uniform over [l, u] in train mode and a single fixed value "
                             "(l + u)/2 in eval mode.")
    rows = [[act, f"{acc[act]['mean']:.3f} ± {acc[act]['std']:.3f}"] for act in acc]
    table = Table(["activation", "test accuracy (mean ± std over seeds)"], rows,
                  "Same MLP, data, optimizer and seeds; context only (the claim is not about accuracy).")
    c0 = configs[0]
    setup = {"dataset": "digits", "depth": c0.depth, "width": c0.width, "optimizer": c0.optimizer,
             "lr": c0.lr, "epochs": c0.epochs, "seeds": len(slopes_by_seed),
             "prelu": f"one slope per unit, init {INIT:g}",
             "rrelu_samples": ctx.pick(100_000, 1_000_000, 10_000)}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Exact special cases and RReLU's train/eval behaviour must hold (else refuted); PReLU's slopes
    must move by a mean >= ``min_move`` in every seed (else inconclusive in quick mode, refuted in full)."""
    ex, rr, pr = numbers["exact"], numbers["rrelu"], numbers["prelu"]
    lo, hi = rr["lower"], rr["upper"]
    rr_train = (rr["train_slope_min"] >= lo and rr["train_slope_max"] <= hi and rr["train_ks_p"] > KS_MIN_P
                and rr["train_calls_equal_fraction"] < 0.01 and rr["train_positive_unchanged"])
    rr_eval = rr["eval_max_abs_slope_minus_mid"] < 1e-6 and rr["eval_calls_identical"]
    exact = ex["prelu_0_equals_relu"] and ex["prelu_001_equals_leaky_relu"]
    moved = min(pr["mean_abs_move_per_seed"]) >= pr["min_move"]
    slopes = (f"PReLU slopes moved from {pr['init']:g} by a mean {min(pr['mean_abs_move_per_seed']):.3f}.."
              f"{max(pr['mean_abs_move_per_seed']):.3f} per seed to [{pr['learned_range'][0]:.2f}, "
              f"{pr['learned_range'][1]:.2f}] ({100 * pr['fraction_relu_like']:.0f}% ReLU-like, "
              f"{100 * pr['fraction_negative']:.0f}% negative)")
    rrelu = (f"RReLU train slopes in [{rr['train_slope_min']:.4f}, {rr['train_slope_max']:.4f}] (KS p "
             f"{rr['train_ks_p']:.2g} vs U({lo:.4g}, {hi:.4g})), eval slope fixed at "
             f"{rr['uniform_mean']:.4f}")
    failed = [name for name, ok in (("prelu(a=0) = relu / prelu(a=0.01) = leaky_relu", exact),
                                    ("RReLU train slopes random uniform", rr_train),
                                    ("RReLU eval slope fixed", rr_eval)) if not ok]
    if failed:
        return Verdict(REFUTED, "Fails: " + "; ".join(failed) + f". {slopes}; {rrelu}.")
    if not moved:
        return Verdict(INCONCLUSIVE if quick else REFUTED,
                       f"PReLU slopes moved by only {min(pr['mean_abs_move_per_seed']):.3f} < "
                       f"{pr['min_move']} in some seed; {rrelu}.")
    return Verdict(CONFIRMED, f"prelu(a=0) is relu and prelu(a=0.01) leaky_relu exactly; {slopes}; {rrelu}.")


CLAIM = Claim(
    id="C24",
    title="PReLU learns its slope; RReLU random in training, fixed at test",
    rule="Refuted if prelu(a=0) != relu or prelu(a=0.01) != leaky_relu(0.01) exactly, or RReLU's train-mode "
         "slopes leave [l, u], fail a KS test against U(l, u) (p <= 0.001) or repeat between calls, or its "
         "eval-mode slope is not the fixed (l + u)/2. Otherwise confirmed if PReLU's per-unit slopes, "
         "trained on digits from 0.25, move by a mean |delta a| >= 0.05 in every seed; if not, inconclusive "
         "in quick mode and refuted in full mode.",
    measure=measure,
    decide=decide,
)
