r"""C08 - ReLU solves (000) / cannot suffer (001) exploding gradients.

Tutorial 000 lists "solves the exploding-gradient problem" among ReLU's properties; 001: "it does not
suffer vanishing or exploding gradients: for x > 0 ReLU's gradient is always 1, so multiplying through
the layers makes it neither smaller nor larger".

The derivative being 1 leaves the weights in the product: back-propagating through a relu layer
multiplies the gradient by :math:`W^\top` restricted to the active units, which mean-field theory puts
at :math:`\sqrt{\sigma_w^2/2}` per layer (:func:`actlab.theory.chi1`). Measured with the experiment
shared with C09 (digits, 10 hidden layers of width 64, weights :math:`N(0, \sigma_w^2/n_{in})`,
biases 0): at init, the total weight-gradient norm relative to He's :math:`\sigma_w^2 = 2` and the
first/last back-propagated gradient ratio ("exploding" = either >= 10x, an order of magnitude across
10 layers), and whether SGD-momentum
training ends in inf/NaN. tanh at the same scales is shown for comparison.
"""

from __future__ import annotations

from typing import Any

from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict
from actlab.report.claims._explode import EXPLODE, LR, figure, measure_cases


def measure(ctx: Context) -> Evidence:
    data, cfgs = measure_cases(ctx)
    data = {n: d for n, d in data.items() if d["lr"] == LR}  # the init sweep only
    numbers = {"cases": data, "explode": EXPLODE}
    fig = figure(ctx, data, "relu vs tanh at init",
                 "Left: total weight-gradient norm relative to the critical init's (solid) and first/last "
                 "back-propagated gradient ratio "
                 "(dashed) at init; relu's grows without bound with the init scale (x(sigma_w2/2)^(L/2)), "
                 "tanh's saturating units limit the growth. Dotted verticals: critical inits; dotted "
                 f"horizontal: {EXPLODE:g}x. Right: fraction of trainings whose loss became inf/NaN.")
    rows = [[n, f"{d['growth_vs_critical']:.3g}" if d["growth_vs_critical"] else "-",
             f"{d['backprop_ratio']:.3g}",
             "yes" if d["exploding"] else "no", f"{d['overflow_fraction']:.2f}"] for n, d in data.items()]
    table = Table(["case", "|dL/dW| x critical init", "first/last |dL/dh|", "exploding", "overflow fraction"],
                  rows, f"digits, {cfgs[0].depth} hidden layers, SGD momentum 0.9 lr {LR}, {cfgs[0].epochs} "
                        "epochs.")
    return Evidence(numbers, {"dataset": "digits", "config": cfgs[0].to_dict(), "cases": list(data),
                              "seeds": sorted({c.seed for c in cfgs})}, [fig], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """Refuted if any relu case explodes (>= ``explode``x at init); confirmed if none does."""
    relu = {n: c for n, c in numbers["cases"].items() if c["act"] == "relu"}
    tanh = {n: c for n, c in numbers["cases"].items() if c["act"] == "tanh"}
    boom = {n: c for n, c in relu.items() if c["exploding"]}
    cmp = ""
    if tanh:
        top = max(tanh.values(), key=lambda c: c["sigma_w2"])
        cmp = (f" tanh at sigma_w2 = {top['sigma_w2']:g}: x{top['growth_vs_critical'] or 0:.3g}, overflow "
               f"{top['overflow_fraction']:.0%}.")
    if boom:
        desc = "; ".join(f"{n}: weight gradient x{c['growth_vs_critical'] or 0:.3g} of He init, "
                         f"back-propagated "
                         f"ratio {c['backprop_ratio']:.3g}, {c['overflow_fraction']:.0%} of trainings "
                         f"overflowed"
                         for n, c in boom.items())
        return Verdict(REFUTED, f"relu nets explode with large init - {desc}." + cmp)
    worst = max(relu.values(), key=lambda c: c["growth_vs_critical"] or 0.0)
    return Verdict(CONFIRMED, f"No relu init exploded: the largest growth was "
                              f"x{worst['growth_vs_critical'] or 0:.3g} "
                              f"(sigma_w2 = {worst['sigma_w2']:g})." + cmp)


CLAIM = Claim(
    id="C08",
    title="relu and exploding gradients",
    rule=f"relu (and, for comparison, tanh) MLPs on digits with weights N(0, sigma_w2/fan_in), sigma_w2 "
         f"1..16. "
         f"Exploding = at init the weight gradient is >= {EXPLODE:g}x He init's or the back-propagated "
         f"gradient "
         f"grows >= {EXPLODE:g}x from last to first layer. Refuted if any relu case explodes, confirmed "
         f"otherwise.",
    measure=measure,
    decide=decide,
)
