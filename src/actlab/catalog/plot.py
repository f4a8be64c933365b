"""Figures of the catalog: each activation and its closed-form derivative, side by side.

:func:`plot_activations` draws one row per activation (``columns`` activations per row for
galleries): f(x) on the left, the closed-form f'(x) (``spec.derivative``, the module's
``derivative``) on the right. What the figure shows:

* **kinks and jumps** - the grid is split at every kink the spec declares, and each piece is
  evaluated up to the kink from its own side, so a jump (step, relu') is drawn without a vertical
  joining line. At a kink a filled dot marks the value the closed form returns there (the
  documented convention: relu'(0) = 0, step'(x) = 0) and an open circle each one-sided limit
  that differs from it; a continuous kink of f itself (relu at 0) gets a small open marker.
* **hard saturation** - where the spec declares it (f' = 0 exactly beyond a threshold), the region
  is shaded grey on both panels.
* **noise** - for stochastic entries (``properties().stochastic``: rrelu, noisy_relu, the noisy
  units of :mod:`actlab.noisy`) the curve is the eval-mode function, and a band shows the 5-95 %
  quantiles of ``samples`` train-mode draws per x (fixed ``torch.Generator``, so the figure is
  reproducible); on the right, the same quantiles of the pathwise train-mode gradient.
* **entries that mix features** have a 1-D view, named in the row title: softmax and
  log_softmax of ``[x, 0]`` (coordinate 0; softmax([x, 0])_0 = sigmoid(x)), maxout of
  ``[x, 0, ..., 0]`` (one group of k pieces, the others held at 0: max(x, 0)); the derivative is
  the diagonal Jacobian entry d f_0 / d x_0 (what ``spec.derivative`` returns). Entries with
  per-channel parameters (``num_parameters > 1``) show channel 0.

The derivative panel's y-axis always includes [0, 1], so that rows compare: sigmoid' never
reaching 1/4 is visible next to relu' = 1.

:func:`save_figure` writes PNG, SVG or PDF by suffix, atomically. Matplotlib is imported here
only (``import actlab`` does not pay for it); figures are ``matplotlib.figure.Figure`` objects,
not pyplot ones, so nothing needs closing and no display is used.
"""

from __future__ import annotations

import itertools
import math
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actlab._io import atomic_write
from actlab.catalog.registry import get, spec
from actlab.catalog.spec import Properties, Spec

__all__ = ["FORMATS", "Curves", "apply_params", "curves", "plot_activations", "save_figure"]

FORMATS = (".png", ".svg", ".pdf")

# colours: function, derivative, saturation shading
_F_COLOUR = "#1f5fa8"
_D_COLOUR = "#c0392b"
_SAT_COLOUR = "#bdbdbd"
_QUANTILES = (0.05, 0.95)


@dataclass
class Curves:
    """What one row of the figure draws (also useful on its own, e.g. for tests).

    ``pieces``: list of (x, f, f') tensors, one per interval between kinks (float64); ``kinks``:
    list of (x0, f(x0), f'(x0), f'(x0-), f'(x0+), f(x0-), f(x0+)); ``band``: (x, f_lo, f_hi,
    d_lo, d_hi) quantiles of train-mode draws, or ``None``.
    """

    title: str
    view: str
    pieces: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    kinks: list[tuple[float, ...]]
    band: tuple[torch.Tensor, ...] | None
    properties: Properties
    x_range: tuple[float, float]
    short_title: str = ""


# ---------------------------------------------------------------------------------------------
# entries and parameters
# ---------------------------------------------------------------------------------------------
def _config(entry: str | Mapping[str, Any] | nn.Module) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"name": spec(entry).name}
    if isinstance(entry, Mapping):
        if "name" not in entry:
            raise ValueError(f"plot: entry {dict(entry)!r} has no 'name'; valid: a name or a "
                             "config like {'name': 'leaky_relu', 'negative_slope': 0.2}")
        return {**entry, "name": spec(entry["name"]).name}
    if isinstance(entry, nn.Module) and hasattr(entry, "get_config"):
        return dict(entry.get_config())
    raise TypeError(f"plot: cannot plot {type(entry).__name__}; valid: an activation name, a "
                    "config dict or a catalog module")


