"""``mon.plot(path)``: gradient flow per layer over time, and dead/saturated fractions per layer.

Three panels, layers in forward order (input at the top/left):

1. a heat map of log10 of the backward signal (the norm of the gradient arriving at each activation
   output) over the recorded steps - vanishing shows as a dark band towards the input, exploding as
   a bright one, the first NaN/Inf as a dashed line;
2. per layer, the medians over the evaluation window of that backward signal and of the weight
   gradient norm (log scale): the ``plot_grad_flow`` picture, with the vanishing/exploding ratio;
3. per activation layer, the dead fraction (at the last evaluated step) and the saturated fraction
   (median), with the verdict thresholds drawn.

Uses ``matplotlib.figure.Figure`` directly (no pyplot state, no GUI backend).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from actlab.catalog.plot import FORMATS, save_figure
from actlab.watch.layers import MAIN_KINDS
from actlab.watch.verdicts import DEAD_FRACTION, SATURATED_FRACTION


def _short(name: str, n: int = 18) -> str:
    return name if len(name) <= n else "…" + name[-(n - 1):]


def plot_monitor(mon: Any, path: str | os.PathLike[str] | None = None, dpi: float = 110) -> Any:
    """Draw the monitor's records (see the module docstring); write to ``path`` (PNG/SVG/PDF by
    suffix) when given. Returns the ``matplotlib.figure.Figure``."""
    import matplotlib
    from matplotlib.figure import Figure

    if path is not None and Path(path).suffix.lower() not in FORMATS:
        suffix = Path(path).suffix or "(none)"
        raise ValueError(f"plot: cannot write {str(path)!r}: unknown suffix {suffix!r}; "
                         f"valid: {', '.join(FORMATS)}")
    s = mon.summary(theory=False)
    acts = [li for li in s.layers if li.kind == "activation"]
    signal = [li.name for li in acts if li.grad_norm is not None]
    if len(signal) < 2:  # no activation modules: the weight layers' output gradients
        signal = [li.name for li in s.layers if li.grad_norm is not None]
    fig = Figure(figsize=(12.5, 4.6), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=[1.35, 1.0, 1.0])
    fig.suptitle(f"actlab.watch: {s.model}, {s.steps} steps ({s.recorded} recorded) - "
                 + (", ".join(s.problems) if s.problems else "healthy"), fontsize=11)

    # 1. backward signal over time
    ax = axes[0]
    if signal and mon.records:
        steps, names, vals = mon.history("grad_norm", signal)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.log10(vals.T)
        finite = lg[np.isfinite(lg)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        lg[np.isneginf(lg)] = vmin  # an exactly zero gradient: the darkest colour
        lg = np.ma.masked_invalid(lg)  # NaN/Inf norms (and layers not reported): red
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="red")
        # one column per recorded step, centred on its step number
        half = (steps[1] - steps[0]) / 2 if len(steps) > 1 else 0.5
        x0, x1 = steps[0] - half, steps[-1] + half
        im = ax.imshow(lg, aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin,
                       vmax=vmax if vmax > vmin else vmin + 1, extent=(x0, x1, len(names) - 0.5, -0.5))
        cb = fig.colorbar(im, ax=ax)
        cb.set_label("log10 ‖∂L/∂output‖")
        ax.set_yticks(range(len(names)), [_short(n) for n in names], fontsize=7 if len(names) > 12 else 8)
        for where, colour in ((s.nonfinite_forward, "red"), (s.nonfinite_backward, "orange")):
            if where is not None:
                ax.axvline(where["step"], color=colour, ls="--", lw=1.2)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.set_ylabel("layer (forward order)")
        ax.set_title("backward signal per layer over time"
                     + (" (red: NaN/Inf)" if np.ma.count_masked(lg) else ""), fontsize=10)
    else:
        ax.text(0.5, 0.5, "no gradient recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()

    # 2. gradient flow: medians per layer
    ax = axes[1]
    drawn = False
    weighted = [li.name for li in s.layers if li.weight_grad_norm is not None and li.kind in MAIN_KINDS]
    bad: list[tuple[int, str]] = []  # layers whose median norm is NaN/Inf: marked at the top
    for k, (stat, names, label, style) in enumerate((
            ("grad_norm", signal, "backward signal ‖∂L/∂h‖", "o-"),
            ("weight_grad_norm", weighted, "weight gradient ‖∂L/∂W‖", "s--"))):
        ys = [getattr(next(li for li in s.layers if li.name == n), stat) for n in names]
        pts = [(i, y) for i, y in enumerate(ys) if y is not None and y > 0 and math.isfinite(y)]
        bad += [(i, f"C{k}") for i, y in enumerate(ys) if y is not None and not math.isfinite(y)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, ms=3.5, lw=1.2, label=label,
                    color=f"C{k}")
            drawn = True
    if drawn:
        ax.set_yscale("log")
    if bad:
        top = ax.get_ylim()[1] if drawn else 1.0
        ax.scatter([i for i, _ in bad], [top] * len(bad), marker="x", s=40, clip_on=False, zorder=3,
                   c=[c for _, c in bad], label="NaN/Inf (drawn at the top)")
        ax.set_ylim(top=top)
        drawn = True
    if drawn:
        ax.legend(fontsize=8, loc="best")
    ratios = []
    if s.weight_grad_ratio is not None:
        ratios.append(f"weights {s.weight_grad_ratio:.2g}")
    if s.signal_grad_ratio is not None:
        ratios.append(f"signal {s.signal_grad_ratio:.2g}")
    ax.set_title("gradient flow (median over window)\nfirst/last: " + (", ".join(ratios) or "n/a"),
                 fontsize=10)
    ax.set_xlabel("layer index (input → output)")
    ax.set_ylabel("norm")
    ax.grid(alpha=0.3, which="both")

    # 3. dead and saturated fractions
    ax = axes[2]
    if acts:
        x = np.arange(len(acts))
        dead = [li.dead_fraction if li.dead_fraction is not None else 0.0 for li in acts]
        last = mon.records and s.evaluated_steps
        if last:  # the dead fraction at the last evaluated step (what the verdict uses)
            rec = next(r for r in mon.records if r["step"] == s.evaluated_steps[-1])
            dead = [rec["layers"].get(li.name, {}).get("dead_fraction", 0.0) for li in acts]
        # saturation only where it is a verdict: activations flat on both sides (relu's flat half is
        # its design; its dead units are the measure)
        info = mon.site_acts()
        sat = [li.saturated_fraction if li.saturated_fraction is not None and info.get(li.name) is not None
               and info[li.name].saturating else 0.0 for li in acts]
        ax.bar(x - 0.2, dead, 0.4, label="dead", color="tab:red")
        ax.bar(x + 0.2, sat, 0.4, label="saturated", color="tab:purple")
        ax.axhline(DEAD_FRACTION, color="tab:red", ls=":", lw=1)
        ax.axhline(SATURATED_FRACTION, color="tab:purple", ls=":", lw=1)
        ax.set_ylim(0, 1.25)  # room for the legend above a bar at 100%
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_xticks(x, [_short(li.name, 10) for li in acts], rotation=90,
                      fontsize=7 if len(acts) > 12 else 8)
        ax.legend(fontsize=8, loc="upper right", ncols=2)
        ax.set_ylabel("fraction of units / inputs")
        ax.set_title(f"dead (verdict ≥{DEAD_FRACTION:.0%}), saturated\n(two-sided only, "
                     f"verdict ≥{SATURATED_FRACTION:.0%}) per layer", fontsize=10)
    else:
        ax.text(0.5, 0.5, "no activation module visible", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    if path is not None:
        save_figure(fig, path, dpi=dpi)
    return fig

