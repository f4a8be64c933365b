"""The init-scale experiment shared by C08 (relu and exploding gradients) and C09 (large init ->
overflow): relu and tanh MLPs on digits with weights N(0, sigma_w2 / fan_in), gradients at init and
training outcomes; identical configs, so the sweep store trains them once per report."""

from __future__ import annotations

from typing import Any

import numpy as np

import actlab
from actlab.report.claim import Context
from actlab.report.claims._layer_grads import init_gradients
from actlab.sweep import TrialConfig

__all__ = ["ACTS", "DEPTH", "EXPLODE", "LARGE_LR", "LR", "SIGMA_W2", "WIDTH", "case_name", "cases", "figure",
           "measure_cases"]

DEPTH, WIDTH = 10, 64
SIGMA_W2 = (1.0, 2.0, 4.0, 8.0, 16.0)
ACTS = ("relu", "tanh")
#: "exploding": at init, a gradient an order of magnitude (or more) above the critical init's, or growing
#: that much from the last to the first hidden layer (10 layers).
EXPLODE = 10.0
LR, LARGE_LR = 0.02, 0.5


def cases(ctx: Context) -> list[tuple[str, float, float]]:
    """(activation, sigma_w2, lr) of every case: the init sweep, then relu at its critical init with a
    large learning rate."""
    sig = ctx.pick((1.0, 2.0, 4.0, 16.0), SIGMA_W2, (2.0, 16.0))
    out = [(a, s, LR) for a in ACTS for s in sig]
    crit = float(actlab.theory.critical_sigma_w2("relu"))
    return [*out, ("relu", crit, LARGE_LR)]


def case_name(act: str, sw2: float, lr: float) -> str:
    return f"{act} sigma_w2={sw2:g}" + (f" lr={lr:g}" if lr != LR else "")


def configs_for(ctx: Context) -> tuple[list[tuple[str, float, float]], list[int], list[TrialConfig]]:
    seeds = ctx.seeds(2, 3, 1)
    epochs = ctx.pick(3, 6, 1)
    depth = ctx.pick(DEPTH, DEPTH, 3)
    cs = cases(ctx)
    cfgs = [TrialConfig(dataset="digits", act=a, depth=depth, width=WIDTH, sigma_w2=s, sigma_b2=0.0,
                        optimizer="momentum", lr=lr, epochs=epochs, batch_size=64, seed=seed)
            for a, s, lr in cs for seed in seeds]
    return cs, seeds, cfgs


def measure_cases(ctx: Context) -> tuple[dict[str, dict[str, Any]], list[TrialConfig]]:
    """Gradients at init and training outcomes per case (the trainings are shared with C08)."""
    cs, seeds, cfgs = configs_for(ctx)
    results = ctx.train(cfgs)
    crit = {a: float(actlab.theory.critical_sigma_w2(a)) for a in ACTS}
    out: dict[str, dict[str, Any]] = {}
    for k, (a, s, lr) in enumerate(cs):
        sub = cfgs[k * len(seeds):(k + 1) * len(seeds)]
        rs = results[k * len(seeds):(k + 1) * len(seeds)]
        g = init_gradients(sub)
        out[case_name(a, s, lr)] = {
            "act": a, "sigma_w2": s, "lr": lr, "critical_sigma_w2": crit[a],
            "large_init": s > crit[a] * 1.001, "weight_total": g["weight_total"],
            "backprop_ratio": g["backprop_ratio"], "loss_at_init": g["loss"],
            "statuses": [r.status for r in rs],
            "overflow_fraction": float(np.mean([r.status == "diverged" for r in rs])),
            "diverged_steps": [r.final.get("diverged_step") for r in rs],
            "test_acc": float(np.mean([r.metric("test_acc") for r in rs if r.status == "ok"]))
            if any(r.status == "ok" for r in rs) else None,
        }
    for c in out.values():  # growth relative to the same activation's critical init (lr 0.02)
        ref = next((d for d in out.values() if d["act"] == c["act"] and d["lr"] == LR
                    and abs(d["sigma_w2"] - c["critical_sigma_w2"]) < 1e-9), None)
        c["growth_vs_critical"] = c["weight_total"] / ref["weight_total"] if ref else None
        c["exploding"] = bool(c["backprop_ratio"] >= EXPLODE or (c["growth_vs_critical"] or 0.0) >= EXPLODE)
    return out, cfgs


def figure(ctx: Context, data: dict[str, dict[str, Any]], title: str, caption: str) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.3))
    for k, act in enumerate(ACTS):
        pts = [(d["sigma_w2"], d) for d in data.values() if d["act"] == act and d["lr"] == LR]
        if not pts:
            continue
        xs = [p[0] for p in pts]
        a.loglog(xs, [p[1]["growth_vs_critical"] or np.nan for p in pts], "o-", color=f"C{k}",
                 label=f"{act}: |dL/dW| / critical init's")
        a.loglog(xs, [p[1]["backprop_ratio"] for p in pts], "s--", color=f"C{k}", label=f"{act}: first/last "
                                                                                        f"|dL/dh|")
        b.plot(xs, [p[1]["overflow_fraction"] for p in pts], "o-", color=f"C{k}", label=act)
        a.axvline(pts[0][1]["critical_sigma_w2"], color=f"C{k}", lw=0.6, ls=":")
    for d in data.values():
        if d["lr"] != LR:
            b.plot([d["sigma_w2"]], [d["overflow_fraction"]], "*", ms=12, color="C3",
                   label=f"{d['act']} critical init, lr {d['lr']:g}")
    a.axhline(EXPLODE, color="k", lw=0.6, ls=":")
    a.set(xlabel="sigma_w2 (weights N(0, sigma_w2 / fan_in))", ylabel="growth at init (x)", title=title)
    a.legend(fontsize=6)
    b.set(xscale="log", xlabel="sigma_w2", ylabel="fraction of trainings ending in inf/NaN",
          ylim=(-0.05, 1.05),
          title="overflow while training")
    b.legend(fontsize=7)
    fig.tight_layout()
    return ctx.figure(fig, caption)