def apply_params(configs: Sequence[Mapping[str, Any]], params: Mapping[str, Any] | None
                 ) -> list[dict[str, Any]]:
    """Apply ``params`` to every config whose entry has them.

    Each parameter must belong to at least one of the entries (else a one-line ValueError naming
    the valid parameters); entries without it keep theirs, so ``relu leaky_relu`` with
    ``negative_slope=0.2`` changes leaky_relu only.
    """
    out = [dict(c) for c in configs]
    for key, value in (params or {}).items():
        takers = [c for c in out if key in {p.name for p in spec(c["name"]).params}]
        if not takers:
            valid = sorted({p.name for c in out for p in spec(c["name"]).params})
            names = ", ".join(c["name"] for c in out)
            raise ValueError(f"unknown parameter {key!r} for {names}; valid parameters: "
                             f"{', '.join(valid) or 'none (these entries have no parameters)'}")
        for c in takers:
            c[key] = value
    for c in out:  # validate now, with the entry's own one-line message
        s = spec(c["name"])
        s.resolve({k: v for k, v in c.items() if k != "name"})
    return out


def _title(config: Mapping[str, Any], s: Spec, defaults: bool = True) -> str:
    """``name(k=v, ...)``: every parameter, or (``defaults=False``) only those set away from
    their defaults."""
    params = {k: v for k, v in config.items() if k != "name"}
    shown = {**s.defaults, **params}
    if not defaults:
        shown = {k: v for k, v in shown.items() if k not in s.defaults or v != s.defaults[k]}
    if not shown:
        return s.name
    parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()]
    return f"{s.name}({', '.join(parts)})"


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
class _View:
    """Evaluate an entry (module) on a 1-D grid: elementwise, mixing (softmax, maxout) or
    per-channel entries all return f and f' of shape (n,)."""

    def __init__(self, module: nn.Module, s: Spec, params: Mapping[str, Any],
                 props: Properties) -> None:
        self.module = module
        self.elementwise = props.elementwise
        self.channels = int(params.get("num_parameters", 1)) if "num_parameters" in params else 1
        self.label = ""
        if not self.elementwise:
            dim = int(params.get("dim", -1))
            if dim not in (-2, -1, 0, 1):
                raise ValueError(f"plot: {s.name} with dim={dim} has no 1-D view; valid: dim in "
                                 "-2, -1, 0, 1")
            self.dim = dim
            self.width = int(params.get("k", 2)) if s.name == "maxout" else 2
            rest = ", 0" * (self.width - 1) if self.width <= 3 else ", 0, ..., 0"
            self.label = f"{s.name}([x{rest}])" + ("_0" if s.name != "maxout" else "")
        elif self.channels > 1:
            self.label = "channel 0"

    def _lift(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n) grid -> the module's input."""
        if not self.elementwise:
            z = torch.zeros(*x.shape, self.width, dtype=x.dtype)
            z[..., 0] = x
            return z.movedim(-1, self.dim) if x.dim() == 1 else z.movedim(-1, self.dim % 2 + 1
                                                                          if self.dim >= 0 else -1)
        if self.channels > 1:  # dim 1 holds the channels: (..., n) -> (n_total, C)
            return x.reshape(-1, 1).expand(-1, self.channels).contiguous()
        return x

    def _drop(self, y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The module's output (or an input-shaped gradient) -> values at coordinate 0."""
        if not self.elementwise:
            if len(shape) == 1:
                return y.movedim(self.dim, -1)[..., 0]
            return y.movedim(self.dim % 2 + 1 if self.dim >= 0 else -1, -1)[..., 0]
        if self.channels > 1:
            return y[:, 0].reshape(shape)
        return y

    def f(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._drop(self.module(self._lift(x)), x.shape).to(torch.float64)

    def df(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._drop(self.module.derivative(self._lift(x)), x.shape).to(torch.float64)

    def sample(self, x: torch.Tensor, draws: int, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Train-mode f and pathwise f' for ``draws`` draws at every x: two (draws, n) tensors."""
        m = self.module
        m.train()
        old = getattr(m, "generator", None)
        m.generator = generator
        try:
            with torch.enable_grad():
                xs = x.expand(draws, -1).clone().requires_grad_(True)
                inp = self._lift(xs)
                y = self._drop(m(inp), xs.shape)
                (g,) = torch.autograd.grad(y.sum(), xs)
        finally:
            m.generator = old
            m.eval()
        return y.detach().to(torch.float64), g.to(torch.float64)


def curves(entry: str | Mapping[str, Any] | nn.Module, x_range: tuple[float, float] = (-5.0, 5.0),
           n: int = 2001, samples: int = 1000, seed: int = 0) -> Curves:
    """Evaluate one entry for plotting: f and f' per piece between kinks, kink values, and the
    noise band of stochastic entries (see the module docstring)."""
    lo, hi = _check_range(x_range)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"plot: n={n!r} is invalid; valid: an integer >= 2")
    config = _config(entry)
    s = spec(config["name"])
    params = {k: v for k, v in config.items() if k != "name"}
    props = s.properties(**params)
    module = entry if isinstance(entry, nn.Module) else get(config)
    module.eval()
    view = _View(module, s, {**s.defaults, **params}, props)

    # Pieces between the kinks inside the range; each piece runs up to the kink from its side.
    span = hi - lo
    eps = span * 1e-9
    kinks = sorted(k for k in props.kinks if lo < k < hi)
    edges = [lo, *kinks, hi]
    pieces = []
    for a, b in itertools.pairwise(edges):
        m = max(2, round(n * (b - a) / span))
        a2 = a + eps if a in kinks else a
        b2 = b - eps if b in kinks else b
        x = torch.linspace(a2, b2, m, dtype=torch.float64)
        pieces.append((x, view.f(x), view.df(x)))
    kink_rows = []
    for k in kinks:
        xk = torch.tensor([k - eps, k, k + eps], dtype=torch.float64)
        fk, dk = view.f(xk).tolist(), view.df(xk).tolist()
        kink_rows.append((k, fk[1], dk[1], dk[0], dk[2], fk[0], fk[2]))

    band = None
    if props.stochastic:
        x = torch.linspace(lo, hi, min(n, 401), dtype=torch.float64)
        g = torch.Generator().manual_seed(seed)
        y, d = view.sample(x, samples, g)
        q = torch.tensor(_QUANTILES, dtype=torch.float64)
        fq = torch.quantile(y, q, dim=0)
        dq = torch.quantile(d, q, dim=0)
        band = (x, fq[0], fq[1], dq[0], dq[1])

    return Curves(title=_title(config, s), view=view.label, pieces=pieces, kinks=kink_rows,
                  band=band, properties=props, x_range=(lo, hi),
                  short_title=_title(config, s, defaults=False))


def _check_range(x_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in x_range)
    except (TypeError, ValueError):
        raise ValueError(f"plot: x_range={x_range!r} is invalid; valid: two numbers LO < HI"
                         ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"plot: x_range=({lo:g}, {hi:g}) is invalid; valid: two finite numbers "
                         "LO < HI")
    return lo, hi


# ---------------------------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------------------------
def _joined(pieces: list[tuple[torch.Tensor, ...]], i: int) -> tuple[list[float], list[float]]:
    """x and column ``i`` of every piece, NaN-separated: one line, no joins across kinks."""
    xs: list[float] = []
    ys: list[float] = []
    for p in pieces:
        if xs:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.extend(p[0].tolist())
        ys.extend(p[i].tolist())
    return xs, ys


def _limits(values: Iterable[float], include: tuple[float, ...] = ()) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)] + list(include)
    lo, hi = min(finite), max(finite)
    pad = 0.06 * (hi - lo) if hi > lo else 0.5
    return lo - pad, hi + pad


def _draw_row(ax_f: Any, ax_d: Any, c: Curves, fontsize: float) -> set[str]:
    """Draw one activation on two axes; returns the legend items used."""
    used = {"f", "df"}
    lo, hi = c.x_range
    left, right = c.properties.saturation
    for ax in (ax_f, ax_d):
        ax.axhline(0.0, color="0.55", lw=0.6, zorder=0)
        ax.axvline(0.0, color="0.55", lw=0.6, zorder=0)
        ax.grid(True, lw=0.4, alpha=0.5)
        if left.kind == "hard" and left.threshold is not None and left.threshold > lo:
            ax.axvspan(lo, min(left.threshold, hi), color=_SAT_COLOUR, alpha=0.35, lw=0, zorder=0)
            used.add("sat")
        if right.kind == "hard" and right.threshold is not None and right.threshold < hi:
            ax.axvspan(max(right.threshold, lo), hi, color=_SAT_COLOUR, alpha=0.35, lw=0, zorder=0)
            used.add("sat")
        ax.set_xlim(lo, hi)
        ax.tick_params(labelsize=fontsize - 1)

    f_vals: list[float] = []
    d_vals: list[float] = []
    if c.band is not None:
        x, flo, fhi, dlo, dhi = (t.numpy() for t in c.band)
        ax_f.fill_between(x, flo, fhi, color=_F_COLOUR, alpha=0.18, lw=0, zorder=1)
        ax_d.fill_between(x, dlo, dhi, color=_D_COLOUR, alpha=0.18, lw=0, zorder=1)
        f_vals += [*flo.tolist(), *fhi.tolist()]
        d_vals += [*dlo.tolist(), *dhi.tolist()]
        used.add("band")
    xs, fs = _joined(c.pieces, 1)
    ax_f.plot(xs, fs, color=_F_COLOUR, lw=1.6, zorder=3)
    xs, ds = _joined(c.pieces, 2)
    ax_d.plot(xs, ds, color=_D_COLOUR, lw=1.6, zorder=3)
    f_vals += fs
    d_vals += ds

    for x0, f0, d0, d_left, d_right, f_left, f_right in c.kinks:
        jump_f = not (math.isclose(f_left, f_right, rel_tol=1e-6, abs_tol=1e-6))
        if jump_f:  # a discontinuity of f itself (step): value dot + open one-sided limits
            for v in (f_left, f_right):
                if not math.isclose(v, f0, rel_tol=1e-6, abs_tol=1e-6):
                    ax_f.plot([x0], [v], "o", mfc="white", mec=_F_COLOUR, ms=5, zorder=4)
                    used.add("open")
            ax_f.plot([x0], [f0], "o", color=_F_COLOUR, ms=4.5, zorder=5)
        else:  # a continuous kink: mark where f' is undefined
            ax_f.plot([x0], [f0], "D", mfc="white", mec=_F_COLOUR, ms=4, zorder=5)
            used.add("kink")
        for v in (d_left, d_right):
            if not math.isclose(v, d0, rel_tol=1e-6, abs_tol=1e-6):
                ax_d.plot([x0], [v], "o", mfc="white", mec=_D_COLOUR, ms=5, zorder=4)
                used.add("open")
        ax_d.plot([x0], [d0], "o", color=_D_COLOUR, ms=4.5, zorder=5)
        used.add("value")

    ax_f.set_ylim(*_limits(f_vals))
    # f' always shows [0, 1] so rows compare; noisy-gradient bands are clipped to 3x the curve.
    d_lo, d_hi = _limits(ds, include=(0.0, 1.0))
    if c.band is not None:
        b_lo, b_hi = _limits(d_vals, include=(0.0, 1.0))
        width = d_hi - d_lo
        d_lo, d_hi = max(b_lo, d_lo - width), min(b_hi, d_hi + width)
    ax_d.set_ylim(d_lo, d_hi)
    ax_f.set_xlabel("x", fontsize=fontsize, labelpad=1)
    ax_d.set_xlabel("x", fontsize=fontsize, labelpad=1)
    ax_f.set_ylabel("f(x)", fontsize=fontsize, labelpad=1)
    ax_d.set_ylabel("f'(x)", fontsize=fontsize, labelpad=1)
    return used


def _legend_handles(used: set[str]) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    items = [
        ("f", Line2D([], [], color=_F_COLOUR, lw=1.6, label="f(x) (eval mode)")),
        ("df", Line2D([], [], color=_D_COLOUR, lw=1.6, label="f'(x), closed form (autograd if none given)")),
        ("band", Patch(color=_F_COLOUR, alpha=0.25,
                       label="5-95% of train-mode draws (f and pathwise f')")),
        ("sat", Patch(color=_SAT_COLOUR, alpha=0.6, label="hard saturation: f' = 0")),
        ("kink", Line2D([], [], ls="", marker="D", mfc="white", mec="0.2", ms=4,
                        label="kink: f' undefined")),
        ("value", Line2D([], [], ls="", marker="o", color="0.2", ms=4.5,
                         label="value returned at the kink (convention)")),
        ("open", Line2D([], [], ls="", marker="o", mfc="white", mec="0.2", ms=5,
                        label="one-sided limit")),
    ]
    return [h for key, h in items if key in used]


def plot_activations(
    entries: str | Mapping[str, Any] | nn.Module | Sequence[str | Mapping[str, Any] | nn.Module],
    x_range: tuple[float, float] = (-5.0, 5.0),
    params: Mapping[str, Any] | None = None,
    n: int = 2001,
    *,
    columns: int = 1,
    samples: int = 1000,
    seed: int = 0,
    title: str | None = None,
    legend: bool = True,
) -> Any:
    """Plot activations (left) and their closed-form derivatives (right), one row each.

    Args:
        entries: names (``"relu"``, aliases too), config dicts (``{"name": "leaky_relu",
            "negative_slope": 0.2}``), catalog modules, or a list of them.
        x_range: ``(lo, hi)``, finite, ``lo < hi``.
        params: parameters applied to every entry that has them (see :func:`apply_params`).
        n: grid points across the range (split at kinks).
        columns: activations per row (each takes two panels); 1 by default, more for galleries.
        samples: train-mode draws per x for the noise band of stochastic entries.
        seed: seed of the ``torch.Generator`` those draws use.
        title: optional figure title; ``legend``: a key to the marks used, above the panels.

    Returns:
        a ``matplotlib.figure.Figure``; write it with :func:`save_figure`.

    Raises:
        ValueError: unknown parameter (naming the valid ones), invalid value, bad range.
        UnknownActivationError: an unknown name (naming the closest matches).
    """
    from matplotlib.figure import Figure

    if isinstance(entries, (str, Mapping, nn.Module)) or not isinstance(entries, Iterable):
        entries = [entries]  # a non-iterable gets _config's one-line TypeError
    entries = list(entries)
    if not entries:
        raise ValueError("plot: no activations given; valid: one or more names (actlab.names())")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"plot: columns={columns!r} is invalid; valid: an integer >= 1")
    _check_range(x_range)
    modules = [e if isinstance(e, nn.Module) else None for e in entries]
    configs = apply_params([_config(e) for e in entries], params)
    rows_curves = [
        curves(m if m is not None and not params else cfg, x_range, n, samples, seed)
        for m, cfg in zip(modules, configs)
    ]

    columns = min(columns, len(rows_curves))
    rows = math.ceil(len(rows_curves) / columns)
    # Fixed sizes in inches, so every row looks the same whatever the number of rows.
    fontsize = 9.0 if columns == 1 else 8.5
    ax_w, ax_h = (3.1, 1.9) if columns == 1 else (2.45, 1.7)
    left, right, bottom, gap_w, gap_h = 0.62, 0.15, 0.45, 0.62, 0.95
    fig_w = left + right + 2 * columns * ax_w + (2 * columns - 1) * gap_w
    fig = Figure(figsize=(fig_w, rows * (ax_h + gap_h)))
    axes = fig.subplots(rows, 2 * columns, squeeze=False)
    # characters of a bold title that fit over one activation's two panels
    chars = int((2 * ax_w + gap_w) * 72 / ((fontsize + 0.5) * 0.62))
    used: set[str] = set()
    for i, c in enumerate(rows_curves):
        r, col = divmod(i, columns)
        ax_f, ax_d = axes[r][2 * col], axes[r][2 * col + 1]
        used |= _draw_row(ax_f, ax_d, c, fontsize)
        ax_f.set_title(_head(c, chars), loc="left", fontsize=fontsize + 0.5, fontweight="bold")
    for j in range(len(rows_curves), rows * columns):  # empty cells of the last gallery row
        r, col = divmod(j, columns)
        axes[r][2 * col].set_visible(False)
        axes[r][2 * col + 1].set_visible(False)

    handles = _legend_handles(used) if legend else []
    ncol = max(1, min(len(handles), int(fig_w / 3.0)))
    legend_h = 0.2 * math.ceil(len(handles) / ncol) + 0.1 if handles else 0.0
    title_h = 0.42 if title else 0.0
    top = title_h + legend_h + 0.55  # + room for the first row's titles
    fig_h = top + rows * ax_h + (rows - 1) * gap_h + bottom
    fig.set_size_inches(fig_w, fig_h)
    fig.subplots_adjust(left=left / fig_w, right=1 - right / fig_w, bottom=bottom / fig_h,
                        top=1 - top / fig_h, wspace=gap_w / ax_w, hspace=gap_h / ax_h)
    if title:
        fig.suptitle(title, fontsize=fontsize + 3, y=1 - 0.08 / fig_h, va="top")
    if handles:
        fig.legend(handles=handles, loc="upper center", ncol=ncol, fontsize=fontsize - 0.5,
                   frameon=False, bbox_to_anchor=(0.5, 1 - (title_h + 0.05) / fig_h))
    return fig


