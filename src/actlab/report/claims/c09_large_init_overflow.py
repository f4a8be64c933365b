r"""C09 - exploding gradients come from large initial weights and end in overflow (inf / NaN).

Tutorial 004: "exploding gradients happen because the initial weights are too large: the front layers
change faster than the back ones and the weights grow and grow". 000: "if gradients accumulate to very
large values, every layer updates its weights a lot, the network becomes unstable, and when the weights
exceed what can be represented the output overflows (infinity, not-a-number)".

Measured on digits, 10 hidden layers of width 64, weights :math:`N(0, \sigma_w^2/n_{in})`, biases 0, for
relu and tanh with :math:`\sigma_w^2` from 1 to 16 (the edge of chaos,
:func:`actlab.theory.critical_sigma_w2`, is 2 for relu and 1 for tanh; above it is "large"), plus
relu at the critical init with a large learning rate (0.5) as a control for "come from large initial
weights":

* at init (exactly the trained models): the norm of all weight gradients, relative to the same
  activation's critical init, and the back-propagated gradient ratio first/last hidden layer;
  "exploding" = either grows >= 10x (an order of magnitude across the 10 layers);
* training (sweep engine, SGD momentum 0.9, lr 0.02 unless stated): a trial "overflows" when its loss
  becomes inf/NaN (the sweep's ``diverged`` status).
"""

from __future__ import annotations

from typing import Any

from actlab.report.claim import CONFIRMED, DEPENDS, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.report.claims._explode import DEPTH, EXPLODE, LARGE_LR, WIDTH, figure, measure_cases


def measure(ctx: Context) -> Evidence:
    data, cfgs = measure_cases(ctx)
    numbers = {"cases": data, "explode": EXPLODE}
    fig = figure(ctx, data, "gradient size at init",
                 "Left: total weight-gradient norm relative to the critical init's (solid) and first/last "
                 "back-propagated gradient ratio "
                 "(dashed) at init against the init scale; vertical dotted lines: each activation's "
                 f"critical sigma_w2, the horizontal one the {EXPLODE:g}x 'exploding' level. Right: fraction "
                 f"of "
                 "trainings whose loss became inf/NaN; the star is relu at its critical init with lr 0.5.")
    rows = [[n, f"{d['weight_total']:.3g}",
             f"{d['growth_vs_critical']:.3g}" if d["growth_vs_critical"] else "-",
             f"{d['backprop_ratio']:.3g}", "yes" if d["exploding"] else "no", f"{d['overflow_fraction']:.2f}",
             "-" if d["test_acc"] is None else f"{d['test_acc']:.3f}"] for n, d in data.items()]
    table = Table(["case", "|dL/dW| at init", "x critical init", "first/last |dL/dh|", "exploding",
                   "overflow fraction", "test acc (ok runs)"], rows,
                  f"digits, {cfgs[0].depth} hidden layers of {WIDTH}, SGD momentum 0.9, {cfgs[0].epochs} "
                  f"epochs.")
    return Evidence(numbers, {"dataset": "digits", "config": cfgs[0].to_dict(), "cases": list(data),
                              "seeds": sorted({c.seed for c in cfgs})}, [fig], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Confirmed if large init makes gradients explode, every exploding case overflows and nothing
    overflows without a large init; refuted if large init never explodes or no exploding case
    overflows; depends (on the activation / on other causes) otherwise."""
    cs = numbers["cases"]
    exploding = {n: c for n, c in cs.items() if c["exploding"]}
    big = {n: c for n, c in exploding.items() if c["large_init"]}
    if not big:
        return Verdict(REFUTED, "No large init made the gradients grow >= "
                                f"{numbers['explode']:g}x: " + ", ".join(
                                    f"{n} x{c['growth_vs_critical'] or 0:.3g}" for n, c in cs.items()) + ".")
    over = [n for n, c in exploding.items() if c["overflow_fraction"] > 0]
    if not over:
        return Verdict(REFUTED, "Gradients exploded (" + ", ".join(exploding) + ") but no training "
                                                                                "overflowed.")
    quiet = [f"{n} (gradient x{c['growth_vs_critical'] or 0:.3g}, ratio {c['backprop_ratio']:.3g}, overflow "
             f"{c['overflow_fraction']:.0%})" for n, c in exploding.items() if c["overflow_fraction"] < 1]
    other = [f"{n} ({c['overflow_fraction']:.0%} overflowed)" for n, c in cs.items()
             if not c["large_init"] and c["overflow_fraction"] > 0]
    large_no_explode = [f"{n} (x{c['growth_vs_critical'] or 0:.3g}, overflow {c['overflow_fraction']:.0%})"
                        for n, c in cs.items() if c["large_init"] and not c["exploding"]]
    if not quiet and not other:
        fmt = ", ".join(f"{n} x{cs[n]['growth_vs_critical'] or 0:.3g}" for n in over)
        extra = (" Large but not exploding: " + "; ".join(large_no_explode) + ".") if large_no_explode else ""
        return Verdict(CONFIRMED, f"Large inits explode and overflow: {fmt}; nothing overflowed without a "
                                  "large init." + extra)
    parts = []
    if quiet:
        parts.append("exploding without (always) overflowing: " + "; ".join(quiet))
    if other:
        parts.append("overflow without a large init: " + "; ".join(other))
    if large_no_explode:
        parts.append("large init, no explosion: " + "; ".join(large_no_explode))
    return Verdict(DEPENDS, "Large init does explode and overflow (" + ", ".join(over) + "), but "
                   + "; ".join(parts) + ".")


CLAIM = Claim(
    id="C09",
    title="Large init -> exploding gradients -> inf/NaN",
    rule=f"{DEPTH}-layer relu and tanh MLPs on digits, weights N(0, sigma_w2/fan_in) for sigma_w2 1..16, "
         f"plus relu "
         f"at its critical init with lr {LARGE_LR}. Exploding = at init the weight gradient is >= "
         f"{EXPLODE:g}x the "
         f"critical init's or the back-propagated gradient grows >= {EXPLODE:g}x from last to first layer; "
         "overflow = "
         "a training's loss becomes inf/NaN. Confirmed if some large init explodes, every exploding case "
         "overflows and nothing overflows without a large init; refuted if no large init explodes or no "
         "exploding case overflows; depends otherwise.",
    measure=measure,
    decide=decide,
)
