r"""C17 - SELU self-normalises: through many layers the activations keep mean 0 and variance 1 (with
the right initialisation).

Tutorial 001 (SELU section): "after this activation the samples are automatically normalised to mean 0
and variance 1 ... the activation has a fixed point, so as the network gets deep every layer's output has
mean 0 and variance 1". The SELU paper (Klambauer et al., *Self-Normalizing Neural Networks*, NeurIPS
2017) proves it for weights with :math:`\sum_i w_i = 0`, :math:`\sum_i w_i^2 = 1` per unit on average,
i.e. LeCun-normal initialisation :math:`w \sim N(0, 1/n_{in})` and zero biases: the map
:math:`(\mu, \nu) \mapsto (\tilde\mu, \tilde\nu)` of a layer has the attracting fixed point
:math:`(0, 1)`.

Measured at initialisation (no training), per hidden layer of deep MLPs built by ``actlab.nets.mlp``:
the mean and the variance of the post-activation values over a batch and all units, over several random
nets (seeds). The claim's case is SELU with ``lecun_normal`` fed (a) standard-normal inputs (*keeps*:
every layer stays near (0, 1)) and (b) inputs that are not normalised - variance 0.25 or 4, mean 1, and
the real standardised digits images - (*self-normalises*: the second half of the layers is near (0, 1)).
Controls, with N(0, 1) inputs: SELU with He init (:math:`\sigma_w^2 = 2`) and PyTorch's default
(:math:`U(\pm 1/\sqrt{n})`, :math:`\sigma_w^2 = 1/3`), where mean-field theory (``actlab.theory.q_star``)
predicts an exploding / vanishing variance, and ReLU with LeCun and He init (not self-normalising: its
mean is positive). A half of the net is "near (0, 1)" when the mean and variance averaged over its layers
(per net, then over nets) satisfy :math:`|\mu| \le 0.1` and :math:`|\nu - 1| \le 0.1`. Averaging over
layers measures the level the net settles at; single layers of one finite-width net fluctuate around it
by a few percent (about 0.1 at width 128), which the figure shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import actlab
from actlab import nets
from actlab.report.claim import CONFIRMED, REFUTED, Claim, Context, Evidence, Table, Verdict

MEAN_TOL = 0.1
VAR_TOL = 0.1
#: input distributions for SELU + LeCun: name -> (mean, std) of Gaussian inputs; "digits" = real data
SELU_INPUTS = {"N(0, 1)": (0.0, 1.0), "N(0, 0.25)": (0.0, 0.5), "N(0, 4)": (0.0, 2.0), "N(1, 1)": (1.0, 1.0),
               "digits": None}
CONTROLS = [("selu", "kaiming_normal"), ("selu", "default"), ("relu", "lecun_normal"),
            ("relu", "kaiming_normal")]
SIGMA_W2 = {"lecun_normal": 1.0, "kaiming_normal": 2.0, "default": 1.0 / 3.0}


@torch.no_grad()
def _layer_stats(net: torch.nn.Sequential, x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Mean and variance (over the batch and the units) after every activation module."""
    means, vars_ = [], []
    h = x
    for m in net:
        h = m(h)
        if isinstance(m, actlab.Activation):
            means.append(float(h.mean()))
            vars_.append(float(h.var()))
    return means, vars_


def _inputs(name: str, n: int, width: int, g: torch.Generator, digits: torch.Tensor) -> torch.Tensor:
    if name == "digits":
        return digits[torch.randperm(len(digits), generator=g)[:n]]
    mu, sd = SELU_INPUTS[name]  # type: ignore[misc]
    return mu + sd * torch.randn(n, width, generator=g)