def _head(c: Curves, chars: int) -> str:
    """A row title in at most two lines: all parameters if they fit, else only the non-default
    ones (shortened if still too long); the 1-D view of mixing entries goes on its own line."""
    view = [f"1-D view: {c.view}"] if c.view else []
    room = 2 - len(view)
    short = c.short_title or c.title
    for name in (c.title, short):
        lines = textwrap.wrap(name, chars)
        if len(lines) <= room:
            return "\n".join(lines + view)
    return "\n".join(textwrap.wrap(short, chars, max_lines=room, placeholder=" ...") + view)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: float = 110, **savefig_kwargs: Any) -> Path:
    """Write ``fig`` as PNG, SVG or PDF (chosen by the suffix), atomically (:func:`actlab._io.atomic_write`:
    a reader never sees half a file). Creates missing parent directories; extra keyword arguments go
    to ``Figure.savefig`` (e.g. ``bbox_inches="tight"``). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot write {str(path)!r}: unknown suffix {path.suffix or '(none)'!r}; "
                         f"valid: {', '.join(FORMATS)}")
    from matplotlib import rc_context

    def write(fh: Any) -> None:
        # a fixed salt for SVG element ids: the same figure gives the same bytes
        with rc_context({"svg.hashsalt": "actlab"}):
            fig.savefig(fh, format=suffix[1:], dpi=dpi, metadata=_metadata(suffix), **savefig_kwargs)

    return atomic_write(path, write)


def _metadata(suffix: str) -> dict[str, Any] | None:
    # No creation dates in SVG/PDF: the same figure gives the same bytes (diffable, cacheable).
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return None
