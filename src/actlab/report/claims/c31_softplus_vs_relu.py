r"""C31 - softplus, the smooth version of ReLU, works slightly worse than ReLU.

Tutorial 004: "Softplus is the smooth version of ReLU, :math:`g(x) = \log(1 + e^x)`; judging from the
results above, it works slightly worse than ReLU" (after Glorot, Bordes & Bengio 2011, whose table
shows softplus a little behind the rectifier).

Measured: digits MLPs trained by the sweep engine with ``relu`` and ``softplus`` (same seeds, init, data
and optimizer) in two set-ups - 2 hidden layers with Adam (lr 0.003), and 4 hidden layers with He init
and SGD momentum (lr 0.02) - final test accuracy per seed, mean ± std. The claimed effect is *slight*, so
per set-up the difference of means is compared with its standard error (Welch,
:math:`\sqrt{s_r^2/n + s_s^2/n}`, sample std over seeds): softplus is "worse" when ReLU leads by more
than t standard errors (t: Student's two-sided 95% value for the seeds), "better" in the mirror case,
"tied" otherwise.
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
from actlab.report.claims._stats import final_accuracy, sample_std, t_critical
from actlab.sweep import TrialConfig

ACTS = ("relu", "softplus")
SETUPS: dict[str, dict[str, Any]] = {
    "2 layers, Adam": {"depth": 2, "optimizer": "adam", "lr": 0.003},
    "4 layers, He init, SGD momentum": {"depth": 4, "optimizer": "momentum", "lr": 0.02,
                                        "init": "kaiming_normal"},
}



def _configs(ctx: Context) -> list[tuple[str, TrialConfig]]:
    base = TrialConfig(dataset="digits", width=ctx.pick(64, 64, 16), epochs=ctx.pick(8, 20, 1))
    return [(name, base.replace(act=a, seed=s, **kw)) for name, kw in SETUPS.items() for a in ACTS
            for s in ctx.seeds(5, 12, 1)]


def _t(d: dict[str, Any]) -> float:
    """Student's two-sided 95% value for the smaller arm's seeds."""
    return t_critical(min(len(d["relu"]["values"]), len(d["softplus"]["values"])))[0]


def _state(d: dict[str, Any]) -> str:
    """softplus "worse" / "better" when ReLU's mean minus softplus' exceeds +-t standard errors of the
    difference (Welch: sqrt(s_r^2 / n_r + s_s^2 / n_s); t: Student's two-sided 95% value for the smaller
    arm's seeds), "tied" otherwise."""
    r, s = d["relu"], d["softplus"]
    diff, se = r["mean"] - s["mean"], d["se_diff"]
    t = _t(d)
    if diff > t * se:
        return "worse"
    if diff < -t * se:
        return "better"
    return "tied"


def measure(ctx: Context) -> Evidence:
    labelled = _configs(ctx)
    results = ctx.train([c for _, c in labelled])
    per: dict[str, dict[str, Any]] = {}
    for (name, c), r in zip(labelled, results, strict=True):
        d = per.setdefault(name, {}).setdefault(c.act, {"values": [], "statuses": []})
        d["values"].append(final_accuracy(r))
        d["statuses"].append(r.status)
    for d in per.values():
        for a in ACTS:
            d[a]["mean"], d[a]["std"] = float(np.mean(d[a]["values"])), sample_std(d[a]["values"])
        d["relu_minus_softplus"] = d["relu"]["mean"] - d["softplus"]["mean"]
        d["se_diff"] = float(np.sqrt(sum(d[a]["std"] ** 2 / len(d[a]["values"]) for a in ACTS)))
        d["softplus_state"] = _state(d)
    numbers: dict[str, Any] = {"setups": per}

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.3))
    for i, d in enumerate(per.values()):
        for j, (a, col) in enumerate(zip(ACTS, ("C0", "C2"), strict=True)):
            xpos = i + (j - 0.5) * 0.3
            v = np.array(d[a]["values"])
            ax.plot(np.full(len(v), xpos) + np.linspace(-0.04, 0.04, len(v)), v, "o", color=col, ms=3,
                    alpha=0.6, label=a if i == 0 else None)
            ax.errorbar([xpos + 0.08], [d[a]["mean"]], yerr=[d[a]["std"]], fmt="s", color=col, ms=5,
                        capsize=3)
    ax.set_xticks(range(len(per)), list(per), fontsize=8)
    ax.set(ylabel="final test accuracy", title="ReLU vs softplus on digits, per seed")
    ax.legend(fontsize=7)
    fig.tight_layout()
    desc = "; ".join(f"{n}: softplus {d['softplus_state']} ({d['relu_minus_softplus']:+.4f})"
                     for n, d in per.items())
    figure = ctx.figure(fig, "Dots: one seed each; squares: mean ± std. Softplus counts as worse where ReLU "
                             f"leads by more than t standard errors of the difference ({desc}; ReLU minus "
                             "softplus).")
    rows = [[n, f"{d['relu']['mean']:.4f} ± {d['relu']['std']:.4f}",
             f"{d['softplus']['mean']:.4f} ± {d['softplus']['std']:.4f}",
             f"{d['relu_minus_softplus']:+.4f} (SE {d['se_diff']:.4f})", d["softplus_state"]]
            for n, d in per.items()]
    table = Table(["set-up", "relu", "softplus", "relu - softplus", "softplus is"], rows,
                  "Final test accuracy, mean ± std over seeds.")
    c0 = labelled[0][1]
    setup = {"dataset": "digits", "width": c0.width, "epochs": c0.epochs, "setups": SETUPS,
             "seeds": len(per[next(iter(per))]["relu"]["values"])}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Worse in every set-up: confirmed; better everywhere: refuted; worse in some and better or tied in
    others: depends on the set-up (ties: inconclusive in quick mode); never worse but tied somewhere
    (no difference resolved): inconclusive."""
    per = numbers["setups"]
    states = {n: d["softplus_state"] for n, d in per.items()}
    desc = "; ".join(f"{n}: relu {d['relu']['mean']:.4f} ± {d['relu']['std']:.4f}, softplus "
                     f"{d['softplus']['mean']:.4f} ± {d['softplus']['std']:.4f}, difference "
                     f"{d['relu_minus_softplus']:+.4f} (SE {d['se_diff']:.4f}: {d['softplus_state']})"
                     for n, d in per.items())
    vals = set(states.values())
    if vals == {"worse"}:
        gap = max(d["relu_minus_softplus"] for d in per.values())
        return Verdict(CONFIRMED, f"softplus is worse beyond the seeds' spread in every set-up (by at most "
                                  f"{gap:.4f}): {desc}.")
    if "worse" in vals and "better" in vals:
        return Verdict(DEPENDS, f"on the set-up: softplus is worse in some, better in others: {desc}.")
    if "tied" in vals and quick:
        return Verdict(INCONCLUSIVE, f"the difference is within t standard errors in some set-up: {desc}.")
    if "worse" in vals:
        return Verdict(DEPENDS, f"on the set-up: softplus is worse in "
                                f"{', '.join(n for n, s in states.items() if s == 'worse')} only: {desc}.")
    res = ", ".join(f"{_t(d) * d['se_diff']:.4f}" for d in per.values())
    if "tied" in vals:  # within t SE is no difference resolved, not evidence of none
        return Verdict(INCONCLUSIVE, "softplus is not worse than ReLU by more than t standard errors "
                                     f"(resolution {res} test accuracy) in any set-up, nor better "
                                     f"everywhere: {desc}.")
    return Verdict(REFUTED, "softplus is better than ReLU by more than t standard errors in every set-up "
                            f"(resolution {res} test accuracy): {desc}.")


CLAIM = Claim(
    id="C31",
    title="softplus works slightly worse than ReLU",
    rule="Digits MLPs in two set-ups (2 layers Adam; 4 layers He init SGD momentum), relu vs softplus, same "
         "seeds; per set-up softplus is worse / better when ReLU's mean final test accuracy leads / trails "
         "by more than t standard errors of the difference (Student's 95% t), tied otherwise. Confirmed "
         "if worse in every set-up; depends (on the set-up) if worse in some and better or tied in others "
         "(ties: inconclusive in quick mode); refuted if better in every set-up; inconclusive if never "
         "worse but tied somewhere (within t SE is no difference resolved, not evidence of none).",
    measure=measure,
    decide=decide,
)