def _run(act: str, init: str, inp: str, seeds: list[int], depth: int, width: int, batch: int,
         digits: torch.Tensor) -> dict[str, Any]:
    ms, vs = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(1000 + s)
        x = _inputs(inp, batch, width, g, digits)
        net = nets.mlp(x.shape[1], 10, depth, width, act, init=init, seed=s)
        m, v = _layer_stats(net, x)
        ms.append(m)
        vs.append(v)
    M, V = np.array(ms), np.array(vs)
    mean, var = M.mean(0), V.mean(0)
    half = depth // 2
    # the level of each half of the net: per net, the average over the half's layers; then over nets
    halves = {}
    for name, sl in (("first_half", slice(0, half)), ("second_half", slice(half, depth))):
        hm, hv = M[:, sl].mean(1), V[:, sl].mean(1)
        halves[name] = {"mean": float(hm.mean()), "mean_sd": float(hm.std()), "var": float(hv.mean()),
                        "var_sd": float(hv.std()),
                        "near": bool(abs(hm.mean()) <= MEAN_TOL and abs(hv.mean() - 1.0) <= VAR_TOL)}
    return {"act": act, "init": init, "input": inp,
            "mean": mean.tolist(), "var": var.tolist(), "mean_std": M.std(0).tolist(),
            "var_std": V.std(0).tolist(),
            **halves, "last_mean": float(mean[-1]), "last_var": float(var[-1]),
            "layer_fluctuation_var": float(np.abs(V[:, half:] - V[:, half:].mean(1, keepdims=True)).max())}


