"""The diagnosis of a watched run as data (:class:`Summary`) and as a short text."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

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


def build_summary(mon: Any) -> Summary:
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
    for note in s.notes:
        lines.append(f"note  {note}")
    if s.healthy:
        lines.append("=> healthy")
    return "\n".join(lines)
