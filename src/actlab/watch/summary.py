"""The diagnosis of a watched run as data (:class:`Summary`) and as a short text."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from actlab.watch.verdicts import Verdict, diagnose

# Per-layer statistics reported in the summary (medians over the evaluation window).
LAYER_STATS = ("mean", "std", "zero_fraction", "dead_fraction", "saturated_fraction", "grad_norm",
               "weight_grad_norm")


@dataclass
class LayerSummary:
    """One layer: what it is and the medians of its statistics over the evaluation window
    (``None``: not measured for this layer)."""

    name: str
    kind: str
    module_type: str
    activation: str | None
    units: int | None
    mean: float | None = None
    std: float | None = None
    zero_fraction: float | None = None
    dead_fraction: float | None = None
    saturated_fraction: float | None = None
    grad_norm: float | None = None
    weight_grad_norm: float | None = None


@dataclass
class MeanFieldCheck:
    r"""Mean-field theory next to measurement (Poole et al. 2016; Schoenholz et al. 2017).

    For each pair of consecutive activation layers A -> Linear M -> B, the backward signal
    (gradient at the activation outputs) obeys, for random weights in the wide limit,
    :math:`\|g_A\|^2 \approx \chi_1 \|g_B\|^2` with
    :math:`\chi_1 = \sigma_w^2 E[\phi_B'(\sqrt{q^*} z)^2]`, :math:`\sigma_w^2 = \text{fan-in}\cdot E[W_M^2]`
    at the *current* weights, :math:`\sigma_b^2 = E[b_M^2]` and q* the length map's fixed point
    at that scale (:func:`actlab.theory.MeanField`). ``measured`` is the median over the evaluation
    window of :math:`\|g_A\|^2 / \|g_B\|^2`. Both are summarised by their geometric mean over pairs.
    ``weights``: ``"current"``, or ``"initial"`` (the weights when watching began) when the run hit
    NaN/Inf - then the measured ratios come from the steps before it, near the start.

    The theory assumes i.i.d. random weights and a stationary q*: it is the prediction at
    initialisation; after training, a gap between the two says the net has left that regime.
    """

    chi1: float
    measured: float | None
    phase: str
    weights: str = "current"
    pairs: list[dict[str, Any]] = field(default_factory=list)


#: Theory and measurement further apart than this factor are flagged as outside the mean-field regime.
MEAN_FIELD_GAP = 3.0
#: chi_1 within this factor of 1 is reported as near-critical (actlab's choice: a 10% change of the
#: squared gradient per layer).
NEAR_CRITICAL = 1.1


@dataclass
class Summary:
    """What ``mon.summary()`` returns.

    Attributes:
        verdicts: problems found, errors first (``name`` one of non_finite, vanishing, exploding,
            dead_units, saturation, non_zero_centred, no_visible_activation).
        healthy: no error or warning verdict.
        weight_grad_ratio, signal_grad_ratio: first/last layer ratios (medians) behind the
            vanishing/exploding verdicts.
        nonfinite_forward, nonfinite_backward: ``{"layer", "step"}`` of the first NaN/Inf, or None.
        invisible: linear/conv layers with no activation module after them.
        evaluated_steps: the recorded steps the verdicts are based on.
    """

    model: str
    steps: int
    recorded: int
    every: int
    window: int
    layers: list[LayerSummary]
    verdicts: list[Verdict]
    healthy: bool
    weight_grad_ratio: float | None
    signal_grad_ratio: float | None
    nonfinite_forward: dict[str, Any] | None
    nonfinite_backward: dict[str, Any] | None
    invisible: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evaluated_steps: list[int] = field(default_factory=list)
    mean_field: MeanFieldCheck | None = None

    @property
    def problems(self) -> list[str]:
        """Names of the error and warning verdicts."""
        return [v.name for v in self.verdicts if v.severity in ("error", "warning")]

    def verdict(self, name: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and infinities become ``None`` (JSON has no such numbers)."""
        return _clean(asdict(self))

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @property
    def text(self) -> str:
        return render(self)

    def __str__(self) -> str:
        return self.text


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _num(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else v


def _phase(chi: float) -> str:
    if not math.isfinite(chi):
        return "unknown" if math.isnan(chi) else "chaotic"
    if chi <= 0 or chi < 1 / NEAR_CRITICAL:
        return "ordered"
    return "chaotic" if chi > NEAR_CRITICAL else "near-critical"


def mean_field_check(mon: Any, facts: dict[str, Any]) -> MeanFieldCheck | None:
    """The :class:`MeanFieldCheck` of a monitor, or ``None`` when the model has no pair of activation
    layers joined by exactly one ``nn.Linear`` or the activations have no mean-field form."""
    import torch
    from torch import nn

    from actlab.theory.meanfield import MeanField

    layers = mon.layers
    modules = {s.info.name: s.module for s in mon._sites}
    acts = mon.site_acts()
    pairs = []
    for i, a in enumerate(layers):
        if a.kind != "activation":
            continue
        j = next((k for k in range(i + 1, len(layers)) if layers[k].kind == "activation"), None)
        if j is None:
            break
        between = layers[i + 1:j]
        b = layers[j]
        if len(between) != 1 or not isinstance(modules.get(between[0].name), nn.Linear):
            continue
        if not all(acts.get(x.name) is not None and acts[x.name].elementwise for x in (a, b)):
            continue
        pairs.append((a, between[0], b))
    if not pairs:
        return None
    from actlab.watch.monitor import _scales

    recs = [r for r in mon.records if r["step"] in set(facts["evaluated_steps"])]
    rows: list[dict[str, Any]] = []
    by_act: dict[str, tuple[Any, list[int]]] = {}
    scales = {m.name: _scales(modules[m.name]) for _, m, _ in pairs}
    weights = "current"
    bad = mon.nonfinite_forward is not None or mon.nonfinite_backward is not None
    if bad or not all(math.isfinite(v) for sc in scales.values() for v in sc):
        if not all(m.name in mon.initial_scales for _, m, _ in pairs):
            return None
        scales, weights = {m.name: mon.initial_scales[m.name] for _, m, _ in pairs}, "initial"
    for a, m, b in pairs:
        sw, sb = scales[m.name]
        ratios = []
        for r in recs:
            ga = r["layers"].get(a.name, {}).get("grad_norm")
            gb = r["layers"].get(b.name, {}).get("grad_norm")
            if ga is not None and gb and math.isfinite(ga) and math.isfinite(gb):
                ratios.append((ga / gb) ** 2)
        key = f"{b.activation}{sorted(b.params.items())}"
        if key not in by_act:
            try:
                by_act[key] = (MeanField(b.activation, **b.params), [])
            except Exception:  # an entry with no mean-field form (stochastic, non-elementwise, ...)
                by_act[key] = (None, [])
        by_act[key][1].append(len(rows))
        rows.append({"from": a.name, "linear": m.name, "to": b.name, "activation": b.activation,
                     "sigma_w2": sw, "sigma_b2": sb, "q_star": math.nan, "chi1": math.nan,
                     "measured": float(np.median(ratios)) if ratios else None})
    for mf, idx in by_act.values():
        if mf is None:
            continue
        sw = torch.tensor([rows[i]["sigma_w2"] for i in idx], dtype=torch.float64)
        sb = torch.tensor([rows[i]["sigma_b2"] for i in idx], dtype=torch.float64)
        try:
            q = mf.q_star(sw, sb)
            chi = mf.chi1(sw, q)
        except Exception:
            continue
        for k, i in enumerate(idx):
            rows[i]["q_star"], rows[i]["chi1"] = float(q[k]), float(chi[k])
    good = [r for r in rows if math.isfinite(r["chi1"]) and r["chi1"] > 0]
    if not good:
        return None
    chi = math.exp(sum(math.log(r["chi1"]) for r in good) / len(good))
    meas = [r["measured"] for r in good if r["measured"] is not None and r["measured"] > 0]
    measured = math.exp(sum(math.log(v) for v in meas) / len(meas)) if meas else None
    return MeanFieldCheck(chi, measured, _phase(chi), weights, rows)


def build_summary(mon: Any, theory: bool = True) -> Summary:
    """The :class:`Summary` of a monitor; ``theory=False`` skips the mean-field check (about 0.02-0.3 s
    of quadrature per activation)."""
    verdicts, facts = diagnose(mon)
    layers = []
    for li in mon.layers:
        med = facts["medians"].get(li.name, {})
        layers.append(LayerSummary(li.name, li.kind, li.module_type, li.activation, li.units,
                                   **{s: _num(med.get(s)) for s in LAYER_STATS}))
    notes = list(mon.notes)
    if not mon.records:
        notes.append("no step recorded: " + (
            "the model's forward never ran with gradients enabled (call it with grad enabled, or use "
            "step='manual' and mon.step())" if mon.step_mode == "forward" else "no mon.step() yet"))
    return Summary(
        model=type(mon.model).__name__,
        steps=mon.steps_seen,
        recorded=len(mon.records),
        every=mon.every,
        window=mon.window,
        layers=layers,
        verdicts=verdicts,
        healthy=bool(mon.records) and not any(v.severity in ("error", "warning") for v in verdicts),
        weight_grad_ratio=_num(facts["weight_grad_ratio"]),
        signal_grad_ratio=_num(facts["signal_grad_ratio"]),
        nonfinite_forward=mon.nonfinite_forward,
        nonfinite_backward=mon.nonfinite_backward,
        invisible=list(mon.invisible),
        notes=notes,
        evaluated_steps=facts["evaluated_steps"],
        mean_field=mean_field_check(mon, facts) if theory and mon.records else None,
    )


_MARK = {"error": "ERROR", "warning": "WARN ", "info": "info "}
_CHECKS = ("non_finite", "vanishing", "exploding", "dead_units", "saturation")


def _layer_label(s: Summary, name: str) -> str:
    li = next((x for x in s.layers if x.name == name), None)
    if li is None:
        return name
    what = li.activation if li.kind == "activation" and li.activation else li.module_type
    return f"{name} ({what})"


def render(s: Summary) -> str:
    """The short human text: one line per problem with its worst layers and remedy, then what was
    checked and found fine."""
    n_act = sum(1 for li in s.layers if li.kind == "activation")
    lines = [f"actlab.watch: {s.model}, {s.steps} steps ({s.recorded} recorded, every {s.every}), "
             f"{n_act} activation + {len(s.layers) - n_act} weight layers"]
    for v in s.verdicts:
        lines.append(f"{_MARK[v.severity]} {v.message}")
        if v.layers and v.name not in ("dead_units", "saturation", "no_visible_activation"):
            lines.append("      worst layers: " + ", ".join(_layer_label(s, n) for n in v.layers[:3]))
        if v.remedy:
            lines.append(f"      try: {v.remedy}")
    ok = [c for c in _CHECKS if s.verdict(c) is None]
    if s.recorded and ok:
        lines.append("ok    " + ", ".join(c.replace("_", " ") for c in ok))
    if s.weight_grad_ratio is not None or s.signal_grad_ratio is not None:
        w = "n/a" if s.weight_grad_ratio is None else f"{s.weight_grad_ratio:.3g}"
        g = "n/a" if s.signal_grad_ratio is None else f"{s.signal_grad_ratio:.3g}"
        lines.append(f"      gradient norm first/last layer: weights {w}, backward signal {g}")
    if s.mean_field is not None:
        mf = s.mean_field
        n = sum(1 for p in mf.pairs if p["chi1"] is not None and math.isfinite(p["chi1"]))
        meas = "n/a" if mf.measured is None else f"{mf.measured:.3g}"
        trend = {"ordered": "shrinks", "chaotic": "grows", "near-critical": "stays about the same"}.get(
            mf.phase, "?")
        at = "the current weights" if mf.weights == "current" else "the initial weights (run hit NaN/Inf)"
        lines.append(f"      mean field at {at}: chi_1 = {mf.chi1:.3g} per layer ({mf.phase}: "
                     f"|grad|^2 {trend} toward the input), measured |g_l|^2/|g_l+1|^2 = {meas} "
                     f"(geometric means over {n} layer pair(s); Schoenholz et al. 2017)")
        if mf.measured is not None and abs(math.log(mf.measured / mf.chi1)) > math.log(MEAN_FIELD_GAP):
            lines.append(f"      (theory and measurement differ by over {MEAN_FIELD_GAP:g}x: net"
                         " outside the mean-field regime - trained or biased weights, dead units?)")
    for note in s.notes:
        lines.append(f"note  {note}")
    if s.healthy:
        lines.append("=> healthy")
    elif s.problems:
        lines.append("=> problems: " + ", ".join(p.replace("_", " ") for p in s.problems))
    return "\n".join(lines)
