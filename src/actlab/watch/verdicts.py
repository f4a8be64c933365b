r"""Verdicts: the classic failure modes of activations, decided from a monitor's records.

Every threshold is a module constant with its source. Verdicts are taken over the *evaluation
window*: the last ``window`` recorded steps before the first NaN/Inf (after it every statistic is
meaningless), using medians over that window so that one noisy batch decides nothing.

* **vanishing** / **exploding** gradients: AUTOTRAINER's rule (Zhang et al., "AUTOTRAINER: An
  Automatic DNN Training Problem Detection and Repair System", ICSE 2021; ``gradient_issue`` in
  their ``utils/monitor.py``) compares the weight-gradient norm of the first and the last layer:
  :math:`\|\nabla W_1\| / \|\nabla W_L\| < 10^{-3}` is vanishing, :math:`> 70` exploding. (AUTOTRAINER
  also requires :math:`\|\nabla W_1\| < 10^{-4}` for vanishing; an absolute scale depends on the
  loss, so actlab does not.) The weight-gradient ratio misses the case where activations and
  backward signals grow (or shrink) together - :math:`\nabla W_l = \delta_l h_{l-1}^\top` stays the
  same size at every layer when :math:`\delta_l \propto c^{L-l}` and :math:`h_{l-1} \propto c^{l-1}`
  (ReLU with init gain 4, or PyTorch's default init, which shrinks both) - so actlab applies the
  same thresholds to the *backward signal*, the gradient arriving at the first and at the last
  activation output, the quantity mean-field theory's :math:`\chi_1` multiplies at each layer
  (Poole et al. 2016; Schoenholz et al. 2017). NaN/Inf anywhere also counts as exploding, as in
  AUTOTRAINER (``nan_loss``/``nan_gradient``/``nan_weight`` -> ``explode``).
* **dead units**: keras-contrib's ``DeadReluDetector`` warns when 10% or more of a layer's ReLUs
  did not fire once over the training set; actlab counts, per layer, units whose output was exactly
  zero for every sample over the window.
* **saturation** (activations saturating on both sides: sigmoid, tanh, hard_tanh, ...): a
  quarter or more of the inputs where :math:`|f'(x)| < \tau \sup|f'|`. actlab's choice: no
  standard threshold exists.
* **non-zero-centred** outputs (info): :math:`|\mathrm{mean}| > \mathrm{std}` (most outputs share
  one sign). LeCun et al., "Efficient BackProp" (1998), section 4.3: inputs of each layer should
  average to zero; the threshold is actlab's.
* **non-finite**: the first layer whose output (forward order) or whose arriving gradient (backward
  order) held a NaN/Inf, with the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actlab.watch.layers import MAIN_KINDS

#: AUTOTRAINER (ICSE 2021), ``beta_1``: first/last gradient-norm ratio below this is vanishing.
VANISHING_RATIO = 1e-3
#: AUTOTRAINER (ICSE 2021), ``beta_3``: first/last gradient-norm ratio above this is exploding.
EXPLODING_RATIO = 70.0
#: keras-contrib ``DeadReluDetector``: "a significant number of dead neurons (10% or more)".
DEAD_FRACTION = 0.10
#: actlab's choice: a quarter of a saturating layer's inputs in the flat tails.
SATURATED_FRACTION = 0.25
#: actlab's choice after LeCun et al. 1998: |mean| above this many standard deviations.
NONZERO_MEAN_RATIO = 1.0

SEVERITIES = ("error", "warning", "info")

REMEDIES = {
    "vanishing": "ReLU-family activations with He init (kaiming_normal); Xavier init for tanh/sigmoid; "
                 "normalisation (BatchNorm/LayerNorm); residual connections; fewer layers",
    "exploding": "smaller init gain (He: Var[w] = 2/fan_in); lower learning rate; gradient clipping "
                 "(torch.nn.utils.clip_grad_norm_); normalisation",
    "dead_units": "lower learning rate; leaky_relu / ELU / GELU instead of ReLU; He init; a small positive "
                  "bias init (0.01)",
    "saturation": "smaller init (Xavier); normalise inputs and layers; a non-saturating activation "
                  "(ReLU family)",
    "non_zero_centred": "a zero-centred activation (tanh, SELU, ELU) or normalisation",
    "non_finite": "lower learning rate; gradient clipping; smaller init gain; "
                  "torch.autograd.detect_anomaly() to find the operation",
    "no_visible_activation": "use activation modules (actlab.get(...), nn.ReLU()) instead of functions, "
                             "or actlab.watch.modularize(model)",
}


@dataclass
class Verdict:
    """One diagnosis: ``severity`` is ``error``, ``warning`` or ``info``; ``layers`` worst first."""

    name: str
    severity: str
    message: str
    layers: list[str] = field(default_factory=list)
    remedy: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def evaluation_records(records: list[dict[str, Any]], window: int, first_bad_step: int | None
                       ) -> list[dict[str, Any]]:
    """The last ``window`` records before the first non-finite step."""
    ok = [r for r in records if first_bad_step is None or r["step"] < first_bad_step]
    return ok[-window:]


def _median(values: list[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.median(v)) if v else math.nan


def _ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return math.nan
    if b == 0:
        return math.nan if a == 0 else math.inf
    return a / b


def _column(recs: list[dict[str, Any]], layer: str, stat: str) -> list[float]:
    return [r["layers"].get(layer, {}).get(stat, math.nan) for r in recs]


def gradient_ratios(recs: list[dict[str, Any]], weight_layers: list[str], signal_layers: list[str]
                    ) -> tuple[float, float]:
    """Median over ``recs`` of first/last weight-gradient norm and first/last backward signal."""
    def med_ratio(layers: list[str], stat: str) -> float:
        if len(layers) < 2:
            return math.nan
        first, last = _column(recs, layers[0], stat), _column(recs, layers[-1], stat)
        return _median([_ratio(a, b) for a, b in zip(first, last)])

    return med_ratio(weight_layers, "weight_grad_norm"), med_ratio(signal_layers, "grad_norm")


def diagnose(mon: Any) -> tuple[list[Verdict], dict[str, Any]]:
    """The verdicts of a monitor and the numbers behind them (``ratios``, per-layer medians)."""
    layers = mon.layers
    acts = mon.site_acts()
    bad = [w["step"] for w in (mon.nonfinite_forward, mon.nonfinite_backward) if w is not None]
    first_bad = min(bad) if bad else None
    recs = evaluation_records(mon.records, mon.window, first_bad)
    verdicts: list[Verdict] = []

    has = {li.name: set().union(*(r["layers"].get(li.name, {}).keys() for r in recs)) if recs else set()
           for li in layers}
    weight_layers = [li.name for li in layers if li.kind in MAIN_KINDS and "weight_grad_norm" in has[li.name]]
    signal_layers = [li.name for li in layers if li.kind == "activation" and "grad_norm" in has[li.name]]
    if len(signal_layers) < 2:
        signal_layers = [li.name for li in layers if li.kind in MAIN_KINDS and "grad_norm" in has[li.name]]
    w_ratio, s_ratio = gradient_ratios(recs, weight_layers, signal_layers)
    medians = {li.name: {stat: _median(_column(recs, li.name, stat)) for stat in has[li.name]}
               for li in layers}
    facts: dict[str, Any] = {"weight_grad_ratio": w_ratio, "signal_grad_ratio": s_ratio,
                             "evaluated_steps": [r["step"] for r in recs], "medians": medians,
                             "weight_layers": weight_layers, "signal_layers": signal_layers}

    def worst(names: list[str], stat: str, largest: bool, k: int = 3) -> list[str]:
        vals = [(medians[n].get(stat, math.nan), n) for n in names]
        vals = [(v, n) for v, n in vals if not math.isnan(v)]
        vals.sort(reverse=largest)
        return [n for _, n in vals[:k]]

    def ratio_text(label: str, r: float) -> str:
        return f"{label} first/last = {r:.3g}"

    # -- non-finite ------------------------------------------------------------------------------
    if first_bad is not None:
        parts, where = [], []
        if mon.nonfinite_forward is not None:
            f = mon.nonfinite_forward
            parts.append(f"forward: first in layer {f['layer']} at step {f['step']}")
            where.append(f["layer"])
        if mon.nonfinite_backward is not None:
            b = mon.nonfinite_backward
            parts.append(f"backward: first in the gradient arriving at {b['layer']} at step {b['step']}")
            where.append(b["layer"])
        verdicts.append(Verdict("non_finite", "error", "NaN/Inf values - " + "; ".join(parts),
                                list(dict.fromkeys(where)), REMEDIES["non_finite"],
                                {"forward": mon.nonfinite_forward, "backward": mon.nonfinite_backward}))

    # -- vanishing / exploding -------------------------------------------------------------------
    vanish = [t for t, r in (("weight gradient", w_ratio), ("backward signal", s_ratio))
              if not math.isnan(r) and r < VANISHING_RATIO]
    explode = [t for t, r in (("weight gradient", w_ratio), ("backward signal", s_ratio))
               if not math.isnan(r) and r > EXPLODING_RATIO]
    ratios = {"weight gradient": w_ratio, "backward signal": s_ratio}
    if vanish and not explode:
        names = signal_layers if "backward signal" in vanish else weight_layers
        stat = "grad_norm" if "backward signal" in vanish else "weight_grad_norm"
        verdicts.append(Verdict(
            "vanishing", "warning",
            "vanishing gradients: " + "; ".join(ratio_text(t, ratios[t]) for t in vanish)
            + f" (< {VANISHING_RATIO:g}, AUTOTRAINER)",
            worst(names, stat, largest=False), REMEDIES["vanishing"],
            {"weight_grad_ratio": w_ratio, "signal_grad_ratio": s_ratio, "threshold": VANISHING_RATIO}))
    if explode or first_bad is not None:
        msg = "exploding gradients: "
        bits = [ratio_text(t, ratios[t]) + f" (> {EXPLODING_RATIO:g}, AUTOTRAINER)" for t in explode]
        if first_bad is not None:
            bits.append(f"overflow to inf/NaN at step {first_bad}")
        names = signal_layers if "backward signal" in explode else weight_layers
        stat = "grad_norm" if "backward signal" in explode else "weight_grad_norm"
        verdicts.append(Verdict(
            "exploding", "warning", msg + "; ".join(bits), worst(names, stat, largest=True),
            REMEDIES["exploding"],
            {"weight_grad_ratio": w_ratio, "signal_grad_ratio": s_ratio, "threshold": EXPLODING_RATIO,
             "non_finite_step": first_bad}))

    # -- dead units, saturation, centring (activation layers) -------------------------------------
    last = recs[-1]["layers"] if recs else {}
    dead, sat, off = [], [], []
    for li in layers:
        if li.kind != "activation":
            continue
        act = acts.get(li.name)
        elementwise = act is None or act.elementwise
        d = last.get(li.name, {}).get("dead_fraction")
        if elementwise and d is not None and d >= DEAD_FRACTION:
            dead.append((d, li.name))
        s = medians[li.name].get("saturated_fraction", math.nan)
        if act is not None and act.saturating and not math.isnan(s) and s >= SATURATED_FRACTION:
            sat.append((s, li.name))
        m, sd = medians[li.name].get("mean", math.nan), medians[li.name].get("std", math.nan)
        if elementwise and not (math.isnan(m) or math.isnan(sd)) and abs(m) > NONZERO_MEAN_RATIO * sd:
            off.append((abs(m) / sd if sd > 0 else math.inf, li.name))
    if dead:
        dead.sort(reverse=True)
        # the window behind the last evaluated record's dead fractions (shorter early in a run)
        dead_window = min(mon.window, sum(1 for r in mon.records if r["step"] <= recs[-1]["step"]))
        verdicts.append(Verdict(
            "dead_units", "warning",
            f"dead units in {len(dead)} layer(s): " + ", ".join(f"{n} {v:.0%}" for v, n in dead[:3])
            + f" of units output 0 for every sample over the last {dead_window} recorded step(s) "
            f"(>= {DEAD_FRACTION:.0%}, keras-contrib)",
            [n for _, n in dead], REMEDIES["dead_units"],
            {"dead_fraction": {n: v for v, n in dead}, "threshold": DEAD_FRACTION}))
    if sat:
        sat.sort(reverse=True)
        verdicts.append(Verdict(
            "saturation", "warning",
            f"saturated units in {len(sat)} layer(s): " + ", ".join(f"{n} {v:.0%}" for v, n in sat[:3])
            + f" of inputs where |f'| < {mon.tau:g} sup|f'| (>= {SATURATED_FRACTION:.0%})",
            [n for _, n in sat], REMEDIES["saturation"],
            {"saturated_fraction": {n: v for v, n in sat}, "threshold": SATURATED_FRACTION,
             "tau": mon.tau}))
    if off:
        off.sort(reverse=True)
        verdicts.append(Verdict(
            "non_zero_centred", "info",
            f"non-zero-centred outputs in {len(off)} layer(s): |mean| > {NONZERO_MEAN_RATIO:g} std "
            "(" + ", ".join(f"{n} {v:.3g} std" for v, n in off[:3]) + ")",
            [n for _, n in off], REMEDIES["non_zero_centred"],
            {"mean_over_std": {n: v for v, n in off}, "threshold": NONZERO_MEAN_RATIO}))
    if mon.invisible:
        verdicts.append(Verdict(
            "no_visible_activation", "info",
            f"{len(mon.invisible)} linear/conv layer(s) with no activation module after them "
            "(functional activations cannot be watched): " + ", ".join(mon.invisible[:5]),
            list(mon.invisible), REMEDIES["no_visible_activation"]))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    verdicts.sort(key=lambda v: order[v.severity])
    return verdicts, facts
