r"""T2 - the trainable depth of tanh nets is about :math:`6\xi_c` (issue 7, item 3b; Schoenholz,
Gilmer, Ganguli & Sohl-Dickstein 2017, "Deep information propagation", Fig. 6).

Prediction: a deep random net forgets the correlation between two inputs over the depth scale
:math:`\xi_c = -1/\log\chi_c` (:math:`\chi_c` the slope of the correlation map at its fixed point);
the net can be trained only when information from the input reaches the output, i.e. up to a depth
of about :math:`6\xi_c`, which diverges on the critical line :math:`\chi_1 = 1`. So on a grid of
depth x :math:`\sigma_w^2` (tanh, :math:`\sigma_b^2 = 0.05`), nets deeper than the curve
:math:`6\xi_c(\sigma_w^2)` fail to train, those well inside train.

Measured on the sweep engine (``ctx.train``, cached per trial): MLPs of width 32 on digits (1347
training images, 10 classes) with mean-field initialisation (weights :math:`N(0, \sigma_w^2/n_{in})`,
biases :math:`N(0, \sigma_b^2)`, ``TrialConfig(sigma_w2=..., sigma_b2=...)``), SGD with momentum,
a few epochs; the score is the final *training* accuracy (trainability, not generalisation), mean
over seeds. A cell is scored only when its depth is clearly on one side of the curve: inside when
depth x 1.5 <= :math:`6\xi_c`, outside when depth >= 1.5 x :math:`6\xi_c`; cells in between are
shown but not scored (the factor 6 is itself approximate).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from actlab import theory
from actlab.report.claim import (
    CONFIRMED,
    DEPENDS,
    INCONCLUSIVE,
    REFUTED,
    Claim,
    Context,
    Evidence,
    Figure,
    Table,
    Verdict,
)
from actlab.sweep import TrialConfig

ACT = "tanh"
SIGMA_B2 = 0.05
DATASET = "digits"
CHANCE = 0.1
#: A net "trains" when its final training accuracy reaches this (3x chance); below it, it failed.
TRAINED_ACC = 0.3
#: A cell is scored inside (outside) the curve when depth * MARGIN <= 6 xi_c (depth >= MARGIN * 6 xi_c).
MARGIN = 1.5
#: Share of the scored cells of each side that must agree with the prediction.
AGREE = 0.9
#: Fewest scored cells per side for a verdict.
MIN_CELLS = 2
#: Where figure 2 draws the critical column (depth / 6 xi_c = 0).
LEFT_EDGE = 0.02
#: 6 xi_c is infinite on the critical line; capped for JSON.
DEPTH_CAP = 1e9


def _sigma_w2s() -> list[float]:
    crit = theory.critical_sigma_w2(ACT, sigma_b2=SIGMA_B2)
    return [0.25, 0.5, 1.0, 1.5, crit, 4.0, 64.0]


def configs(sigma_w2s: list[float], depths: list[int], seeds: list[int], epochs: int,
            width: int) -> list[TrialConfig]:
    """The grid's trials (depth-major, then sigma_w^2, then seed); same-depth trials share a shape,
    so the sweep engine trains each depth's row as one vectorised ensemble."""
    return [TrialConfig(dataset=DATASET, act=ACT, depth=d, width=width, sigma_w2=sw, sigma_b2=SIGMA_B2,
                        optimizer="momentum", lr=0.01, momentum=0.9, batch_size=64, epochs=epochs, seed=s)
            for d in depths for sw in sigma_w2s for s in seeds]


def side(depth: float, max_depth: float, margin: float = MARGIN) -> str:
    """``inside`` / ``outside`` the 6 xi_c curve by the margin, else ``near``."""
    if depth * margin <= max_depth:
        return "inside"
    if depth >= margin * max_depth:
        return "outside"
    return "near"


def _predict(sigma_w2: Any) -> tuple[list[float], list[str]]:
    """6 xi_c (capped at DEPTH_CAP) and the phase at each sigma_w^2, in one batched evaluation."""
    r = theory.MeanField(ACT).evaluate(torch.as_tensor(np.asarray(sigma_w2, dtype=np.float64)), SIGMA_B2)
    depth = [min(float(v), DEPTH_CAP) for v in r["max_depth"].reshape(-1)]
    return depth, [theory.PHASES[int(i)] for i in r["phase"].reshape(-1)]


