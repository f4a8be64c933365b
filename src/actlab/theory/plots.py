"""Figures for actlab.theory (matplotlib, Agg backend: files only, no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from actlab.catalog.plot import save_figure
from actlab.theory.meanfield import PHASES, MeanField, PhaseDiagram
from actlab.theory.verify import PropagationCheck, Spectrum


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValueError(f"theory: cannot write {str(path)!r}; valid extensions: .png, .pdf, .svg")
    save_figure(fig, path, dpi=150, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_phase_diagram(pd: PhaseDiagram, path: str | Path, max_log10: float = 3.0) -> Path:
    """sigma_w^2 (x) by sigma_b^2 (y), colour = log10 xi_c, the critical line in white, the
    trainable depth 6 xi_c as labelled contours, and the region where q grows without bound
    hatched."""
    plt = _plt()
    from matplotlib.patches import Patch

    sw, sb = pd.sigma_w2.numpy(), pd.sigma_b2.numpy()
    xi = pd.values["xi_c"].clone()
    unbounded = pd.values["phase"] == PHASES.index("unbounded")
    logxi = torch.log10(xi.clamp(min=1e-3)).clamp(max=max_log10)
    logxi[unbounded] = math.nan
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    mesh = ax.pcolormesh(sw, sb, logxi.numpy(), shading="nearest", cmap="viridis",
                         vmin=float(torch.nan_to_num(logxi, nan=0.0).clamp(min=-1).min()),
                         vmax=max_log10)
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label(r"$\log_{10}\,\xi_c$  (correlation depth scale, layers)")
    depth = pd.values["max_depth"].clone()
    depth[unbounded] = math.nan
    levels = [10, 30, 100, 300]
    cs = ax.contour(sw, sb, depth.numpy(), levels=levels, colors="white", linewidths=0.6,
                    linestyles="dotted")
    ax.clabel(cs, fmt=lambda v: f"{v:.0f} layers", fontsize=7)
    if bool(unbounded.any()):
        ax.contourf(sw, sb, unbounded.numpy().astype(float), levels=[0.5, 1.5], colors="none",
                    hatches=["//"])
    crit, csb = pd.critical.numpy(), pd.critical_sigma_b2.numpy()
    ax.plot(crit, csb, color="white", lw=2.2)
    ax.plot(crit, csb, color="crimson", lw=1.2, label=r"critical line $\chi_1 = 1$")
    ax.set_xlim(float(sw.min()), float(sw.max()))
    ax.set_ylim(float(sb.min()), float(sb.max()))
    ax.set_xlabel(r"$\sigma_w^2$  (weight variance $\times$ fan-in)")
    ax.set_ylabel(r"$\sigma_b^2$  (bias variance)")
    right = []
    if bool((pd.values["phase"] == PHASES.index("chaotic")).any()):
        right.append(r"chaotic ($\chi_1>1$, exploding gradients)")
    if bool(unbounded.any()):
        right.append("q unbounded (hatched)")
    sub = r"ordered ($\chi_1<1$, vanishing gradients) left of the line"
    if right:
        sub += "; right: " + ", ".join(right)
    ax.set_title(f"Mean-field phase diagram: {pd.activation}\n{sub}", fontsize=9)
    handles = [ax.get_lines()[-1], plt.Line2D([], [], color="white", ls="dotted", lw=1,
                                              label=r"trainable depth $6\xi_c$")]
    if bool(unbounded.any()):
        handles.append(Patch(facecolor="none", hatch="//", edgecolor="k",
                             label="q unbounded (signal explodes)"))
    leg = ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
    leg.get_frame().set_facecolor("lightgrey")
    return _save(fig, path)


def plot_spectra(spectra: Sequence[Spectrum], path: str | Path, s_max: float = 3.0) -> Path:
    """Histograms of the Jacobian singular values s (linear scale, as in Pennington et al. 2017),
    one panel per activation; the legend gives the measured and predicted normalised variance of
    s^2 and the share of s beyond ``s_max`` (not drawn)."""
    plt = _plt()
    acts = list(dict.fromkeys(s.activation for s in spectra))
    fig, axes = plt.subplots(1, len(acts), figsize=(5.4 * len(acts), 4.0), squeeze=False,
                             constrained_layout=True)
    colours = {"orthogonal": "tab:blue", "gaussian": "tab:orange"}
    bins = torch.linspace(0.0, s_max, 61).numpy()
    for ax, act in zip(axes[0], acts):
        for s in (s for s in spectra if s.activation == act):
            sv = s.singular_values
            beyond = float((sv > s_max).double().mean())
            ax.hist(sv.clamp(max=s_max * 1.5).numpy(), bins=bins, density=True, alpha=0.55,
                    color=colours.get(s.weights),
                    label=f"{s.weights}: Var(s²)/E[s²]² = {s.nvar_sq:.3g} (theory {s.nvar_sq_predicted:.3g})"
                          f"; {100 * beyond:.0f}% beyond {s_max:g}")
        s0 = next(s for s in spectra if s.activation == act)
        ax.set_title(f"{act}: σw² = {s0.sigma_w2:.4g}, σb² = {s0.sigma_b2:.3g}, q* = {s0.q_star:.3g} "
                     f"(critical)\nwidth {s0.width}, depth {s0.depth}", fontsize=9)
        ax.set_xlabel("singular value s of the input-output Jacobian")
        ax.set_ylabel("density")
        ax.axvline(1.0, color="k", lw=0.6)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("Dynamical isometry (Pennington et al. 2017): all s near 1 only for tanh with "
                 "orthogonal weights", fontsize=10)
    return _save(fig, path)


def plot_propagation(check: PropagationCheck, path: str | Path) -> Path:
    """q^l and the per-layer gradient ratio, measured vs mean-field prediction."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    layers = torch.arange(1, check.depth + 1).numpy()
    a1.plot(layers, check.q_measured.numpy(), "o", ms=3, label="measured")
    a1.plot(layers, check.q_predicted.numpy(), "-", label="length map")
    a1.axhline(check.q_star, color="k", lw=0.6, ls="--", label=f"q* = {check.q_star:.4g}")
    a1.set_xlabel("layer l")
    a1.set_ylabel(r"$q^l$ = mean squared pre-activation")
    a1.legend(fontsize=8)
    a2.plot(layers[:-1], check.ratio_measured.numpy(), "o", ms=3, label="measured")
    a2.plot(layers[:-1], check.ratio_predicted.numpy(), "-", label="mean field")
    inv = 1.0 / check.chi1 if check.chi1 > 0 else math.inf
    a2.axhline(inv, color="k", lw=0.6, ls="--", label=f"1/χ1 = {inv:.4g}")
    a2.set_xlabel("layer l")
    a2.set_ylabel(r"$\|\delta^{l+1}\|^2 / \|\delta^l\|^2$")
    a2.legend(fontsize=8)
    fig.suptitle(f"{check.activation}, σw²={check.sigma_w2:g}, σb²={check.sigma_b2:g}, "
                 f"width {check.width}, depth {check.depth}", fontsize=10)
    return _save(fig, path)