def measure(ctx: Context) -> Evidence:
    depth = ctx.pick(64, 96, 6)
    width = ctx.pick(128, 256, 16)
    batch = ctx.pick(128, 192, 32)
    seeds = ctx.seeds(3, 4, 1)
    torch.set_num_threads(1)
    from actlab import data

    digits = data.load("digits", standardize=True, seed=0).x_train.float()
    runs = [_run("selu", "lecun_normal", inp, seeds, depth, width, batch, digits) for inp in SELU_INPUTS]
    controls = [_run(a, i, "N(0, 1)", seeds, depth, width, batch, digits) for a, i in CONTROLS]
    theory = {i: float(actlab.theory.q_star("selu", SIGMA_W2[i], 0.0)) for i in SIGMA_W2}
    numbers: dict[str, Any] = {
        "depth": depth, "width": width, "batch": batch, "seeds": len(seeds),
        "mean_tol": MEAN_TOL, "var_tol": VAR_TOL,
        "selu_lecun": {r["input"]: r for r in runs},
        "controls": {f"{r['act']}+{r['init']}": r for r in controls},
        "theory_selu_q_star": {k: (v if np.isfinite(v) else "inf") for k, v in theory.items()},
    }

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    layers = np.arange(1, depth + 1)
    for r in runs:
        axes[0].plot(layers, r["mean"], lw=1.2, label=r["input"])
        axes[1].plot(layers, r["var"], lw=1.2, label=r["input"])
    for ax, c in ((axes[0], 0.0), (axes[1], 1.0)):
        tol = MEAN_TOL if c == 0.0 else VAR_TOL
        ax.axhspan(c - tol, c + tol, color="grey", alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("layer")
    axes[0].set(title="SELU + LeCun: mean per layer", ylabel="mean of activations")
    axes[1].set(title="SELU + LeCun: variance per layer", ylabel="variance of activations")
    axes[1].legend(fontsize=7, title="input", title_fontsize=7)
    axes[2].plot(layers, runs[0]["var"], "k-", lw=1.6, label="selu+lecun_normal")
    for r in controls:
        axes[2].plot(layers, np.maximum(r["var"], 1e-30), lw=1.1, label=f"{r['act']}+{r['init']}")
    axes[2].axhspan(1 - VAR_TOL, 1 + VAR_TOL, color="grey", alpha=0.15, lw=0)
    axes[2].set(xscale="log", yscale="log", xlabel="layer", title="controls, N(0, 1) input",
                ylabel="variance")
    axes[2].legend(fontsize=6)
    fig.tight_layout()
    figure = ctx.figure(fig, f"Mean and variance of the activations after each of {depth} layers (width "
                             f"{width}, "
                             f"{len(seeds)} random nets averaged); grey bands: within {MEAN_TOL} of 0 / "
                             f"{VAR_TOL} of 1. Left two: SELU with LeCun init pulls every input distribution "
                             "to (0, 1) within a few layers and keeps it there. Right: with He init the "
                             "variance grows, with PyTorch's default init it decays to 0; a ReLU mean near 0 "
                             "only comes with a collapsed variance, never at variance 1.")
    def cell(h: dict[str, Any]) -> str:
        return f"{h['mean']:+.3f} / {h['var']:.3g} ± {h['var_sd']:.2g}"

    rows = [[r["act"], r["init"], r["input"], f"{r['mean'][0]:+.3f} / {r['var'][0]:.3g}",
             cell(r["first_half"]), cell(r["second_half"]), "yes" if r["first_half"]["near"] else "no",
             "yes" if r["second_half"]["near"] else "no"] for r in runs + controls]
    table = Table(["act", "init", "input", "layer 1 mean / var", "first half mean / var",
                   "second half mean / var", "first half near (0, 1)", "second half near (0, 1)"], rows,
                  f"Per net, the mean and variance of the activations averaged over the layers of each half "
                  f"of the {depth}; then the average (± std for the variance) over {len(seeds)} nets; batch "
                  f"{batch}. "
                  f"Mean-field q* of SELU's pre-activations: {numbers['theory_selu_q_star']}.")
    setup = {"model": "actlab.nets.mlp, zero biases except 'default'", "depth": depth, "width": width,
             "batch": batch, "seeds": seeds, "inputs": list(SELU_INPUTS), "controls": CONTROLS,
             "training": "none (initialisation)"}
    return Evidence(numbers, setup, [figure], [table])


def decide(numbers: dict[str, Any], quick: bool) -> Verdict:
    """SELU + LeCun must keep N(0, 1) inputs near (0, 1) in both halves of the net and bring every
    other input there in the second half; the controls are reported, not required."""
    runs = numbers["selu_lecun"]
    std = runs["N(0, 1)"]
    keeps = std["first_half"]["near"] and std["second_half"]["near"]
    pulls = {k: r["second_half"]["near"] for k, r in runs.items()}
    ctrl = numbers["controls"]
    ctrl_txt = ", ".join(f"{k}: second-half var {r['second_half']['var']:.3g}, mean "
                         f"{r['second_half']['mean']:+.2f}"
                         for k, r in ctrl.items())
    d = numbers["depth"]
    if keeps and all(pulls.values()):
        worst_m = max(abs(r["second_half"]["mean"]) for r in runs.values())
        worst_v = max(abs(r["second_half"]["var"] - 1) for r in runs.values())
        fh, sh = std["first_half"], std["second_half"]
        return Verdict(CONFIRMED, f"SELU + LeCun over {d} layers: N(0, 1) inputs average mean "
                                  f"{fh['mean']:+.3f} / {sh['mean']:+.3f} and variance {fh['var']:.3f} / "
                                  f"{sh['var']:.3f} in the first / second half, and all {len(runs)} input "
                                  f"distributions end within |mean| <= {worst_m:.3f}, |var - 1| <= "
                                  f"{worst_v:.3f}. The right init matters: {ctrl_txt}.")
    failed = ([] if keeps else ["N(0, 1) not kept near (0, 1)"]) + [
        f"{k} not pulled to (0, 1)" for k, v in pulls.items() if not v and k != "N(0, 1)"]
    return Verdict(REFUTED, f"SELU + LeCun over {d} layers: {'; '.join(failed)} (N(0, 1), second half: mean "
                            f"{std['second_half']['mean']:+.3f}, var {std['second_half']['var']:.3f}).")


CLAIM = Claim(
    id="C17",
    title="SELU self-normalises with LeCun init",
    rule="Deep random MLPs (64 layers quick, 96 full) at initialisation; per net the activations' mean and "
         "variance averaged over the layers of each half, then over nets: confirmed if with SELU and "
         "LeCun-normal init N(0, 1) inputs stay within |mean| <= 0.1 and |var - 1| <= 0.1 in both halves and "
         "inputs with variance 0.25 or 4, mean 1, and standardised digits are within it in the second half; "
         "refuted otherwise. Other inits and ReLU are shown as controls.",
    measure=measure,
    decide=decide,
)