def _curve(sws: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """6 xi_c along sigma_w^2: dense on the ordered side, a few points on the chaotic side (there
    each point solves for the correlation fixed point c* < 1, which takes a while)."""
    crit = theory.critical_sigma_w2(ACT, sigma_b2=SIGMA_B2)
    lo, hi = min(sws) * 0.9, max(sws) * 1.1
    x = np.concatenate([np.linspace(lo, crit * 0.995, 40), [crit],
                        np.geomspace(crit * 1.05, hi, 6) if hi > crit else []])
    return x, np.array(_predict(x)[0])


def _grid_figure(ctx: Context, sws: list[float], depths: list[int], score: np.ndarray, md: list[float],
                 epochs: int, width: int, n_seeds: int) -> Figure:
    """The measured grid (one column per sigma_w^2, log depth; each cell's accuracy written in it and
    a marker for the side of the curve it is scored on) with the 6 xi_c curve over it (Schoenholz et
    al. 2017, Fig. 6)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    lx, ys = np.log(np.array(sws)), np.array(depths, dtype=float)
    cols = np.arange(len(sws), dtype=float)

    def pos(v: np.ndarray) -> np.ndarray:
        """sigma_w^2 -> column position: one equal-width column per grid value, piecewise linear
        in log sigma_w^2 in between (extrapolated from the end columns)."""
        lv = np.log(v)
        out = np.interp(lv, lx, cols)
        if len(lx) > 1:
            out = np.where(lv < lx[0], (lv - lx[0]) / (lx[1] - lx[0]), out)
            out = np.where(lv > lx[-1], cols[-1] + (lv - lx[-1]) / (lx[-1] - lx[-2]), out)
        return out

    ly = np.log(ys)
    mid = (ly[1:] + ly[:-1]) / 2 if len(ly) > 1 else np.array([])
    yedges = np.exp(np.concatenate([[ly[0] - 0.35], mid, [ly[-1] + 0.35]])) if len(ly) > 1 else \
        np.array([ys[0] / 1.4, ys[0] * 1.4])
    mesh = ax.pcolormesh(np.arange(len(sws) + 1) - 0.5, yedges, score, cmap="magma", vmin=0.0, vmax=1.0)
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label(f"training accuracy after {epochs} epochs")
    cb.ax.axhline(CHANCE, color="cyan", lw=1.5)
    cb.ax.axhline(TRAINED_ACC, color="white", lw=1.0, ls="--")
    marks = {"inside": "o", "outside": "x", "near": ""}
    for i, d in enumerate(depths):
        for j in range(len(sws)):
            colour = "black" if score[i, j] > 0.6 else "white"
            ax.text(j, d, f"{score[i, j]:.2f}", ha="center", va="bottom", fontsize=8, color=colour)
            m = marks[side(d, md[j])]
            if m:
                ax.plot(j, d * 0.9, m, ms=5, mfc="none", color=colour)
    cx, cy = _curve(sws)
    ax.plot(pos(cx), np.minimum(cy, ys.max() * 100), color="cyan", lw=2, label=r"mean field: $6\,\xi_c$")
    ax.set_yscale("log")
    ax.set_xticks(cols, [f"{v:.3g}" for v in sws])
    ax.set_yticks(ys, [str(d) for d in depths])
    ax.minorticks_off()
    ax.set_xlim(-0.5, len(sws) - 0.5)
    ax.set_ylim(yedges[0], yedges[-1])
    crit = theory.critical_sigma_w2(ACT, sigma_b2=SIGMA_B2)
    ax.set_xlabel(r"$\sigma_w^2$" + f" (critical: {crit:.3f})")
    ax.set_ylabel("depth (hidden layers)")
    ax.set_title(f"Trainability of tanh MLPs on digits, σb² = {SIGMA_B2}, width {width}, {n_seeds} seeds\n"
                 r"cyan: trainable depth $6\xi_c$ (mean field); o: scored inside, x: scored outside",
                 fontsize=9)
    caption = (f"Training accuracy (mean over {n_seeds} seeds, written in each cell) of tanh MLPs on digits "
               f"after {epochs} epochs, for each depth and σw² (σb² = {SIGMA_B2}); the cyan curve is the "
               "mean-field trainable depth 6ξc, which shoots up at the critical σw². Cells above the curve "
               "should be dark (chance, cyan mark on the colour bar), cells below it bright. Circles / "
               f"crosses mark the cells scored as clearly inside / outside (a factor {MARGIN:g} from the "
               "curve).")
    return ctx.figure(fig, caption, "trainability grid with the 6 xi_c curve")


def measure(ctx: Context) -> Evidence:
    sws = ctx.pick(_sigma_w2s(), _sigma_w2s(), [0.25, 1.5])
    depths = ctx.pick([4, 8, 16, 32], [4, 8, 16, 32], [2, 8])
    seeds = ctx.seeds(2, 3, 1)
    epochs = ctx.pick(5, 8, 1)
    width = ctx.pick(32, 32, 8)
    results = ctx.train(configs(sws, depths, seeds, epochs, width))
    acc = np.array([r.metric("train_acc", default=CHANCE) if r.status == "ok" else CHANCE for r in results])
    acc = acc.reshape(len(depths), len(sws), len(seeds))
    test = np.array([r.metric("test_acc", default=math.nan) for r in results]).reshape(acc.shape)
    status = [r.status for r in results]
    md, phases = _predict(sws)
    cells = []
    for i, d in enumerate(depths):
        for j, sw in enumerate(sws):
            a = acc[i, j]
            cells.append({"depth": d, "sigma_w2": sw, "max_depth": md[j], "side": side(d, md[j]),
                          "train_acc": float(a.mean()),
                          "train_acc_std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                          "train_acc_min": float(a.min()), "train_acc_max": float(a.max()),
                          "test_acc": float(np.nanmean(test[i, j]))})
    numbers = {"cells": cells, "trained_acc": TRAINED_ACC, "chance": CHANCE, "margin": MARGIN, "agree": AGREE,
               "min_cells": MIN_CELLS, "epochs": epochs, "n_seeds": len(seeds), "width": width,
               "sigma_w2": sws, "depths": depths, "max_depth": md, "phases": phases,
               "not_ok": sum(s != "ok" for s in status)}

    import matplotlib.pyplot as plt

    fig1 = _grid_figure(ctx, sws, depths, acc.mean(axis=2), md, epochs, width, len(seeds))

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    cmap = plt.get_cmap("viridis")
    for j, sw in enumerate(sws):
        x = [max(d / md[j], LEFT_EDGE) for d in depths]  # critical (6 xi_c = inf) drawn at the edge
        ax.errorbar(x, acc[:, j].mean(axis=1), yerr=acc[:, j].std(axis=1), fmt="o-", ms=4, lw=1, capsize=2,
                    color=cmap(j / max(len(sws) - 1, 1)), label=f"σw² = {sw:.3g} ({phases[j]})")
    ax.set_xscale("log")
    ax.set_xlim(LEFT_EDGE / 1.5, 15)
    ax.axvline(1.0, color="k", lw=1)
    ax.axvspan(1 / MARGIN, MARGIN, color="grey", alpha=0.15, label="near the curve (not scored)")
    ax.axhline(TRAINED_ACC, color="crimson", lw=0.8, ls="--", label=f"trained ≥ {TRAINED_ACC:g}")
    ax.axhline(CHANCE, color="k", lw=0.6, ls=":")
    ax.set(xlabel="depth / 6ξc (mean-field prediction: trainable below 1)",
           ylabel="training accuracy", ylim=(0, 1.02), title="All grid cells on one axis: depth / 6ξc")
    ax.legend(fontsize=7, loc="lower left")
    fig2 = ctx.figure(fig, "The same cells against depth divided by the predicted trainable depth 6ξc: if "
                           "the theory holds, accuracy stays high left of the grey band and drops to chance "
                           "(dotted) right of it, whatever σw². Error bars: std over seeds. The critical σw² "
                           "(6ξc infinite) is drawn at the left edge.")
    rows = []
    for j, sw in enumerate(sws):
        trained = [d for i, d in enumerate(depths) if acc[i, j].mean() >= TRAINED_ACC]
        rows.append([f"{sw:g}", phases[j], f"{md[j]:.3g}" if md[j] < DEPTH_CAP else "∞",
                     str(max(trained)) if trained else "none",
                     " ".join(f"{acc[i, j].mean():.2f}" for i in range(len(depths)))])
    table = Table(["σw²", "phase", "6ξc", "deepest trained",
                   "train acc. at depths " + ", ".join(map(str, depths))], rows,
                   f"Deepest net that reached {TRAINED_ACC:g} training accuracy, per σw², next to 6ξc.")
    setup = {"dataset": DATASET, "activation": ACT, "sigma_b2": SIGMA_B2, "width": width, "epochs": epochs,
             "optimizer": "momentum 0.9, lr 0.01, batch 64", "seeds": seeds, "depths": depths,
             "sigma_w2": sws, "init": "sigma (weights N(0, sigma_w2/fan_in), biases N(0, sigma_b2))"}
    phase_of = dict(zip(sws, phases))
    scored: dict[str, set[str]] = {ph: set() for ph in phases}
    for c in cells:
        if c["side"] != "near":
            scored[phase_of[c["sigma_w2"]]].add(c["side"])
    notes = "Scored cells per phase: " + "; ".join(f"{ph}: {', '.join(sorted(v)) or 'none'}"
                                                   for ph, v in scored.items()) + "."
    chaotic_md = [m for m, ph in zip(md, phases) if ph == "chaotic"]
    if chaotic_md and "outside" not in scored.get("chaotic", set()):
        notes += (f" On the chaotic side 6ξc stays large here (≥ {min(chaotic_md):.3g} layers), so no "
                  f"chaotic net of depth ≤ {max(depths)} lies far enough beyond the curve to be scored: "
                  "the failure side is tested in the ordered phase only.")
    return Evidence(numbers, setup, [fig1, fig2], [table], notes=notes)


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Score the cells clearly inside / outside the curve against ``trained_acc``. Outside cells that
    train -> refuted; inside cells that do not train -> inconclusive in quick mode (few epochs),
    depends (on the training budget) in full mode; seeds that straddle the threshold in a disagreeing
    cell -> inconclusive in quick mode; too few scored cells -> inconclusive."""
    thr, agree, n_min = float(numbers["trained_acc"]), float(numbers["agree"]), int(numbers["min_cells"])
    inside = [c for c in numbers["cells"] if c["side"] == "inside"]
    outside = [c for c in numbers["cells"] if c["side"] == "outside"]

    def cell(c: dict[str, Any]) -> str:  # 3 decimals: an exception can lie within 0.005 of the threshold
        return f"depth {c['depth']} at σw²={c['sigma_w2']:g} ({c['train_acc']:.3f}, 6ξc={c['max_depth']:.3g})"

    bad_in = [c for c in inside if c["train_acc"] < thr]
    bad_out = [c for c in outside if c["train_acc"] >= thr]
    counts = (f"{len(inside) - len(bad_in)}/{len(inside)} nets inside the curve trained (≥ {thr:g}), "
              f"{len(outside) - len(bad_out)}/{len(outside)} beyond it stayed below {thr:g}")
    if len(inside) < n_min or len(outside) < n_min:
        return Verdict(INCONCLUSIVE, f"Too few scored cells ({len(inside)} inside, {len(outside)} outside; "
                                     f"need {n_min} each): " + counts + ".")
    ok_in = (len(inside) - len(bad_in)) / len(inside) >= agree
    ok_out = (len(outside) - len(bad_out)) / len(outside) >= agree
    if ok_in and ok_out:
        exceptions = bad_in + bad_out
        return Verdict(CONFIRMED, counts + (" (exceptions: " + "; ".join(cell(c) for c in exceptions) + ")"
                                            if exceptions else "") + ".")
    if not ok_out:
        straddle = [c for c in bad_out if c["train_acc_min"] < thr <= c["train_acc_max"]]
        if quick and len(straddle) == len(bad_out):
            return Verdict(INCONCLUSIVE, counts + "; the seeds straddle the threshold in: "
                           + "; ".join(cell(c) for c in straddle) + ".")
        return Verdict(REFUTED, counts + ": deeper than 6ξc and trained: "
                       + "; ".join(cell(c) for c in bad_out) + ".")
    msg = counts + ": inside the curve but not trained: " + "; ".join(cell(c) for c in bad_in)
    if quick:
        return Verdict(INCONCLUSIVE, msg + f" (quick mode: {numbers['epochs']} epochs).")
    return Verdict(DEPENDS, msg + ". Nets beyond 6ξc fail as predicted, but whether nets inside train "
                                  f"depends on the training budget ({numbers['epochs']} epochs): 6ξc is "
                                  "a bound.")


CLAIM = Claim(
    id="T2",
    title="Mean field predicts the trainable depth: tanh nets deeper than 6ξc fail to train, "
          "shallower ones train",
    rule=f"Train tanh MLPs on digits over depth × σw² (σb² = {SIGMA_B2}, mean-field init). Score the "
         f"cells clearly inside (depth × {MARGIN:g} ≤ 6ξc) and outside (depth ≥ {MARGIN:g} × 6ξc) the curve; "
         f"a net trained if its mean final training accuracy is ≥ {TRAINED_ACC:g} (chance {CHANCE:g}). "
         f"Confirmed if ≥ {100 * AGREE:g}% of both the inside and the outside cells agree (and each side "
         f"has ≥ {MIN_CELLS}); "
         "refuted if nets beyond the curve train; if only nets inside fail to train: inconclusive in quick "
         "mode, depends (on the training budget) in full mode; inconclusive in quick mode when the "
         "disagreeing cells' seeds straddle the threshold.",
    measure=measure,
    decide=decide,
)