def plot_trainability(sigma_w2: Sequence[float], depths: Sequence[int], score: Any, act: Any,
                      sigma_b2: float, path: str | Path, score_label: str = "test accuracy",
                      chance: float | None = None, log_depth: bool = False, resolution: int = 120,
                      **params: Any) -> Path:
    """A measured trainability grid with the mean-field prediction drawn over it (Schoenholz et
    al. 2017, Fig. 6): ``score[i, j]`` for ``depths[i]`` x ``sigma_w2[j]`` (e.g. test accuracy
    after training, from actlab.sweep), and the curve ``6 xi_c(sigma_w^2)`` at ``sigma_b2``.
    Nets deeper than the curve are predicted not to train. ``chance``: the score of guessing,
    marked on the colour bar; ``log_depth``: logarithmic depth axis (for geometric depth grids);
    ``resolution``: points of the curve (each chaotic point solves for c* with 2-D quadrature, ~0.05 s)."""
    plt = _plt()
    sw = torch.as_tensor(list(sigma_w2), dtype=torch.float64)
    dp = torch.as_tensor(list(depths), dtype=torch.float64)
    sc = torch.as_tensor(score, dtype=torch.float64)
    if sc.shape != (dp.numel(), sw.numel()):
        raise ValueError(f"plot_trainability: score has shape {tuple(sc.shape)}; valid: "
                         f"(len(depths), len(sigma_w2)) = ({dp.numel()}, {sw.numel()})")
    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    mesh = ax.pcolormesh(sw.numpy(), dp.numpy(), sc.numpy(), shading="nearest", cmap="magma")
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label(score_label)
    if chance is not None:
        cb.ax.axhline(chance, color="cyan", lw=1.5)
    if resolution < 2:
        raise ValueError(f"plot_trainability: resolution={resolution!r} is invalid; valid: an integer >= 2")
    fine = torch.linspace(float(sw.min()), float(sw.max()), resolution, dtype=torch.float64)
    mf = MeanField(act, **params)
    depth = mf.evaluate(fine, torch.full_like(fine, float(sigma_b2)))["max_depth"]
    ax.plot(fine.numpy(), depth.clamp(max=float(dp.max()) * 10).numpy(), color="cyan", lw=2,
            label=r"mean field: $6\,\xi_c$")
    if log_depth:
        ax.set_yscale("log")
        ax.set_ylim(float(dp.min()) / 1.2, float(dp.max()) * 1.2)
    else:
        ax.set_ylim(float(dp.min()) - 0.5, float(dp.max()) + 0.5)
    ax.set_xlabel(r"$\sigma_w^2$")
    ax.set_ylabel("depth (hidden layers)")
    ax.set_title(f"Trainability of {mf.phi.label} nets, $\\sigma_b^2$ = {sigma_b2:g}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)
